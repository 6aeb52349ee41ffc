#pragma once
// RUN --mount (a CSV list of key=value fields), --network and --security, as BuildKit's
// commands_runmount.go, commands_runnetwork.go and commands_runsecurity.go read them.

#include <string>
#include <string_view>
#include <vector>

#include "parser/instructions.h"

namespace cbuild::parser::internal {

// Parses one --mount value. With an expander every value is expanded first and the mount is
// fully checked. Without one, a spec that holds no `$` is checked the same way on its literal
// values; a spec with `$` only gets the checks that do not depend on values (CSV syntax, known
// keys, no variable in `from=`) and comes back `pending`. Throws InstructionError with
// upstream's messages ("unexpected key 'x' in 'x=1'", "unsupported mount type \"x\"", ...).
Mount parse_mount(std::string_view spec, WordExpander* expander);

// Go's encoding/csv reading one record: `a,"b,c",d` → {a, b,c, d}.
std::vector<std::string> split_csv_fields(std::string_view text);

// docker/go-units RAMInBytes: `64m`, `1.5GiB`, `512` → bytes (binary multiples).
std::int64_t parse_ram_in_bytes(std::string_view text);

// "default", "none", "host"; anything else throws InstructionError `invalid network mode "x"`.
NetworkMode parse_network(std::string_view text);
// "sandbox", "insecure"; anything else throws InstructionError `security "x" is not valid`.
SecurityMode parse_security(std::string_view text);

}  // namespace cbuild::parser::internal
