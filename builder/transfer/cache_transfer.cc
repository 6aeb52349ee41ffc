#include "builder/transfer/cache_transfer.h"
#include "builder/transfer/internal/mount_sources.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>

#include "builder/snapshot/layer_writer.h"
#include "builder/snapshot/unpack.h"
#include "builder/snapshot/upper_diff.h"
#include "builder/transfer/internal/cache_config.h"
#include "registry/image.h"
#include "registry/reference.h"

namespace cbuild::builder {

namespace {

namespace fs = std::filesystem;
using internal::CacheContents;
using internal::CacheMount;

// The config is held in memory; 64 MiB is some hundred thousand records.
constexpr std::size_t k_max_config = 64 << 20;
constexpr std::size_t k_max_document = 4 << 20;
constexpr char k_ref_name[] = "org.opencontainers.image.ref.name";

class StringSink final : public ByteSink {
public:
    using ByteSink::write;
    void write(std::span<const std::byte> bytes) override {
        m_bytes.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    std::string& bytes() { return m_bytes; }

private:
    std::string m_bytes;
};

// --- export ---

// A cache-mount directory written as a layer into a temporary file of the store, kept until the
// push or copy is done, then dropped: cache mounts change with every build, and the store
// would only grow.
struct MountLayer {
    cache::BlobWriter blob;
    registry::Descriptor descriptor;
    CacheMount mount;
};

// The manifest's layers, each blob once, in the order first asked for.
class LayerList {
public:
    std::size_t add(registry::Descriptor descriptor) {
        const auto [it, added] = m_index.emplace(descriptor.digest, m_layers.size());
        if (added) m_layers.push_back(std::move(descriptor));
        return it->second;
    }
    std::vector<registry::Descriptor> take() { return std::move(m_layers); }

private:
    std::vector<registry::Descriptor> m_layers;
    std::map<Digest, std::size_t> m_index;
};

// Everything an export writes: the config and manifest bytes, and where each layer's bytes are.
struct CacheArtifact {
    std::string config;
    registry::Descriptor config_descriptor;
    std::string manifest;
    std::vector<registry::Descriptor> layers;
    std::map<Digest, fs::path> files;
};

void check_layer(const cache::ContentStore& store, const cache::CacheRecord& record) {
    const std::string what = "cache record " + record.key.to_string() + " (" + record.description + "): its layer " +
                             record.layer_digest.to_string();
    const auto size = store.blob_size(record.layer_digest);
    if (!size) throw Error(what + " is missing from the local store");
    if (*size != record.layer_size)
        throw Error(what + " has " + std::to_string(*size) + " bytes in the store, the record says " +
                    std::to_string(record.layer_size));
}

std::vector<std::string> mount_names(const fs::path& cache_mounts_dir) {
    std::vector<std::string> names;
    std::error_code error;
    fs::directory_iterator it(cache_mounts_dir, error);
    if (error == std::errc::no_such_file_or_directory) return names;
    if (error) throw IoError(cache_mounts_dir.string(), "opendir", error.value());
    // Only the shared directory of each id: `-N` copies of private mounts, lock files and
    // half-imported directories are no cache.
    for (const fs::directory_entry& entry : it) {
        const std::string name = entry.path().filename().string();
        if (internal::is_cache_mount_name(name) && entry.is_directory(error) && !entry.is_symlink(error))
            names.push_back(name);
    }
    std::sort(names.begin(), names.end());
    return names;
}

MountLayer write_mount_layer(cache::ContentStore& store, const fs::path& dir, const std::string& name) {
    struct stat status {};
    if (::lstat(dir.c_str(), &status) != 0) throw IoError(dir.string(), "lstat", errno);
    // A cache directory is a plain tree: read as an overlay upper dir over nothing, every node of
    // it is an entry.
    LayerChanges changes = diff_upper(dir, {});
    cache::BlobWriter blob = store.begin_blob();
    const LayerDigests digests =
        write_layer(std::move(changes.entries), std::move(changes.whiteouts), blob, LayerOptions{});
    return MountLayer{.blob = std::move(blob),
                      .descriptor = registry::Descriptor{.media_type = digests.media_type,
                                                         .digest = digests.digest,
                                                         .size = static_cast<std::int64_t>(digests.size)},
                      .mount = CacheMount{.name = name,
                                          .layer = 0,
                                          .diff_id = digests.diff_id,
                                          .mode = status.st_mode & 07777,
                                          .uid = status.st_uid,
                                          .gid = status.st_gid}};
}

void push_to_registry(registry::Client& client, const cache::ContentStore& store, const CacheArtifact& artifact,
                      const CacheExportSpec& spec, CacheExportResult& result) {
    const registry::Reference reference = registry::Reference::parse(spec.ref);
    registry::ImageToPush image{
        .media_type = registry::k_oci_manifest, .manifest = artifact.manifest, .blobs = {artifact.config_descriptor}};
    image.blobs.insert(image.blobs.end(), artifact.layers.begin(), artifact.layers.end());
    const auto mounts = internal::mount_sources(store, reference.domain());
    const registry::PushedImage pushed = client.push_image(
        {reference}, image, [&](const registry::Descriptor& blob) -> std::optional<registry::BlobSource> {
            if (blob.digest == artifact.config_descriptor.digest) return registry::BlobSource::bytes(artifact.config);
            const auto file = artifact.files.find(blob.digest);
            if (file == artifact.files.end()) return std::nullopt;
            registry::BlobSource from = registry::BlobSource::file(file->second);
            if (const auto it = mounts.find(blob.digest); it != mounts.end()) from.mount_from = it->second;
            return from;
        });
    result.existed = pushed.existed;
    result.mounted = pushed.mounted;
    result.uploaded = pushed.uploaded;
}

// Blobs first, the tag last, as a pull into the store: the tag never names a partial cache.
void copy_to_layout(const CacheArtifact& artifact, const CacheExportSpec& spec, CacheExportResult& result) {
    cache::ContentStore layout(spec.dir);
    for (const registry::Descriptor& layer : artifact.layers) {
        if (layout.has(layer.digest)) {
            ++result.existed;
            continue;
        }
        const fs::path& from = artifact.files.at(layer.digest);
        const Digest copied = layout.import_file(from);
        if (copied != layer.digest)
            throw cache::BlobMismatchError("`" + from.string() + "` holds " + copied.to_string() + ", not " +
                                           layer.digest.to_string());
        ++result.uploaded;
    }
    ++(layout.has(artifact.config_descriptor.digest) ? result.existed : result.uploaded);
    layout.put_blob(artifact.config);
    layout.put_blob(artifact.manifest);
    layout.set_tag({.name = spec.tag,
                    .media_type = registry::k_oci_manifest,
                    .digest = result.manifest,
                    .size = artifact.manifest.size(),
                    .annotations = {}});
}

// --- import ---

// Where a cache is read from: a registry repository or an OCI image layout.
class CacheSource {
public:
    explicit CacheSource(std::string name) : m_name(std::move(name)) {}
    virtual ~CacheSource() = default;

    // The manifest's bytes, or nullopt when there is no cache here.
    virtual std::optional<std::string> manifest() = 0;
    // Streams `blob` into `out`, checked against its digest and size; on a mismatch it throws
    // after some bytes may be in `out`.
    virtual void fetch(const registry::Descriptor& blob, ByteSink& out) = 0;

    // How messages name the cache: the reference, or DIR:TAG.
    const std::string& name() const { return m_name; }

private:
    std::string m_name;
};

class RegistrySource final : public CacheSource {
public:
    RegistrySource(registry::Client& client, const std::string& ref)
        : CacheSource(ref), m_client(client), m_reference(registry::Reference::parse(ref)) {}

    std::optional<std::string> manifest() override {
        std::optional<registry::FetchedManifest> fetched;
        try {
            fetched = m_client.fetch_manifest(m_reference);
        } catch (const registry::RegistryError& error) {
            if (error.status() == 404) return std::nullopt;  // no such tag or repository: a first build
            throw;
        }
        if (!registry::is_manifest(fetched->media_type))
            throw Error("`" + name() + "` is not a cbuild cache: it is a " + fetched->media_type);
        return std::move(fetched->bytes);
    }

    void fetch(const registry::Descriptor& blob, ByteSink& out) override {
        m_client.fetch_blob(m_reference, blob, out);
    }

private:
    registry::Client& m_client;
    registry::Reference m_reference;
};

class LayoutSource final : public CacheSource {
public:
    LayoutSource(fs::path dir, std::string tag)
        : CacheSource(dir.string() + ":" + tag), m_dir(std::move(dir)), m_tag(std::move(tag)) {}

    std::optional<std::string> manifest() override {
        const fs::path index_path = m_dir / "index.json";
        std::ifstream in(index_path, std::ios::binary);
        if (!in) {
            if (errno == ENOENT) return std::nullopt;  // no layout there yet: a first build
            throw IoError(index_path.string(), "open", errno);
        }
        const std::string bytes{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
        if (in.bad()) throw IoError(index_path.string(), "read", errno);
        registry::ImageIndex index;
        try {
            index = registry::parse_index(bytes);
        } catch (const registry::ImageFormatError& error) {
            throw Error("`" + name() + "`: " + index_path.string() + ": " + error.what());
        }
        for (const registry::Descriptor& entry : index.manifests) {
            const auto ref_name = entry.annotations.find(k_ref_name);
            if (ref_name == entry.annotations.end() || ref_name->second != m_tag) continue;
            if (!registry::is_manifest(entry.media_type))
                throw Error("`" + name() + "` is not a cbuild cache: it is a " + entry.media_type);
            if (entry.size > static_cast<std::int64_t>(registry::k_max_manifest_size))
                throw Error("`" + name() + "`: the manifest is over 4 MiB");
            StringSink manifest;
            fetch(entry, manifest);
            return std::move(manifest.bytes());
        }
        return std::nullopt;
    }

    void fetch(const registry::Descriptor& blob, ByteSink& out) override {
        if (blob.digest.algorithm() != "sha256")
            throw Error("`" + name() + "`: blob " + blob.digest.to_string() + ": only sha256 digests are read");
        const fs::path path = m_dir / "blobs" / blob.digest.algorithm() / blob.digest.hex();
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            if (errno == ENOENT) throw Error("`" + name() + "`: blob " + blob.digest.to_string() + " is missing");
            throw IoError(path.string(), "open", errno);
        }
        Sha256 hasher;
        std::uint64_t size = 0;
        std::vector<char> buffer(1 << 20);
        while (in) {
            in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
            const auto count = static_cast<std::size_t>(in.gcount());
            if (count == 0) break;
            const std::string_view chunk(buffer.data(), count);
            hasher.update(chunk);
            size += count;
            if (size > static_cast<std::uint64_t>(blob.size)) break;
            out.write(chunk);
        }
        if (in.bad()) throw IoError(path.string(), "read", errno);
        if (size != static_cast<std::uint64_t>(blob.size) || hasher.finish() != blob.digest)
            throw cache::BlobMismatchError("`" + name() + "`: blob " + blob.digest.to_string() +
                                           " does not match its digest and size");
    }

private:
    fs::path m_dir;
    std::string m_tag;
};

// A cache's manifest layers and what its config says of them, checked against each other.
struct CacheArtifactRead {
    std::vector<registry::Descriptor> layers;
    CacheContents contents;
};

CacheArtifactRead read_artifact(CacheSource& source, const std::string& manifest_bytes) {
    const registry::ImageManifest manifest = [&] {
        try {
            return registry::parse_manifest(manifest_bytes);
        } catch (const registry::ImageFormatError& error) {
            throw Error("`" + source.name() + "`: " + error.what());
        }
    }();
    if (manifest.config.media_type != k_cache_config_media_type)
        throw Error("`" + source.name() + "` is not a cbuild cache: its config is a " + manifest.config.media_type);
    if (manifest.config.size > static_cast<std::int64_t>(k_max_config))
        throw Error("`" + source.name() + "`: the cache config is over 64 MiB");
    StringSink config;
    source.fetch(manifest.config, config);
    CacheContents contents = internal::read_cache_config(config.bytes(), manifest.layers, source.name());
    return {manifest.layers, std::move(contents)};
}

void fetch_into_store(CacheSource& source, cache::ContentStore& store, const registry::Descriptor& blob) {
    if (store.has(blob.digest)) return;
    cache::BlobWriter writer = store.begin_blob();
    source.fetch(blob, writer);
    writer.commit(blob.digest, static_cast<std::uint64_t>(blob.size));
}

// Whether a cache mount may be restored at `target`: nothing there, or an empty directory (a
// build made it and left nothing). Anything else is the local cache, which wins.
bool restorable(const fs::path& target) {
    struct stat status {};
    if (::lstat(target.c_str(), &status) != 0) {
        if (errno == ENOENT) return true;
        throw IoError(target.string(), "lstat", errno);
    }
    if (!S_ISDIR(status.st_mode)) return false;
    std::error_code error;
    const bool empty = fs::is_empty(target, error);
    if (error) throw IoError(target.string(), "opendir", error.value());
    return empty;
}

// A directory beside the cache mounts that a layer is unpacked into; removed unless released.
class StagingDirectory {
public:
    StagingDirectory(const fs::path& parent, const std::string& name) {
        std::string pattern = (parent / (".import-" + name + "-XXXXXX")).string();
        if (::mkdtemp(pattern.data()) == nullptr) throw IoError(pattern, "mkdtemp", errno);
        m_path = pattern;
    }
    ~StagingDirectory() {
        if (m_path.empty()) return;
        std::error_code ignored;
        fs::remove_all(m_path, ignored);
    }
    StagingDirectory(const StagingDirectory&) = delete;
    StagingDirectory& operator=(const StagingDirectory&) = delete;

    const fs::path& path() const { return m_path; }
    void release() { m_path.clear(); }

private:
    fs::path m_path;
};

void restore_mount(CacheSource& source, cache::ContentStore& store, const registry::Descriptor& blob,
                   const CacheMount& mount, const fs::path& cache_mounts_dir) {
    const fs::path target = cache_mounts_dir / mount.name;
    if (!restorable(target)) return;
    std::error_code error;
    fs::create_directories(cache_mounts_dir, error);
    if (error) throw IoError(cache_mounts_dir.string(), "mkdir", error.value());
    // Fetched into a temporary file of the store that is never committed: the layer is needed
    // only to unpack it.
    cache::BlobWriter layer = store.begin_blob();
    source.fetch(blob, layer);
    StagingDirectory staging(cache_mounts_dir, mount.name);
    const Digest diff_id = [&] {
        try {
            return unpack_layer(layer.temp_path(), staging.path(), WhiteoutStyle::apply);
        } catch (const UnpackError& unpack_error) {
            throw Error("`" + source.name() + "`: cache mount " + mount.name + ": " + unpack_error.what());
        }
    }();
    if (diff_id != mount.diff_id)
        throw Error("`" + source.name() + "`: cache mount " + mount.name + ": its layer unpacks to " +
                    diff_id.to_string() + ", the config says " + mount.diff_id.to_string());
    if (::chown(staging.path().c_str(), mount.uid, mount.gid) != 0 && geteuid() == 0)
        throw IoError(staging.path().string(), "chown", errno);
    if (::chmod(staging.path().c_str(), mount.mode) != 0) throw IoError(staging.path().string(), "chmod", errno);
    // rename(2) replaces an empty directory; a build that filled it meanwhile keeps its own.
    if (::rename(staging.path().c_str(), target.c_str()) != 0) {
        if (errno == ENOTEMPTY || errno == EEXIST) return;
        throw IoError(target.string(), "rename", errno);
    }
    staging.release();
}

std::size_t import_from(CacheSource& source, cache::ContentStore& store, cache::CacheIndex& index,
                        const fs::path& cache_mounts_dir) {
    const std::optional<std::string> manifest = source.manifest();
    if (!manifest) return 0;
    const auto [layers, contents] = read_artifact(source, *manifest);
    // A record the index has keeps its own layer, so only the others' layers are fetched.
    std::vector<std::size_t> missing;
    std::set<std::size_t> needed_layers;
    for (std::size_t i = 0; i < contents.records.size(); ++i) {
        if (index.find(contents.records[i].key)) continue;
        missing.push_back(i);
        needed_layers.insert(contents.record_layers[i]);
    }
    for (const std::size_t layer : needed_layers) fetch_into_store(source, store, layers[layer]);
    for (const CacheMount& mount : contents.mounts)
        restore_mount(source, store, layers[mount.layer], mount, cache_mounts_dir);
    // Records last, once every layer they name is in the store: a record found is one usable.
    for (const std::size_t i : missing) index.put(contents.records[i]);
    return contents.records.size();
}

}  // namespace

CacheExportResult export_cache(registry::Client& client, cache::ContentStore& store,
                               const std::vector<cache::CacheRecord>& records, const fs::path& cache_mounts_dir,
                               const CacheExportSpec& spec) {
    LayerList layers;
    CacheContents contents;
    std::map<Digest, fs::path> files;
    std::set<Digest> keys;
    for (const cache::CacheRecord& record : records) {
        if (!keys.insert(record.key).second) continue;  // one step reached twice
        check_layer(store, record);
        contents.record_layers.push_back(layers.add({.media_type = record.layer_media_type,
                                                     .digest = record.layer_digest,
                                                     .size = static_cast<std::int64_t>(record.layer_size)}));
        contents.records.push_back(record);
        files.emplace(record.layer_digest, store.blob_path(record.layer_digest));
    }
    std::vector<MountLayer> mount_layers;
    if (spec.cache_mounts) {
        for (const std::string& name : mount_names(cache_mounts_dir)) {
            MountLayer& layer = mount_layers.emplace_back(write_mount_layer(store, cache_mounts_dir / name, name));
            layer.mount.layer = layers.add(layer.descriptor);
            contents.mounts.push_back(layer.mount);
            files.emplace(layer.descriptor.digest, layer.blob.temp_path());
        }
    }
    std::vector<registry::Descriptor> manifest_layers = layers.take();

    std::string config = internal::cache_config_json(contents);
    registry::Descriptor config_descriptor = registry::digest_of(config, k_cache_config_media_type);
    std::string manifest = registry::to_json(registry::ImageManifest{
        .media_type = registry::k_oci_manifest, .config = config_descriptor, .layers = manifest_layers});
    const CacheArtifact artifact{.config = std::move(config),
                                 .config_descriptor = std::move(config_descriptor),
                                 .manifest = std::move(manifest),
                                 .layers = std::move(manifest_layers),
                                 .files = std::move(files)};

    CacheExportResult result{.manifest = sha256_of(artifact.manifest),
                             .records = contents.records.size(),
                             .layers = artifact.layers.size()};
    if (spec.type == CacheExportSpec::Type::registry) push_to_registry(client, store, artifact, spec, result);
    else copy_to_layout(artifact, spec, result);
    return result;
}

std::size_t import_cache(registry::Client& client, cache::ContentStore& store, cache::CacheIndex& index,
                         const fs::path& cache_mounts_dir, const CacheImportSpec& spec) {
    if (spec.type == CacheImportSpec::Type::registry) {
        RegistrySource source(client, spec.ref);
        return import_from(source, store, index, cache_mounts_dir);
    }
    LayoutSource source(spec.dir, spec.tag);
    return import_from(source, store, index, cache_mounts_dir);
}

}  // namespace cbuild::builder
