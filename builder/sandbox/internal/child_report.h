#pragma once
// What the sandbox child tells cbuild over its status pipe (CLOEXEC, so it closes on execve):
// every mount stub it created in the image, for cleanup, and the setup step that failed, if one
// did. The child writes records with one writev(2) each and never allocates; the parent parses
// the bytes once the child is gone.
//
// Wire format, native byte order (both ends are the same binary): a RecordHeader, then the
// header's three strings back to back, without terminators. A stub record's strings are its path
// (relative to the root, no leading '/') and two empty ones; a failure's are step, call and path.
// A record cut short (the child was killed while writing) is ignored.

#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::builder::internal {

// A file or directory the child created as a mount point, and its parent directory's times
// before and after, so that cleanup can put them back.
struct StubRecord {
    std::string path;  // relative to the root
    bool directory = false;
    bool replaced_whiteout = false;  // the upper dir had a whiteout there, which cleanup recreates
    timespec parent_atime{}, parent_mtime{};  // before the stub was created
    timespec parent_mtime_after{};            // right after
};

struct SetupFailure {
    std::string step;
    std::string call;
    std::string path;
    int error_number = 0;
};

struct ChildReport {
    std::vector<StubRecord> stubs;  // in creation order
    std::optional<SetupFailure> failure;
};

// Child side; async-signal-safe. Write errors are ignored: nobody is left to tell.
void report_stub(int fd, std::string_view path, bool directory, bool replaced_whiteout, const timespec& parent_atime,
                 const timespec& parent_mtime, const timespec& parent_mtime_after) noexcept;
void report_failure(int fd, std::string_view step, std::string_view call, std::string_view path,
                    int error_number) noexcept;

// Parent side.
ChildReport parse_child_report(std::string_view bytes);

}  // namespace cbuild::builder::internal
