#pragma once
// USER name[:group] / uid[:gid] resolved against an image's /etc/passwd and /etc/group, the way
// BuildKit does (executor/oci.GetUser over moby/sys/user.GetExecUser, and runc's HOME lookup).
// Pure: callers pass the file contents.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::builder {

// The ids a RUN runs with, and the HOME it gets when its environment has none.
struct ResolvedUser {
    std::uint32_t uid = 0, gid = 0;
    // The groups whose member list names the user (only when the user was named or found in
    // passwd and no group was given), without the primary gid, each once.
    std::vector<std::uint32_t> additional_gids;
    std::string home;  // of the passwd entry with the final uid, "/" when there is none
};

// Docker's semantics for USER against /etc/passwd and /etc/group (std::nullopt when the file is
// absent): "uid:gid" (numbers or "root") is taken as is; a numeric uid not in passwd gets gid 0 (or
// the group given); an empty USER is root. Throws cbuild::Error with BuildKit's message for a name
// that is not found ("unable to find user app: no matching entries in passwd file", "unable to
// find group staff: no matching entries in group file") or an id out of range.
ResolvedUser resolve_user(std::string_view user_spec, const std::optional<std::string>& passwd,
                          const std::optional<std::string>& group);

}  // namespace cbuild::builder
