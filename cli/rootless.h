#pragma once
// Rootless cbuild: a process that is not root makes itself root of a new user namespace before
// it touches snapshots, so that the code root runs (owners, whiteouts, overlay mounts, RUN) runs
// unchanged, as rootless BuildKit, buildah and podman do. ARCHITECTURE.md, "Rootless".

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "cli/commands.h"

namespace cbuild::cli {

// A range of subordinate ids from /etc/subuid or /etc/subgid.
struct IdRange {
    std::uint32_t start = 0;
    std::uint32_t count = 0;
};

// The first range of `file_text` (lines "NAME:START:COUNT", as in subuid(5)) whose owner is
// `user` or the decimal `id`; nullopt when none is, or its numbers do not parse.
std::optional<IdRange> subordinate_range(std::string_view file_text, std::string_view user, std::uint32_t id);

// How the process's ids ended up.
enum class UserNamespace {
    not_needed,       // it was root already: nothing changed
    subordinate_ids,  // uid and gid → 0, the caller's subuid and subgid ranges → 1… (newuidmap, newgidmap)
    single_id,        // uid and gid → 0 only: other owners cannot be set, and setgroups is denied
    unavailable,      // the kernel refused a user namespace: the process is unchanged, not root
};

struct UserNamespaceOutcome {
    UserNamespace kind = UserNamespace::not_needed;
    std::string reason;  // why not subordinate_ids (single_id, unavailable): for a warning
};

// Makes this process, unless it is root, root of a new user namespace: with the ranges of
// /etc/subuid and /etc/subgid mapped by newuidmap and newgidmap (a helper forked first, since
// set-user-ID programs do not work from inside the namespace), or else mapping its own ids
// only. Only a single-threaded process may do it, so call it before anything starts a thread.
// Throws Error when the namespace was made but its maps could not be written.
UserNamespaceOutcome enter_user_namespace();

// What `cbuild build`, `prune` and `du` call first: when not root, fixes the default store in
// `globals` (it is the caller's, under $HOME, not root's), then enter_user_namespace(), printing
// a warning to stderr when it could only map one id or not make a namespace at all. Throws
// Error as enter_user_namespace().
void become_root_for_snapshots(GlobalOptions& globals);

}  // namespace cbuild::cli
