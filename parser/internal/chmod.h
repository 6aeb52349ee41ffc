#pragma once
// COPY/ADD --chmod: an octal mode or a chmod(1) symbolic mode, parsed into the bit operations
// BSD setmode(3) builds (BuildKit uses a Go port of it, tonistiigi/dchapes-mode, with umask 0).

#include <cstdint>
#include <string_view>
#include <vector>

namespace cbuild::parser::internal {

// One step of a mode change. `op` is '+', '-', 'X' (add if executable or directory), or 'u',
// 'g', 'o' (copy that class's bits to the classes in `copy_to`).
struct ModeOperation {
    char op = '+';
    std::uint32_t bits = 0;
    bool copy_clear = false;  // copy: clear the target bits first (`-` or `=`)
    bool copy_set = false;    // copy: set the copied bits (`+` or `=`)
    bool copy_to_user = false;
    bool copy_to_group = false;
    bool copy_to_other = false;
};

// Parses `text`. Throws InstructionError "invalid chmod parameter: ..." when it is neither
// octal in 0..07777 nor valid symbolic syntax.
std::vector<ModeOperation> parse_chmod(std::string_view text);

// Applies the operations in order to `mode` (the low 12 bits).
std::uint32_t apply_mode_operations(const std::vector<ModeOperation>& operations,
                                    std::uint32_t mode, bool is_directory);

}  // namespace cbuild::parser::internal
