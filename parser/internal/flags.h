#pragma once
// BuildKit's BFlags: the flags an instruction accepts are declared first, then the `--words`
// the syntax tree pulled off the line are checked against them.
//
// Forms: `--name=value` for strings; `--name`, `--name=true`, `--name=false` for booleans
// (case-insensitive); a string-list flag may be repeated and collects every value. A lone
// `--` ends the flags.

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "parser/internal/instruction_error.h"

namespace cbuild::parser::internal {

class Flags {
public:
    explicit Flags(std::vector<std::string> args);

    // Declaring the same name twice is a programming error (std::logic_error).
    void add_bool(std::string name, bool default_value = false);
    void add_string(std::string name, std::string default_value = {});
    void add_strings(std::string name);

    // Checks every argument against the declarations and records the values. Throws
    // InstructionError for "unknown flag: --x", "duplicate flag specified: --x", "missing a
    // value on flag: --x" and "expecting boolean value for flag --x, not: y".
    void parse();

    // The value after parse(), or the default. Asking for an undeclared name, or with the
    // wrong type, is a programming error (std::logic_error).
    bool get_bool(std::string_view name) const;
    const std::string& get_string(std::string_view name) const;
    const std::vector<std::string>& get_strings(std::string_view name) const;
    bool is_used(std::string_view name) const;

    // Names of the flags given on the line, sorted.
    std::vector<std::string> used() const;

private:
    enum class Type { boolean, string, strings };
    struct Flag {
        Type type = Type::string;
        bool bool_value = false;
        std::string string_value;
        std::vector<std::string> string_values;
        bool used = false;
    };

    void declare(std::string name, Flag flag);
    const Flag& find(std::string_view name, Type type) const;

    std::vector<std::string> m_args;
    std::map<std::string, Flag, std::less<>> m_flags;
};

}  // namespace cbuild::parser::internal
