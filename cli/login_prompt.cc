#include "cli/login_prompt.h"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <array>
#include <cerrno>

#include "common/error.h"

namespace cbuild::cli {
namespace {

constexpr std::array k_terminating_signals = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};

// What the signal handler restores; set before the handler is installed.
termios g_saved_terminal{};

extern "C" void restore_and_reraise(int signal_number) {
    tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_terminal);
    signal(signal_number, SIG_DFL);
    raise(signal_number);
}

// Echo off for its lifetime, with the terminating signals restoring the terminal first.
class EchoOff {
public:
    EchoOff() {
        if (tcgetattr(STDIN_FILENO, &g_saved_terminal) != 0) throw IoError("stdin", "tcgetattr", errno);
        struct sigaction action {};
        action.sa_handler = restore_and_reraise;
        sigemptyset(&action.sa_mask);
        for (std::size_t i = 0; i < k_terminating_signals.size(); ++i)
            sigaction(k_terminating_signals[i], &action, &m_previous[i]);
        termios quiet = g_saved_terminal;
        quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        if (tcsetattr(STDIN_FILENO, TCSANOW, &quiet) != 0) {
            const int error = errno;
            restore_handlers();
            throw IoError("stdin", "tcsetattr", error);
        }
    }
    ~EchoOff() {
        tcsetattr(STDIN_FILENO, TCSANOW, &g_saved_terminal);
        restore_handlers();
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;

private:
    void restore_handlers() {
        for (std::size_t i = 0; i < k_terminating_signals.size(); ++i)
            sigaction(k_terminating_signals[i], &m_previous[i], nullptr);
    }

    std::array<struct sigaction, k_terminating_signals.size()> m_previous{};
};

void write_stderr(const std::string& text) {
    for (std::size_t written = 0; written < text.size();) {
        const ssize_t n = write(STDERR_FILENO, text.data() + written, text.size() - written);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;  // nowhere to prompt: reading still works
        written += static_cast<std::size_t>(n);
    }
}

// One line from stdin, read byte by byte so that nothing after it is consumed.
std::optional<std::string> read_line() {
    std::string line;
    for (;;) {
        char c = 0;
        const ssize_t n = read(STDIN_FILENO, &c, 1);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw IoError("stdin", "read", errno);
        if (n == 0) return line.empty() ? std::nullopt : std::optional(line);
        if (c == '\n') break;
        line += c;
    }
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

}  // namespace

bool stdin_is_terminal() { return isatty(STDIN_FILENO) == 1; }

std::optional<std::string> prompt_line(const std::string& prompt, Echo echo) {
    if (echo == Echo::on) {
        write_stderr(prompt);
        return read_line();
    }
    std::optional<std::string> line;
    {
        // Echo goes off before the prompt shows, so nothing typed after it is ever echoed.
        const EchoOff quiet;
        write_stderr(prompt);
        line = read_line();
    }
    write_stderr("\n");  // the Enter that ended the line was not echoed
    return line;
}

}  // namespace cbuild::cli
