#pragma once
// What stat() tells about a file that changes whenever its bytes may have: size, modification
// and change times, inode and device. Taken once when a file is first met (walking the build
// context) and carried with it, so later stages need no second stat() of the same file.

#include <sys/stat.h>

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

// The identity `info` (from stat, lstat or fstat) describes.
inline FileIdentity file_identity(const struct stat& info) {
    const auto nanoseconds = [](const struct timespec& time) {
        return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
    };
    return FileIdentity{.size = static_cast<std::uint64_t>(info.st_size),
                        .mtime_ns = nanoseconds(info.st_mtim),
                        .ctime_ns = nanoseconds(info.st_ctim),
                        .inode = static_cast<std::uint64_t>(info.st_ino),
                        .device = static_cast<std::uint64_t>(info.st_dev)};
}

}  // namespace cbuild
