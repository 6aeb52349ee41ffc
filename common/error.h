#pragma once
// The error vocabulary shared by every module: one base type, and a typed error per kind of
// failure so that messages always name the object (file:line, the path, the reference).

#include <stdexcept>
#include <string>

namespace cbuild {

// Base of every failure that ends an operation. main() maps it to exit status 1.
class Error : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Bad command-line usage. main() maps it to exit status 2.
class UsageError : public Error {
public:
    using Error::Error;
};

// The user asked cbuild to stop (Ctrl-C, SIGTERM) and it did; main() exits with 130.
class InterruptedError : public Error {
public:
    using Error::Error;
};

// Malformed input at a place in a source file (a Dockerfile, a .dockerignore).
// `line` and `column` are 1-based; 0 means unknown. `source_line` is the text of that line,
// shown under the message with a caret at `column` by render().
class ParseError : public Error {
public:
    ParseError(std::string file, int line, int column, std::string message,
               std::string source_line = {});

    const std::string& file() const { return m_file; }
    int line() const { return m_line; }
    int column() const { return m_column; }
    const std::string& message() const { return m_message; }
    const std::string& source_line() const { return m_source_line; }

    // "FILE:LINE: message", then the source line and a caret line when they are known.
    std::string render() const;

private:
    std::string m_file;
    int m_line;
    int m_column;
    std::string m_message;
    std::string m_source_line;
};

// A failed system call on a path. The message is "`path`: what: strerror(errno)".
class IoError : public Error {
public:
    IoError(std::string path, std::string what, int error_number);

    const std::string& path() const { return m_path; }
    int error_number() const { return m_error_number; }

private:
    std::string m_path;
    int m_error_number;
};

}  // namespace cbuild
