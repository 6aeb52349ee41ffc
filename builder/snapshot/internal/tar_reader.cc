#include "builder/snapshot/internal/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <cerrno>
#include <exception>
#include <vector>

#include "builder/snapshot/internal/node_io.h"
#include "builder/snapshot/unpack.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::size_t k_read_block = std::size_t{1} << 17;

std::string utf8_or_local(const char* local, const char* utf8) {
    if (local != nullptr) return local;
    return utf8 != nullptr ? utf8 : "";
}

}  // namespace

struct TarReader::State {
    LayerStream& stream;
    std::string blob;
    std::vector<std::byte> buffer = std::vector<std::byte>(k_read_block);
    std::exception_ptr error;  // thrown by the stream inside libarchive's callback
    archive* handle = nullptr;
    archive_entry* member = nullptr;
    std::string member_name;
    locale_t utf8 = nullptr;
    locale_t previous = nullptr;

    State(LayerStream& source, std::string name) : stream(source), blob(std::move(name)) {}

    ~State() {
        if (handle != nullptr) archive_read_free(handle);
        if (utf8 != nullptr) {
            uselocale(previous);
            freelocale(utf8);
        }
    }

    [[noreturn]] void fail(const std::string& what) const {
        if (error) std::rethrow_exception(error);
        const char* message = archive_error_string(handle);
        throw UnpackError("layer `" + blob + "`" + (member_name.empty() ? "" : ": member `" + member_name + "`") +
                          ": " + what + ": " + (message != nullptr ? message : "unknown error"));
    }

    static la_ssize_t read_block(archive* reader, void* client, const void** block) {
        auto* self = static_cast<State*>(client);
        // An exception must not unwind through libarchive's C frames: keep it for fail().
        try {
            *block = self->buffer.data();
            return static_cast<la_ssize_t>(self->stream.read(self->buffer));
        } catch (...) {
            self->error = std::current_exception();
            archive_set_error(reader, EIO, "reading the layer failed");
            return -1;
        }
    }
};

TarReader::TarReader(LayerStream& stream, std::string blob)
    : m_state(std::make_unique<State>(stream, std::move(blob))) {
    State& state = *m_state;
    state.utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(nullptr));
    if (state.utf8 == nullptr) throw IoError("C.UTF-8", "newlocale", errno);
    state.previous = uselocale(state.utf8);
    state.handle = archive_read_new();
    if (state.handle == nullptr) throw Error("libarchive: cannot allocate a reader");
    archive_read_support_format_tar(state.handle);
    if (archive_read_open(state.handle, &state, nullptr, &State::read_block, nullptr) != ARCHIVE_OK)
        state.fail("not a tar");
}

TarReader::~TarReader() = default;

std::optional<LayerEntry> TarReader::next() {
    State& state = *m_state;
    state.member_name.clear();
    const int status = archive_read_next_header(state.handle, &state.member);
    if (status == ARCHIVE_EOF) return std::nullopt;
    if (status < ARCHIVE_WARN) state.fail("bad tar header");
    archive_entry* member = state.member;
    state.member_name = utf8_or_local(archive_entry_pathname(member), archive_entry_pathname_utf8(member));
    LayerEntry entry;
    entry.path = state.member_name;
    entry.mode = archive_entry_perm(member) | (archive_entry_mode(member) & 07000);
    entry.uid = static_cast<std::uint32_t>(archive_entry_uid(member));
    entry.gid = static_cast<std::uint32_t>(archive_entry_gid(member));
    entry.mtime_seconds = archive_entry_mtime(member);
    entry.mtime_nanoseconds = static_cast<std::uint32_t>(archive_entry_mtime_nsec(member));
    if (archive_entry_hardlink(member) != nullptr || archive_entry_hardlink_utf8(member) != nullptr) {
        entry.type = EntryType::hardlink;
        entry.link_target = utf8_or_local(archive_entry_hardlink(member), archive_entry_hardlink_utf8(member));
        return entry;
    }
    switch (archive_entry_filetype(member)) {
    case AE_IFDIR: entry.type = EntryType::directory; break;
    case AE_IFLNK:
        entry.type = EntryType::symlink;
        entry.link_target = utf8_or_local(archive_entry_symlink(member), archive_entry_symlink_utf8(member));
        break;
    case AE_IFCHR: entry.type = EntryType::char_device; break;
    case AE_IFBLK: entry.type = EntryType::block_device; break;
    case AE_IFIFO: entry.type = EntryType::fifo; break;
    default:
        entry.type = EntryType::file;
        entry.size = static_cast<std::uint64_t>(archive_entry_size(member));
        break;
    }
    entry.device_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(member));
    entry.device_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(member));
    archive_entry_xattr_reset(member);
    const char* name = nullptr;
    const void* value = nullptr;
    std::size_t size = 0;
    while (archive_entry_xattr_next(member, &name, &value, &size) == ARCHIVE_OK)
        if (!is_overlay_xattr(name)) entry.xattrs[name] = std::string(static_cast<const char*>(value), size);
    return entry;
}

void TarReader::read_data(const std::function<void(std::uint64_t, std::span<const std::byte>)>& write) {
    State& state = *m_state;
    const void* block = nullptr;
    std::size_t size = 0;
    la_int64_t offset = 0;
    int status;
    while ((status = archive_read_data_block(state.handle, &block, &size, &offset)) == ARCHIVE_OK)
        write(static_cast<std::uint64_t>(offset), std::span(static_cast<const std::byte*>(block), size));
    if (status != ARCHIVE_EOF) state.fail("bad member data");
}

}  // namespace cbuild::builder::internal
