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

namespace cbuild::cache {

// An owned file descriptor, closed when the object goes.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : m_fd(fd) {}
    ~UniqueFd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    UniqueFd(UniqueFd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept {
        if (this != &other) {
            if (m_fd >= 0) ::close(m_fd);
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;

    int get() const { return m_fd; }
    // Gives up ownership (to a DIR*, say) and returns the descriptor.
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
};

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
