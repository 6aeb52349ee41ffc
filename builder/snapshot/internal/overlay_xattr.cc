#include "builder/snapshot/internal/overlay_xattr.h"

#include <fstream>

namespace cbuild::builder::internal {

namespace {

bool read_in_user_namespace() {
    std::ifstream map("/proc/self/uid_map");
    if (!map) return false;
    // An empty map is a user namespace whose maps are not written yet.
    std::string inside, outside, count, more;
    if (!(map >> inside >> outside >> count)) return true;
    return !(inside == "0" && outside == "0" && count == "4294967295" && !(map >> more));
}

}  // namespace

bool in_user_namespace() {
    static const bool inside = read_in_user_namespace();
    return inside;
}

std::string_view overlay_xattr_namespace() { return in_user_namespace() ? "user" : "trusted"; }

std::string overlay_xattr(std::string_view name) {
    return std::string(overlay_xattr_namespace()) + ".overlay." + std::string(name);
}

bool is_overlay_xattr(std::string_view name) {
    return name.starts_with("trusted.overlay.") || name.starts_with("user.overlay.");
}

}  // namespace cbuild::builder::internal
