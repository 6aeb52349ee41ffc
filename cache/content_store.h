#pragma once
// The local content store: every blob cbuild pulls or builds (layers, configs, manifests), named
// by digest, plus tags naming manifests. On disk it is an OCI image layout, so other OCI tools
// read it directly: `skopeo inspect oci:/var/lib/cbuild:repo/img:0.1`.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_sink.h"
#include "common/digest.h"
#include "common/error.h"

namespace cbuild::cache {

// Store layout (OCI image-spec image-layout.md, plus two entries OCI readers ignore):
//
//   <root>/oci-layout            {"imageLayoutVersion":"1.0.0"}; written once, never changed
//   <root>/index.json            an OCI image index: {"schemaVersion":2,"mediaType":
//                                "application/vnd.oci.image.index.v1+json","manifests":[…]}.
//                                A tag is a manifests[] descriptor whose annotation
//                                "org.opencontainers.image.ref.name" is the tag's name (e.g.
//                                "repo/img:0.1"). Entries without that annotation, other
//                                annotations, platform objects and unknown keys, at any level,
//                                are kept as they are when cbuild rewrites the file
//   <root>/blobs/<alg>/<hex>     a blob, named by the digest of its bytes (cbuild writes
//                                sha256); created by rename, never modified, mode 0644
//   <root>/index.lock            empty; flock()ed shared to read index.json and exclusive for
//                                each read-modify-write of it, so concurrent cbuild processes
//                                never lose each other's tags
//   <root>/ingest/blob-<random>  blobs being written (BlobWriter); renamed into blobs/ once
//                                verified. Another process may be writing any of them, so a
//                                cleaner must judge leftovers of crashed writers by age
//
// index.json is replaced atomically (AtomicFile: temp file `.index.json.tmp.*` in <root>,
// fsync, rename), so a reader never sees a torn file even without taking the lock.

// Bytes that did not match the digest or size they were promised under, or a stored blob whose
// content no longer matches its name. The message names the blob and what differs.
class BlobMismatchError : public Error {
public:
    using Error::Error;
};

// A tag: one named descriptor of index.json.
struct TagEntry {
    // The "org.opencontainers.image.ref.name" annotation, e.g. "repo/img:0.1".
    std::string name;
    // The media type of the tagged blob, usually an OCI image manifest or index.
    std::string media_type;
    Digest digest;
    std::uint64_t size = 0;
    // The descriptor's other annotations (the ref.name annotation is `name`, not in here).
    std::map<std::string, std::string> annotations;

    friend bool operator==(const TagEntry&, const TagEntry&) = default;
};

// Who hashes a blob being written: the writer, which learns or verifies the digest at commit();
// or the caller, which hashes the very bytes it writes (the layer writer does, to return the
// digest), so that commit() takes its digest instead of hashing every byte a second time.
enum class BlobHashing { by_writer, by_caller };

// A blob being streamed into the store, counted (and, BlobHashing::by_writer, hashed) as it is
// written. Nothing becomes visible under blobs/ until commit() has verified it. Move-only; not
// thread-safe.
class BlobWriter final : public ByteSink {
public:
    BlobWriter(BlobWriter&& other) noexcept;
    BlobWriter& operator=(BlobWriter&&) = delete;
    BlobWriter(const BlobWriter&) = delete;
    BlobWriter& operator=(const BlobWriter&) = delete;
    // Without a successful commit(), deletes the temporary file.
    ~BlobWriter() override;

    // Appends bytes. Throws IoError, after which the blob is discarded and commit() throws;
    // throws cbuild::Error once commit() has been called.
    void write(std::span<const std::byte> bytes) override;
    using ByteSink::write;

    // Bytes written so far.
    std::uint64_t size() const { return m_size; }
    // The temporary file holding what was written so far (under <root>/ingest), readable until
    // commit() or destruction; empty once the writer is spent. Lets a caller read back a blob it
    // means to use without keeping it (a cache-mount layer it exported).
    const std::filesystem::path& temp_path() const { return m_temp_path; }

    // Verifies, then stores the blob: throws BlobMismatchError if `expected_size` or `expected`
    // (which must be a sha256 digest) differs from what was written, and the bytes are dropped.
    // With BlobHashing::by_caller, `expected` is required and taken as the digest; only the
    // size is checked.
    // If the store already holds the blob, the copy is dropped and the blob left as it was.
    // Otherwise the file is fsynced and renamed to blobs/sha256/<hex>. Returns the digest.
    // Throws IoError on a failed call; nothing is kept then, unless only the final fsync of
    // blobs/sha256 failed (the blob is in place, verified). Call it at most once: after it
    // returns or throws, the writer is spent.
    Digest commit(std::optional<Digest> expected = std::nullopt,
                  std::optional<std::uint64_t> expected_size = std::nullopt);

private:
    friend class ContentStore;
    BlobWriter(std::filesystem::path blobs_dir, const std::filesystem::path& ingest_dir, BlobHashing hashing);
    void discard() noexcept;

    std::filesystem::path m_blobs_dir;
    std::filesystem::path m_temp_path;
    int m_fd = -1;
    BlobHashing m_hashing;
    Sha256 m_hasher;
    std::uint64_t m_size = 0;
    static constexpr std::uint64_t k_writeback_stride = 16 << 20;
    std::uint64_t m_written_back = 0;  // the first bytes, whose writeback has been started
};

// A store at one root directory. Every operation opens what it needs and takes the lock itself,
// so a ContentStore may be shared by threads, and any number of processes may use one root at
// once. Blobs are never deleted here (garbage collection is a separate concern).
class ContentStore {
public:
    // The store cbuild uses by default: /var/lib/cbuild when running as root (euid 0), else
    // $XDG_DATA_HOME/cbuild when $XDG_DATA_HOME is an absolute path, else
    // $HOME/.local/share/cbuild ($HOME falling back to the password database). Throws
    // cbuild::Error when no home directory can be found.
    static std::filesystem::path default_root();

    // Opens the store at `root`, creating the directory, oci-layout, an empty index.json and
    // blobs/sha256 when absent (safe when several processes do it at once). Throws IoError if
    // they cannot be created, cbuild::Error if `root` holds an oci-layout of another version
    // or an index.json that is not an OCI index.
    explicit ContentStore(std::filesystem::path root);

    // The directory given to the constructor.
    const std::filesystem::path& root() const { return m_root; }

    // Whether the blob is present.
    bool has(const Digest& digest) const;
    // Where the blob is or would be: <root>/blobs/<algorithm>/<hex>. Never checks existence.
    std::filesystem::path blob_path(const Digest& digest) const;
    // The blob's size in bytes, or nullopt when it is absent.
    std::optional<std::uint64_t> blob_size(const Digest& digest) const;
    // The whole blob, for small ones (manifests, configs); nullopt when absent. Throws
    // cbuild::Error if it is larger than `max_size` (without reading it), BlobMismatchError if
    // its bytes no longer hash to `digest` (a corrupt store), IoError if reading fails.
    std::optional<std::string> read_blob(const Digest& digest, std::size_t max_size) const;

    // Stores `bytes` and returns their sha256 digest. Idempotent: an existing blob is kept as
    // is. Throws IoError.
    Digest put_blob(std::string_view bytes);
    // Starts streaming a blob whose digest is learned (or checked) at commit(), or, by_caller,
    // given to it. Throws IoError if the temporary file cannot be created.
    BlobWriter begin_blob(BlobHashing hashing = BlobHashing::by_writer);
    // Streams the file at `path` into the store and returns its digest. Throws IoError naming
    // `path` when it cannot be read, or the store when it cannot be written.
    Digest import_file(const std::filesystem::path& path);

    // Every named entry of index.json, in index order. Throws cbuild::Error naming index.json
    // when a named entry is malformed (bad digest, missing size).
    std::vector<TagEntry> list_tags() const;
    // The first entry named `name`, or nullopt.
    std::optional<TagEntry> resolve(std::string_view name) const;
    // Adds `entry`, or replaces the entry (all entries) with the same name in place; the old
    // entry's other fields (platform…) go with it, since they described the old blob. Does not
    // check that the blob is present. Throws cbuild::Error for an empty name or media type,
    // IoError if index.json cannot be rewritten (it is then unchanged).
    void set_tag(const TagEntry& entry);
    // Removes the entries named `name`; returns whether there were any.
    bool remove_tag(std::string_view name);

private:
    std::filesystem::path m_root;
};

}  // namespace cbuild::cache
