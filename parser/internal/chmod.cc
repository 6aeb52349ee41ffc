#include "parser/internal/chmod.h"

#include <string>

#include "parser/instructions.h"
#include "parser/internal/instruction_error.h"

namespace cbuild::parser {

namespace internal {

namespace {

constexpr std::uint32_t k_set_uid = 04000;
constexpr std::uint32_t k_set_gid = 02000;
constexpr std::uint32_t k_sticky = 01000;
constexpr std::uint32_t k_user = 0700;
constexpr std::uint32_t k_group = 070;
constexpr std::uint32_t k_other = 07;
constexpr std::uint32_t k_read = 0444;
constexpr std::uint32_t k_write = 0222;
constexpr std::uint32_t k_execute = 0111;
// Everything `a` and a bare `=` touch: the sticky bit is only changed by an explicit `t`.
constexpr std::uint32_t k_standard = k_set_uid | k_set_gid | k_user | k_group | k_other;
constexpr std::uint32_t k_all = k_standard | k_sticky;

[[noreturn]] void invalid(std::string_view text, std::string_view why) {
    throw InstructionError("invalid chmod parameter: '" + std::string(text) + "'. " +
                           std::string(why));
}

// Go's strconv.ParseUint(text, 8, 32): digits 0-7 only, no sign or prefix.
std::optional<std::uint64_t> parse_octal(std::string_view text) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '7') return std::nullopt;
        value = value * 8 + static_cast<std::uint64_t>(c - '0');
        if (value > 0xFFFFFFFFu) return std::nullopt;
    }
    return value;
}

// setmode(3)'s addcmd: umask is 0, so a clause without `ugoa` acts on every class.
void add_operation(std::vector<ModeOperation>& out, char op, std::uint32_t who, std::uint32_t arg) {
    ModeOperation operation;
    switch (op) {
    case '=':
        out.push_back({'-', who != 0 ? who : k_standard});
        op = '+';
        [[fallthrough]];
    case '+':
    case '-':
    case 'X':
        operation.op = op;
        operation.bits = who != 0 ? (who & arg) : arg;
        break;
    default:  // 'u', 'g', 'o': `arg` is the operator
        operation.op = op;
        operation.bits = k_all;
        operation.copy_to_user = who == 0 || (who & 0400) != 0;
        operation.copy_to_group = who == 0 || (who & 040) != 0;
        operation.copy_to_other = who == 0 || (who & 04) != 0;
        operation.copy_set = arg == '+' || arg == '=';
        operation.copy_clear = arg == '-' || arg == '=';
        break;
    }
    out.push_back(operation);
}

std::vector<ModeOperation> parse_symbolic(std::string_view text) {
    constexpr std::string_view k_why = "it should be a symbolic mode such as u+x,go-w";
    std::vector<ModeOperation> out;
    std::size_t pos = 0;
    const auto at = [&](std::size_t i) { return i < text.size() ? text[i] : '\0'; };
    while (true) {
        std::uint32_t who = 0;
        for (;; ++pos) {
            const char c = at(pos);
            if (c == 'a') who |= k_standard;
            else if (c == 'u') who |= k_set_uid | k_user;
            else if (c == 'g') who |= k_set_gid | k_group;
            else if (c == 'o') who |= k_other;
            else break;
        }
        // One clause may chain operators: `u+x-w`, `go=u-w`.
        while (true) {
            const char op = at(pos);
            if (op != '+' && op != '-' && op != '=') invalid(text, k_why);
            ++pos;
            who &= ~k_sticky;
            bool equal_done = false;
            std::uint32_t perm = 0;
            std::uint32_t perm_x = 0;
            for (;; ++pos) {
                const char c = at(pos);
                if (c == 'r') {
                    perm |= k_read;
                } else if (c == 'w') {
                    perm |= k_write;
                } else if (c == 'x') {
                    perm |= k_execute;
                } else if (c == 'X') {
                    if (op == '+') perm_x = k_execute;
                } else if (c == 's') {
                    // Set-id bits mean nothing for "other" alone.
                    if (who == 0 || (who & ~k_other) != 0) perm |= k_set_uid | k_set_gid;
                } else if (c == 't') {
                    if (who == 0 || (who & ~k_other) != 0) {
                        who |= k_sticky;
                        perm |= k_sticky;
                    }
                } else if (c == 'u' || c == 'g' || c == 'o') {
                    if (perm != 0) {
                        add_operation(out, op, who, perm);
                        perm = 0;
                    }
                    if (op == '=') equal_done = true;
                    if (perm_x != 0) {
                        add_operation(out, 'X', who, perm_x);
                        perm_x = 0;
                    }
                    add_operation(out, c, who, static_cast<std::uint32_t>(op));
                } else {
                    if (perm != 0 || (op == '=' && !equal_done)) {
                        add_operation(out, op, who, perm);
                        perm = 0;
                    }
                    if (perm_x != 0) add_operation(out, 'X', who, perm_x);
                    break;
                }
            }
            if (pos >= text.size()) return out;
            if (text[pos] == ',') break;
        }
        ++pos;  // the ','; another clause must follow
    }
}

}  // namespace

std::vector<ModeOperation> parse_chmod(std::string_view text) {
    constexpr std::string_view k_octal = "it should be octal string and between 0 and 07777";
    if (text.empty()) invalid(text, k_octal);
    if (const std::optional<std::uint64_t> octal = parse_octal(text)) {
        if (*octal > 07777) invalid(text, k_octal);
        std::vector<ModeOperation> out;
        add_operation(out, '=', k_all, static_cast<std::uint32_t>(*octal));
        return out;
    }
    if (text[0] >= '0' && text[0] <= '9') invalid(text, k_octal);
    return parse_symbolic(text);
}

std::uint32_t apply_mode_operations(const std::vector<ModeOperation>& operations,
                                    std::uint32_t mode, bool is_directory) {
    const std::uint32_t original = mode & k_all;
    std::uint32_t result = original;
    for (const ModeOperation& operation : operations) {
        switch (operation.op) {
        case '+':
            result |= operation.bits;
            break;
        case '-':
            result &= ~operation.bits;
            break;
        case 'X':
            // setmode(3) looks at the mode before any change, not the running result.
            if ((original & k_execute) != 0 || is_directory) result |= operation.bits;
            break;
        default: {
            const int shift = operation.op == 'u' ? 6 : operation.op == 'g' ? 3 : 0;
            const std::uint32_t value = (result >> shift) & 07;
            const std::uint32_t clear = operation.copy_set ? 07 : value;
            const auto each_target = [&](auto&& change) {
                if (operation.copy_to_user) change(6);
                if (operation.copy_to_group) change(3);
                if (operation.copy_to_other) change(0);
            };
            if (operation.copy_clear)
                each_target([&](int to) { result &= ~((clear << to) & operation.bits); });
            if (operation.copy_set)
                each_target([&](int to) { result |= (value << to) & operation.bits; });
            break;
        }
        }
    }
    return result & k_all;
}

}  // namespace internal

std::optional<std::string> check_chmod(std::string_view chmod) {
    try {
        internal::parse_chmod(chmod);
    } catch (const internal::InstructionError& error) {
        return std::string(error.what());
    }
    return std::nullopt;
}

std::uint32_t apply_chmod(std::string_view chmod, std::uint32_t mode, bool is_directory) {
    return internal::apply_mode_operations(internal::parse_chmod(chmod), mode, is_directory);
}

}  // namespace cbuild::parser
