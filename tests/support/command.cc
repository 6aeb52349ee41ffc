#include "tests/support/command.h"

#include "tests/support/ci.h"

#include <sys/wait.h>

#include <array>
#include <cstdlib>
#include <cstdio>
#include <fstream>

#include "tests/support/shared_data.h"

namespace cbuild::test {

std::string shell_quote(const std::string& text) {
    std::string out = "'";
    for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return out + "'";
}

CommandResult run_command(const std::string& command, const std::filesystem::path& cwd) {
    // The newline lets `command` end in a heredoc.
    const std::string full = "cd " + shell_quote(cwd.string()) + " && (" + command + "\n) </dev/null 2>&1";
    CommandResult result;
    FILE* pipe = popen(full.c_str(), "r");
    if (!pipe) return result;
    std::array<char, 4096> buffer{};
    while (std::size_t n = std::fread(buffer.data(), 1, buffer.size(), pipe)) result.output.append(buffer.data(), n);
    const int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

CommandResult run_cbuild(const std::string& args, const std::filesystem::path& cwd) {
    return run_command(shell_quote(cbuild_binary().string()) + " " + args, cwd);
}

bool in_ci() {
    const char* ci = std::getenv("CI");
    return ci && std::string(ci) == "true";
}

bool have_program(const std::string& program) {
    return run_command("command -v " + shell_quote(program) + " >/dev/null").status == 0;
}

void write_file(const std::filesystem::path& path, const std::string& content) {
    std::filesystem::create_directories(path.parent_path());
    std::ofstream(path, std::ios::binary) << content;
}

}  // namespace cbuild::test
