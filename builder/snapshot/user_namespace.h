#pragma once
// Whether cbuild runs as root of its own user namespace (rootless mode), for the parts outside
// snapshots that must then act as the invoking user would: an export writes no owners and no
// device nodes.

namespace cbuild::builder {

// True in a user namespace other than the initial one (this process's uid_map is not the
// identity over every id); false when /proc/self/uid_map cannot be read. Read once.
bool in_user_namespace();

}  // namespace cbuild::builder
