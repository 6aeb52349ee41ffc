#pragma once
// Running programs from tests: the cbuild binary and the tools that check its output
// (skopeo, umoci, runc), through the shell, with their output and exit status.

#include <filesystem>
#include <string>

namespace cbuild::test {

struct CommandResult {
    int status = -1;     // the exit status; -1 when killed by a signal
    std::string output;  // stdout and stderr together
};

// Runs `command` with /bin/sh in `cwd`, stdin from /dev/null.
CommandResult run_command(const std::string& command, const std::filesystem::path& cwd = ".");

// Runs `cbuild ARGS` (ARGS is shell text, quote as needed) in `cwd`.
CommandResult run_cbuild(const std::string& args, const std::filesystem::path& cwd = ".");

// `text` quoted for the shell.
std::string shell_quote(const std::string& text);

// Whether `program` is on PATH.
bool have_program(const std::string& program);

void write_file(const std::filesystem::path& path, const std::string& content);

}  // namespace cbuild::test
