// Images already in the local store, used as a base (FROM) or a source (COPY --from=image).
// Their filesystem is read from the layer tars: every member becomes an image path (never a
// host path; `..` and a leading `/` are clamped at the root, as containerd's Apply does), and file contents go to files named by a counter in the build's scratch
// directory, so a hostile layer cannot write anywhere on the host.

#include <archive.h>
#include <archive_entry.h>

#include <cerrno>
#include <fstream>

#include "builder/snapshot/internal/image_path.h"
#include "builder/solve/internal/stored_filesystem.h"
#include "builder/solve/solve.h"
#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::builder {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

std::optional<cache::TagEntry> find_tag(const cache::ContentStore& store, const std::string& name) {
    if (auto entry = store.resolve(name)) return entry;
    try {
        const registry::Reference reference = registry::Reference::parse(name);
        for (const std::string& candidate : {reference.familiar(), reference.to_string()})
            if (auto entry = store.resolve(candidate)) return entry;
    } catch (const registry::ReferenceError&) {
    }
    return std::nullopt;
}

bool platform_matches(const registry::Platform& candidate, const Platform& wanted) {
    return candidate.os == wanted.os && candidate.architecture == wanted.architecture &&
           (wanted.variant.empty() || candidate.variant.empty() || candidate.variant == wanted.variant);
}

}  // namespace

std::optional<StoredImage> load_stored_image(const cache::ContentStore& store, const std::string& name,
                                             const Platform& platform) {
    const auto tag = find_tag(store, name);
    if (!tag) return std::nullopt;
    registry::Descriptor descriptor{
        .media_type = tag->media_type, .digest = tag->digest, .size = static_cast<std::int64_t>(tag->size)};
    std::optional<std::string> bytes = store.read_blob(descriptor.digest, k_max_document);
    if (!bytes) throw Error("image `" + name + "`: its manifest " + descriptor.digest.to_string() + " is missing from the store");
    if (registry::is_index(descriptor.media_type)) {
        const registry::ImageIndex index = registry::parse_index(*bytes);
        const registry::Descriptor* chosen = nullptr;
        for (const registry::Descriptor& manifest : index.manifests)
            if (manifest.platform && platform_matches(*manifest.platform, platform)) chosen = &manifest;
        if (!chosen) throw Error("image `" + name + "` has no manifest for " + platform.to_string());
        descriptor = *chosen;
        bytes = store.read_blob(descriptor.digest, k_max_document);
        if (!bytes) throw Error("image `" + name + "`: manifest " + descriptor.digest.to_string() + " is missing");
    }
    StoredImage image{registry::parse_manifest(*bytes), {}, descriptor};
    const auto config = store.read_blob(image.manifest.config.digest, k_max_document);
    if (!config) throw Error("image `" + name + "`: config " + image.manifest.config.digest.to_string() + " is missing");
    image.config = registry::parse_config(*config);
    return image;
}

namespace internal {

namespace {

class ArchiveReader {
public:
    explicit ArchiveReader(const std::filesystem::path& path) : m_archive(archive_read_new()) {
        archive_read_support_filter_all(m_archive);
        archive_read_support_format_tar(m_archive);
        if (archive_read_open_filename(m_archive, path.c_str(), 1 << 16) != ARCHIVE_OK)
            throw Error("cannot read layer `" + path.string() + "`: " + archive_error_string(m_archive));
    }
    ~ArchiveReader() { archive_read_free(m_archive); }
    ArchiveReader(const ArchiveReader&) = delete;
    ArchiveReader& operator=(const ArchiveReader&) = delete;
    archive* get() const { return m_archive; }

private:
    archive* m_archive;
};

void apply_layer(FileTree& tree, const std::filesystem::path& blob, const std::filesystem::path& scratch,
                 std::size_t& counter) {
    ArchiveReader reader(blob);
    std::vector<LayerEntry> entries;
    std::vector<Whiteout> whiteouts;
    archive_entry* member = nullptr;
    int status;
    while ((status = archive_read_next_header(reader.get(), &member)) == ARCHIVE_OK) {
        const std::string path = clamp_path(archive_entry_pathname(member));
        if (path.empty()) continue;
        const std::size_t slash = path.rfind('/');
        const std::string base = path.substr(slash == std::string::npos ? 0 : slash + 1);
        const std::string parent = slash == std::string::npos ? "" : path.substr(0, slash);
        if (base == ".wh..wh..opq") {
            whiteouts.push_back({parent, true});
            continue;
        }
        if (base.rfind(".wh.", 0) == 0) {
            whiteouts.push_back({(parent.empty() ? "" : parent + "/") + base.substr(4), false});
            continue;
        }
        LayerEntry entry;
        entry.path = path;
        entry.mode = archive_entry_perm(member) | (archive_entry_mode(member) & 07000);
        entry.uid = static_cast<std::uint32_t>(archive_entry_uid(member));
        entry.gid = static_cast<std::uint32_t>(archive_entry_gid(member));
        entry.mtime_seconds = archive_entry_mtime(member);
        entry.mtime_nanoseconds = static_cast<std::uint32_t>(archive_entry_mtime_nsec(member));
        if (const char* hardlink = archive_entry_hardlink(member)) {
            entry.type = EntryType::hardlink;
            entry.link_target = clamp_path(hardlink);
        } else {
            switch (archive_entry_filetype(member)) {
            case AE_IFDIR: entry.type = EntryType::directory; break;
            case AE_IFLNK:
                entry.type = EntryType::symlink;
                entry.link_target = archive_entry_symlink(member) ? archive_entry_symlink(member) : "";
                break;
            case AE_IFCHR: entry.type = EntryType::char_device; break;
            case AE_IFBLK: entry.type = EntryType::block_device; break;
            case AE_IFIFO: entry.type = EntryType::fifo; break;
            default: entry.type = EntryType::file; break;
            }
            entry.device_major = static_cast<std::uint32_t>(archive_entry_rdevmajor(member));
            entry.device_minor = static_cast<std::uint32_t>(archive_entry_rdevminor(member));
        }
        archive_entry_xattr_reset(member);
        const char* xattr_name = nullptr;
        const void* xattr_value = nullptr;
        std::size_t xattr_size = 0;
        while (archive_entry_xattr_next(member, &xattr_name, &xattr_value, &xattr_size) == ARCHIVE_OK)
            entry.xattrs[xattr_name] = std::string(static_cast<const char*>(xattr_value), xattr_size);
        if (entry.type == EntryType::file) {
            const std::filesystem::path target = scratch / ("layer-file-" + std::to_string(counter++));
            std::ofstream out(target, std::ios::binary);
            if (!out) throw IoError(target.string(), "create", errno);
            char buffer[1 << 16];
            la_ssize_t read;
            std::uint64_t size = 0;
            while ((read = archive_read_data(reader.get(), buffer, sizeof buffer)) > 0) {
                out.write(buffer, read);
                size += static_cast<std::uint64_t>(read);
            }
            if (read < 0) throw Error("corrupt layer `" + blob.string() + "`: " + archive_error_string(reader.get()));
            out.close();
            if (!out) throw IoError(target.string(), "write", errno);
            entry.size = size;
            entry.content.host_path = target.string();
        }
        entries.push_back(std::move(entry));
    }
    if (status != ARCHIVE_EOF)
        throw Error("corrupt layer `" + blob.string() + "`: " + archive_error_string(reader.get()));
    tree.apply(entries, whiteouts);
}

}  // namespace

FileTree stored_filesystem(const cache::ContentStore& store, const registry::ImageManifest& manifest,
                           const std::filesystem::path& scratch) {
    FileTree tree;
    std::size_t counter = 0;
    for (const registry::Descriptor& layer : manifest.layers) {
        if (!store.has(layer.digest)) throw Error("layer " + layer.digest.to_string() + " is missing from the store");
        apply_layer(tree, store.blob_path(layer.digest), scratch, counter);
    }
    return tree;
}

}  // namespace internal

}  // namespace cbuild::builder
