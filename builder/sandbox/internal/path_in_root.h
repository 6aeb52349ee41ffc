#pragma once
// Paths inside the container's root, for the sandbox child, which must not allocate after clone:
// a fixed-size path buffer, and symlink resolution that never leaves the root (runc's securejoin,
// containerd's fs.RootPath).

#include <cstddef>
#include <string_view>

namespace cbuild::builder::internal {

// A path in a fixed buffer, always NUL-terminated; appending fails instead of growing.
class PathBuffer {
public:
    static constexpr std::size_t k_capacity = 4096;

    bool assign(std::string_view text) noexcept;
    bool append(std::string_view text) noexcept;
    // Appends `component` after a '/' (none when the buffer is empty, so relative paths stay relative).
    bool append_component(std::string_view component) noexcept;
    void truncate(std::size_t size) noexcept;

    const char* c_str() const noexcept { return m_data; }
    std::string_view view() const noexcept { return {m_data, m_size}; }
    std::size_t size() const noexcept { return m_size; }
    bool empty() const noexcept { return m_size == 0; }

private:
    char m_data[k_capacity] = {};
    std::size_t m_size = 0;
};

// Resolves `path` (taken as absolute inside the root whether or not it starts with '/') under the
// directory `root_fd`: `..` stops at the root, an absolute symlink target restarts at the root,
// and components that do not exist are kept as written. `resolved` receives the result relative
// to the root, without a leading '/' ("" for the root itself). Returns 0 or an errno: ELOOP after
// 255 symlinks, ENAMETOOLONG.
int resolve_in_root(int root_fd, std::string_view path, PathBuffer& resolved) noexcept;

}  // namespace cbuild::builder::internal
