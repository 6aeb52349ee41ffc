#pragma once
// The error the instruction helpers (flags, mounts, chmod, durations) throw. It carries only a
// message; instructions.cc turns it into a cbuild::ParseError naming the file and line.

#include <stdexcept>
#include <string>
#include <vector>

namespace cbuild::parser::internal {

// `near` is a piece of the instruction's text (a flag, a mount field) for the caret to point
// at, or empty when there is nothing better than the start of the line.
class InstructionError : public std::runtime_error {
public:
    explicit InstructionError(const std::string& message, std::string near = {})
        : std::runtime_error(message), m_near(std::move(near)) {}

    const std::string& near() const { return m_near; }

private:
    std::string m_near;
};

// " (did you mean X?)" when one of `options` is a near miss for `value`, else "". BuildKit's
// util/suggest: at most one edit away, case-insensitive unless `case_sensitive`.
std::string suggestion(const std::string& value, const std::vector<std::string>& options,
                       bool case_sensitive);

}  // namespace cbuild::parser::internal
