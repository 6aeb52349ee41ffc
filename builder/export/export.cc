// Tarball exporters. An OCI tarball is an image layout (oci-layout, index.json, blobs/); a
// docker tarball is the same plus manifest.json and repositories, which is what `docker load`
// reads (the layout Docker 25's `docker save` writes). Blobs are streamed from the store as
// they are, already compressed, never rebuilt.

#include "builder/export/export.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>
#include <nlohmann/json.hpp>

#include "builder/export/internal/rootfs.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "registry/reference.h"

namespace cbuild::builder {

namespace {

// Standard output as a ByteSink, for `dest=-`.
class StdoutSink final : public ByteSink {
public:
    void write(std::span<const std::byte> bytes) override {
        const std::byte* data = bytes.data();
        std::size_t left = bytes.size();
        while (left > 0) {
            const ssize_t written = ::write(STDOUT_FILENO, data, left);
            if (written < 0) {
                if (errno == EINTR) continue;
                throw IoError("<stdout>", "write", errno);
            }
            data += written;
            left -= static_cast<std::size_t>(written);
        }
    }
};

// A tar written through libarchive into a ByteSink.
class TarWriter {
public:
    TarWriter(ByteSink& sink, std::int64_t mtime) : m_archive(archive_write_new()), m_sink(sink), m_mtime(mtime) {
        archive_write_set_format_pax_restricted(m_archive);
        archive_write_set_bytes_in_last_block(m_archive, 1);
        if (archive_write_open(m_archive, this, nullptr, &TarWriter::on_write, nullptr) != ARCHIVE_OK) fail("open");
    }
    ~TarWriter() { archive_write_free(m_archive); }
    TarWriter(const TarWriter&) = delete;
    TarWriter& operator=(const TarWriter&) = delete;

    void add_bytes(const std::string& name, std::string_view bytes) {
        header(name, bytes.size());
        if (!bytes.empty() && archive_write_data(m_archive, bytes.data(), bytes.size()) < 0) fail(name);
    }
    void add_file(const std::string& name, const std::filesystem::path& path) {
        std::ifstream in(path, std::ios::binary);
        if (!in) throw IoError(path.string(), "open", errno);
        const auto size = std::filesystem::file_size(path);
        header(name, size);
        std::vector<char> buffer(1 << 20);
        std::uint64_t copied = 0;
        while (in) {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            const std::streamsize got = in.gcount();
            if (got <= 0) break;
            if (archive_write_data(m_archive, buffer.data(), static_cast<std::size_t>(got)) < 0) fail(name);
            copied += static_cast<std::uint64_t>(got);
        }
        if (copied != size) throw Error("`" + path.string() + "` changed while being exported");
    }
    void close() {
        if (archive_write_close(m_archive) != ARCHIVE_OK) fail("close");
    }

private:
    static la_ssize_t on_write(archive*, void* self, const void* buffer, std::size_t length) {
        auto* writer = static_cast<TarWriter*>(self);
        try {
            writer->m_sink.write(std::span<const std::byte>(static_cast<const std::byte*>(buffer), length));
        } catch (const Error& error) {
            writer->m_error = error.what();
            return -1;
        }
        return static_cast<la_ssize_t>(length);
    }
    void header(const std::string& name, std::uint64_t size) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, name.c_str());
        archive_entry_set_filetype(entry, AE_IFREG);
        archive_entry_set_perm(entry, 0644);
        archive_entry_set_size(entry, static_cast<la_int64_t>(size));
        archive_entry_set_mtime(entry, m_mtime, 0);
        const int status = archive_write_header(m_archive, entry);
        archive_entry_free(entry);
        if (status != ARCHIVE_OK) fail(name);
    }
    [[noreturn]] void fail(const std::string& what) {
        throw Error("writing the tarball (" + what + "): " +
                    (m_error.empty() ? std::string(archive_error_string(m_archive) ? archive_error_string(m_archive) : "")
                                     : m_error));
    }

    archive* m_archive;
    ByteSink& m_sink;
    std::int64_t m_mtime;
    std::string m_error;
};

std::string blob_name(const Digest& digest) { return "blobs/" + digest.algorithm() + "/" + digest.hex(); }

void add_blob(TarWriter& tar, const cache::ContentStore& store, const Digest& digest) {
    if (!store.has(digest)) throw Error("blob " + digest.to_string() + " is missing from the store");
    tar.add_file(blob_name(digest), store.blob_path(digest));
}

// The image layout of one image: BuildKit's OCI exporter annotates the manifest with the full
// name and the tag alone as ref.name.
void write_layout(TarWriter& tar, const cache::ContentStore& store, const BuiltImage& image,
                  const std::vector<std::string>& tags) {
    tar.add_bytes("oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    registry::Descriptor manifest = image.manifest_descriptor;
    if (!tags.empty()) {
        const registry::Reference reference = registry::Reference::parse(tags.front());
        manifest.annotations["io.containerd.image.name"] = reference.to_string();
        if (reference.tag()) manifest.annotations["org.opencontainers.image.ref.name"] = *reference.tag();
    }
    registry::ImageIndex index;
    index.media_type = registry::k_oci_index;
    index.manifests.push_back(manifest);
    tar.add_bytes("index.json", registry::to_json(index));
    add_blob(tar, store, image.manifest_descriptor.digest);
    add_blob(tar, store, image.manifest.config.digest);
    for (const registry::Descriptor& layer : image.manifest.layers) add_blob(tar, store, layer.digest);
}

void write_docker_manifest(TarWriter& tar, const BuiltImage& image, const std::vector<std::string>& tags) {
    nlohmann::json repo_tags = nlohmann::json::array();
    nlohmann::json repositories = nlohmann::json::object();
    for (const std::string& tag : tags) {
        const registry::Reference reference = registry::Reference::parse(tag);
        const std::string familiar = reference.familiar();
        repo_tags.push_back(familiar);
        const std::size_t colon = familiar.rfind(':');
        repositories[familiar.substr(0, colon)][familiar.substr(colon + 1)] = image.manifest.config.digest.hex();
    }
    nlohmann::json layers = nlohmann::json::array();
    for (const registry::Descriptor& layer : image.manifest.layers) layers.push_back(blob_name(layer.digest));
    const nlohmann::json manifest = nlohmann::json::array(
        {{{"Config", blob_name(image.manifest.config.digest)}, {"RepoTags", repo_tags}, {"Layers", layers}}});
    tar.add_bytes("manifest.json", manifest.dump());
    tar.add_bytes("repositories", repositories.dump());
}

// Runs `write` into dest atomically (or into stdout for "-").
template <typename Write>
void write_destination(const std::string& dest, Write&& write) {
    if (dest == "-") {
        StdoutSink sink;
        write(sink);
        return;
    }
    AtomicFile file(dest);
    write(file);
    file.commit();
}

}  // namespace

std::string store_tag_name(const std::string& tag) {
    try {
        return registry::Reference::parse(tag).familiar();
    } catch (const registry::ReferenceError& error) {
        throw UsageError(std::string("invalid tag: ") + error.what());
    }
}

void tag_image(cache::ContentStore& store, const BuiltImage& image, const std::vector<std::string>& tags) {
    for (const std::string& tag : tags) {
        store.set_tag({.name = store_tag_name(tag),
                       .media_type = image.manifest_descriptor.media_type,
                       .digest = image.manifest_descriptor.digest,
                       .size = static_cast<std::uint64_t>(image.manifest_descriptor.size),
                       .annotations = {}});
    }
}

void export_image(const cache::ContentStore& store, const BuiltImage& image, const ExportRequest& request,
                  const std::vector<std::string>& tags, std::optional<std::int64_t> source_date_epoch) {
    const std::int64_t mtime = source_date_epoch.value_or(0);
    switch (request.type) {
    case ExportType::store:
    case ExportType::registry:  // the caller pushes
        return;
    case ExportType::oci:
    case ExportType::docker:
        write_destination(request.dest, [&](ByteSink& sink) {
            TarWriter tar(sink, mtime);
            write_layout(tar, store, image, tags);
            if (request.type == ExportType::docker) write_docker_manifest(tar, image, tags);
            tar.close();
        });
        return;
    case ExportType::tar:
        write_destination(request.dest, [&](ByteSink& sink) { internal::write_rootfs_tar(image.filesystem, sink); });
        return;
    case ExportType::local:
        internal::write_rootfs_directory(image.filesystem, request.dest);
        return;
    }
}

}  // namespace cbuild::builder
