#pragma once
// An owned file descriptor, closed when the object goes: code that opens a descriptor per
// directory it resolves or file it reads gives each back on every error path.

#include <unistd.h>

#include <utility>

namespace cbuild {

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
    explicit operator bool() const { return m_fd >= 0; }
    // Gives up ownership (to a DIR*, say) and returns the descriptor.
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd = -1;
};

}  // namespace cbuild
