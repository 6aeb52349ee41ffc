#include "builder/sandbox/internal/path_in_root.h"

#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace cbuild::builder::internal {

namespace {

constexpr int k_max_symlinks = 255;  // securejoin's limit

}  // namespace

bool PathBuffer::assign(std::string_view text) noexcept {
    truncate(0);
    return append(text);
}

bool PathBuffer::append(std::string_view text) noexcept {
    if (text.size() >= k_capacity - m_size) return false;
    std::memcpy(m_data + m_size, text.data(), text.size());
    m_size += text.size();
    m_data[m_size] = '\0';
    return true;
}

bool PathBuffer::append_component(std::string_view component) noexcept {
    const std::size_t before = m_size;
    if (m_size > 0 && m_data[m_size - 1] != '/' && !append("/")) return false;
    if (append(component)) return true;
    truncate(before);
    return false;
}

void PathBuffer::truncate(std::size_t size) noexcept {
    if (size > m_size) return;
    m_size = size;
    m_data[m_size] = '\0';
}

int resolve_in_root(int root_fd, std::string_view path, PathBuffer& resolved) noexcept {
    // `pending` holds what is left to walk; a symlink's target is put in front of it.
    PathBuffer pending;
    PathBuffer next;
    char target[PathBuffer::k_capacity];
    if (!pending.assign(path)) return ENAMETOOLONG;
    resolved.truncate(0);
    int links = 0;
    std::size_t position = 0;
    while (position < pending.size()) {
        const std::string_view rest = pending.view().substr(position);
        const std::size_t slash = rest.find('/');
        const std::string_view component = rest.substr(0, slash);
        position += slash == std::string_view::npos ? rest.size() : slash + 1;
        if (component.empty() || component == ".") continue;
        if (component == "..") {
            const std::size_t last = resolved.view().rfind('/');
            resolved.truncate(last == std::string_view::npos ? 0 : last);
            continue;
        }
        const std::size_t parent_size = resolved.size();
        if (!resolved.append_component(component)) return ENAMETOOLONG;
        // Every component before this one is a real directory (or missing), so readlinkat cannot
        // be led out of the root by an earlier link.
        const ssize_t length = readlinkat(root_fd, resolved.c_str(), target, sizeof target);
        if (length < 0) continue;  // not a symlink, or missing: kept as written
        if (static_cast<std::size_t>(length) == sizeof target) return ENAMETOOLONG;
        if (++links > k_max_symlinks) return ELOOP;
        resolved.truncate(target[0] == '/' ? 0 : parent_size);
        if (!next.assign({target, static_cast<std::size_t>(length)}) || !next.append("/") ||
            !next.append(pending.view().substr(position)))
            return ENAMETOOLONG;
        pending = next;
        position = 0;
    }
    return 0;
}

}  // namespace cbuild::builder::internal
