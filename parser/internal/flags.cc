#include "parser/internal/flags.h"

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace cbuild::parser::internal {

namespace {

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Optimal string alignment distance: Levenshtein plus adjacent transpositions, so `form`
// is one edit from `from`.
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
    for (std::size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

std::string suggestion(const std::string& value, const std::vector<std::string>& options,
                       bool case_sensitive) {
    if (value.empty()) return {};
    const std::string probe = case_sensitive ? value : lower(value);
    // One edit away, as BuildKit suggests; more would match unrelated short words.
    std::size_t best = 2;
    std::string match;
    for (const std::string& option : options) {
        const std::size_t distance =
            edit_distance(probe, case_sensitive ? option : lower(option));
        if (distance < best) {
            best = distance;
            match = option;
        }
    }
    return match.empty() ? std::string{} : " (did you mean " + match + "?)";
}

Flags::Flags(std::vector<std::string> args) : m_args(std::move(args)) {}

void Flags::declare(std::string name, Flag flag) {
    if (m_flags.count(name) != 0) throw std::logic_error("duplicate flag defined: " + name);
    m_flags.emplace(std::move(name), std::move(flag));
}

void Flags::add_bool(std::string name, bool default_value) {
    Flag flag{};
    flag.type = Type::boolean;
    flag.bool_value = default_value;
    declare(std::move(name), std::move(flag));
}

void Flags::add_string(std::string name, std::string default_value) {
    Flag flag{};
    flag.type = Type::string;
    flag.string_value = std::move(default_value);
    declare(std::move(name), std::move(flag));
}

void Flags::add_strings(std::string name) {
    Flag flag{};
    flag.type = Type::strings;
    declare(std::move(name), std::move(flag));
}

void Flags::parse() {
    for (const std::string& arg : m_args) {
        // POSIX utility syntax: a lone `--` ends the options.
        if (arg == "--") return;
        if (arg.rfind("--", 0) != 0) throw InstructionError("arg should start with -- : " + arg, arg);

        const std::size_t equals = arg.find('=');
        const bool has_value = equals != std::string::npos;
        const std::string flag_name = arg.substr(0, equals);
        const std::string value = has_value ? arg.substr(equals + 1) : std::string{};
        const std::string name = flag_name.substr(2);

        const auto found = m_flags.find(name);
        if (found == m_flags.end()) {
            std::vector<std::string> names;
            for (const auto& entry : m_flags) names.push_back(entry.first);
            throw InstructionError("unknown flag: " + flag_name + suggestion(name, names, true),
                                   flag_name);
        }
        Flag& flag = found->second;
        if (flag.used && flag.type != Type::strings)
            throw InstructionError("duplicate flag specified: " + flag_name, flag_name);
        flag.used = true;

        switch (flag.type) {
        case Type::boolean: {
            // `--link` alone means true; `--link=` is a missing value, not false.
            if (has_value && value.empty())
                throw InstructionError("missing a value on flag: " + flag_name, flag_name);
            const std::string lowered = lower(value);
            if (lowered.empty() || lowered == "true") {
                flag.bool_value = true;
            } else if (lowered == "false") {
                flag.bool_value = false;
            } else {
                throw InstructionError(
                    "expecting boolean value for flag " + flag_name + ", not: " + value, flag_name);
            }
            break;
        }
        case Type::string:
            if (!has_value) throw InstructionError("missing a value on flag: " + flag_name, flag_name);
            flag.string_value = value;
            break;
        case Type::strings:
            if (!has_value) throw InstructionError("missing a value on flag: " + flag_name, flag_name);
            flag.string_values.push_back(value);
            break;
        }
    }
}

const Flags::Flag& Flags::find(std::string_view name, Type type) const {
    const auto found = m_flags.find(name);
    if (found == m_flags.end() || found->second.type != type)
        throw std::logic_error("flag not declared with this type: " + std::string(name));
    return found->second;
}

bool Flags::get_bool(std::string_view name) const { return find(name, Type::boolean).bool_value; }

const std::string& Flags::get_string(std::string_view name) const {
    return find(name, Type::string).string_value;
}

const std::vector<std::string>& Flags::get_strings(std::string_view name) const {
    return find(name, Type::strings).string_values;
}

bool Flags::is_used(std::string_view name) const {
    const auto found = m_flags.find(name);
    return found != m_flags.end() && found->second.used;
}

std::vector<std::string> Flags::used() const {
    std::vector<std::string> names;
    for (const auto& [name, flag] : m_flags)
        if (flag.used) names.push_back(name);
    return names;  // std::map keeps them sorted
}

}  // namespace cbuild::parser::internal
