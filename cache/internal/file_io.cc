#include "cache/internal/file_io.h"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>

#include "common/error.h"

namespace cbuild::cache {

std::size_t read_fully(int fd, char* data, std::size_t size, const std::filesystem::path& path) {
    std::size_t done = 0;
    while (done < size) {
        const ssize_t got = ::read(fd, data + done, size - done);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw IoError(path.string(), "read", errno);
        if (got == 0) break;
        done += static_cast<std::size_t>(got);
    }
    return done;
}

std::optional<OpenedFile> read_whole_file(const std::filesystem::path& path, std::size_t max_size) {
    OpenedFile file;
    file.fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (file.fd.get() < 0 && (errno == ENOENT || errno == ENOTDIR)) return std::nullopt;
    if (file.fd.get() < 0) throw IoError(path.string(), "open", errno);
    if (::fstat(file.fd.get(), &file.status) != 0) throw IoError(path.string(), "fstat", errno);
    if (!S_ISREG(file.status.st_mode)) throw Error("`" + path.string() + "`: not a regular file");
    const auto size = static_cast<std::uint64_t>(file.status.st_size);
    if (size > max_size)
        throw Error("`" + path.string() + "`: " + std::to_string(size) + " bytes, more than the " +
                    std::to_string(max_size) + " expected");
    // One byte more than the size, so a file that grew since fstat is read to its end.
    file.bytes.resize(size + 1);
    std::size_t got = read_fully(file.fd.get(), file.bytes.data(), file.bytes.size(), path);
    while (got == file.bytes.size() && file.bytes.size() <= max_size) {
        file.bytes.resize(std::min<std::size_t>(file.bytes.size() * 2, max_size + 1));
        got += read_fully(file.fd.get(), file.bytes.data() + got, file.bytes.size() - got, path);
    }
    if (got > max_size)
        throw Error("`" + path.string() + "`: more than the " + std::to_string(max_size) + " bytes expected");
    file.bytes.resize(got);
    return file;
}

}  // namespace cbuild::cache
