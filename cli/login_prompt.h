#pragma once
// Asking for a username and a password on the terminal, as `docker login` does: the prompt on
// stderr, the answer read from stdin, the password without echo.

#include <optional>
#include <string>

namespace cbuild::cli {

// Whether standard input is a terminal (an interactive login is possible).
bool stdin_is_terminal();

enum class Echo { on, off };

// Writes `prompt` to stderr and reads one line from stdin (without its newline; nullopt at the
// end of input). With Echo::off the terminal's echo is turned off while reading and restored on
// every way out: return, exception, or a terminating signal (SIGINT, SIGTERM, SIGHUP, SIGQUIT:
// the terminal is restored, then the signal takes its default action, so Ctrl-C still ends the
// process). Throws cbuild::IoError when stdin cannot be read or its terminal set.
std::optional<std::string> prompt_line(const std::string& prompt, Echo echo);

}  // namespace cbuild::cli
