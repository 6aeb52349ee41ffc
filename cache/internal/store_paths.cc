#include "cache/internal/store_paths.h"

#include <string>

#include "common/error.h"

namespace cbuild::cache {

std::filesystem::path default_root_for(uid_t euid, const char* xdg_data_home, const char* home) {
    // Root builds serve every user of the machine, like /var/lib/docker and /var/lib/containers.
    if (euid == 0) return "/var/lib/cbuild";
    if (xdg_data_home != nullptr && std::filesystem::path(xdg_data_home).is_absolute())
        return std::filesystem::path(xdg_data_home) / "cbuild";
    if (home != nullptr && *home != '\0')
        return std::filesystem::path(home) / ".local" / "share" / "cbuild";
    throw Error(
        "cannot choose a content store: $XDG_DATA_HOME and $HOME are unset and the user has no "
        "home "
        "directory");
}

}  // namespace cbuild::cache
