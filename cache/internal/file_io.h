#pragma once
// Descriptor-level file reading for the cache index, the file hash index and GC: one open,
// one fstat and as few reads as the size allows.

#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>

#include "common/unique_fd.h"

namespace cbuild::cache {

// A regular file read whole, with the descriptor still open and its status at open time.
struct OpenedFile {
    UniqueFd fd;
    struct stat status {};
    std::string bytes;
};

// Opens `path` read-only (not following a final symlink) and reads all of it. Returns nullopt
// when it does not exist; throws IoError for other failures and cbuild::Error when it is not a
// regular file or is larger than `max_size`.
std::optional<OpenedFile> read_whole_file(const std::filesystem::path& path, std::size_t max_size);

// Reads up to `size` bytes from `fd`, fewer only at end of file. Throws IoError naming `path`.
std::size_t read_fully(int fd, char* data, std::size_t size, const std::filesystem::path& path);

}  // namespace cbuild::cache
