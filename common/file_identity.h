#pragma once
// What stat() tells about a file that changes whenever its bytes may have: size, modification
// and change times, inode and device. Taken once when a file is first met (walking the build
// context) and carried with it, so later stages need no second stat() of the same file.

#include <sys/stat.h>
#include <time.h>

#include <cstdint>

namespace cbuild {

struct FileIdentity {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::int64_t ctime_ns = 0;
    std::uint64_t inode = 0;
    std::uint64_t device = 0;

    friend bool operator==(const FileIdentity&, const FileIdentity&) = default;
};

// A file time (or a clock reading) as nanoseconds since 1970.
inline std::int64_t nanoseconds(const struct timespec& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

// The coarse clock that stamps file times, read now. A file whose ctime is not older than this
// may be written again without its stat changing ("racily clean", as git calls it), so what is
// remembered by stat must be older.
inline std::int64_t coarse_clock_now() {
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    return nanoseconds(now);
}

// The identity `info` (from stat, lstat or fstat) describes.
inline FileIdentity file_identity(const struct stat& info) {
    return FileIdentity{.size = static_cast<std::uint64_t>(info.st_size),
                        .mtime_ns = nanoseconds(info.st_mtim),
                        .ctime_ns = nanoseconds(info.st_ctim),
                        .inode = static_cast<std::uint64_t>(info.st_ino),
                        .device = static_cast<std::uint64_t>(info.st_dev)};
}

}  // namespace cbuild
