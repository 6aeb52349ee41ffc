#pragma once
// The layer writer: the entries and whiteouts of one layer → a deterministic PAX tar, compressed
// and streamed to a ByteSink, with the diff_id, digest and size computed in the same pass.
//
// The tar (what the diff_id names) is a function of the entries alone:
//   - Entries in path order, compared component by component, so a parent precedes its
//     children and a directory's subtree is contiguous; within a directory the opaque marker
//     comes first, then the whiteouts, then everything else (OCI layer.md: whiteouts SHOULD
//     precede their siblings).
//   - POSIX.1-2001 pax (ustar headers, `x` extended headers only where needed), written by
//     libarchive with the header charset pinned to UTF-8, whatever the process locale: a
//     non-ASCII path goes into a `path` record as is; one that is not valid UTF-8 gets
//     `hdrcharset=BINARY`. Extended-header names are `DIR/PaxHeader/NAME` (no pid).
//   - Numeric uid/gid; uname and gname empty. Mode bits 07777 (setuid, setgid, sticky kept).
//     Directories are named `path/`. Symlinks and hardlinks carry the target in linkname;
//     char/block devices their major/minor; fifos nothing more. Extended attributes are
//     `SCHILY.xattr.NAME` records (what Go's archive/tar, and so containerd and BuildKit, read).
//   - mtime as given (sub-second precision in a pax `mtime` record when non-zero). With
//     source_date_epoch set, any mtime later than it becomes it (BuildKit's rewrite-timestamp).
//     atime and ctime are never written.
//   - A whiteout of `dir/name` is an empty regular file `dir/.wh.name`; an opaque directory
//     `dir` gets `dir/.wh..wh..opq` (OCI layer.md). Both have mode 0, uid/gid 0 and mtime
//     source_date_epoch, or 0 without one.
//   - A hardlink group is written with the content on the member that sorts first and every
//     other member linking to it, so extraction never meets a link before its target.
//   - The archive ends with two zero blocks and is not padded to a 10 KiB record.
// The compressed blob is a function of the tar, the compression and the level; it also
// depends on the compression library's version, as with every image builder. A gzip blob is a
// series of members cut at entry boundaries by the entries alone (layer_members.h), so that a
// later write of the same step can reuse the members whose entries did not change.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "builder/snapshot/layer_entry.h"
#include "builder/snapshot/layer_members.h"
#include "common/byte_sink.h"
#include "common/digest.h"
#include "common/error.h"

namespace cbuild::builder {

// How a layer blob is compressed.
enum class Compression { gzip, zstd, uncompressed };

// "gzip", "zstd" or "uncompressed". Throws UsageError naming the value otherwise.
Compression parse_compression(std::string_view name);

// The name parse_compression() accepts for `compression`.
std::string_view compression_name(Compression compression);

// The OCI media type of a layer blob: application/vnd.oci.image.layer.v1.tar, +gzip or +zstd.
std::string_view layer_media_type(Compression compression);

// Checks a compression level: gzip takes 0–9, zstd 1–22, uncompressed none. Throws UsageError
// naming the level and the range. No level means the compression's default.
//
// gzip levels: 0 stores (zlib level 0); 1–3 are ISA-L's levels 1–3 (igzip: about zlib -1's
// ratio, a little better at 2 and 3, at 10× zlib -1's speed); 4–9 are zlib's levels 4–9. The
// default is ISA-L level 1 (`igzip -1`). zstd levels are libzstd's; the default is 3.
void validate_level(Compression compression, std::optional<int> level);

struct LayerOptions {
    Compression compression = Compression::gzip;
    std::optional<int> level;  // see validate_level(); none = the compression's default
    // Clamp every mtime later than this (seconds since the epoch) to it, as BuildKit does
    // with SOURCE_DATE_EPOCH.
    std::optional<std::int64_t> source_date_epoch;
    // Cores to use: 0 = all of them. 1 runs everything on the calling thread, except that zstd
    // always compresses on at least one worker of its own: its output differs between no
    // worker and any number of them, but not between one worker and many.
    unsigned threads = 0;
};

struct LayerDigests {
    Digest diff_id;             // sha256 of the uncompressed tar
    Digest digest;              // sha256 of the blob written to `out` (= diff_id when uncompressed)
    std::uint64_t size = 0;      // bytes written to `out`
    std::uint64_t tar_size = 0;  // bytes of the uncompressed tar
    std::string media_type;     // layer_media_type() of the compression
    // gzip: the blob's members, for the next write of the same step (layer_members.h).
    std::optional<LayerMembers> members;
    std::uint64_t reused_bytes = 0;  // bytes of the blob copied from the donor's members
};

// The layer an earlier build of the same step wrote, offered to write_layer() for its members.
struct LayerDonor {
    std::filesystem::path blob;  // the donor's blob file (its members.blob)
    LayerMembers members;
};

// A member the donor offered did not hold the bytes written now for the same entries: a file
// changed after its content digest was taken, or the donor's blob is not what its table says.
// `out` holds a partial blob: discard it and write the layer again without the donor.
class DonorMismatch : public Error {
public:
    using Error::Error;
};

// A layer that cannot be written as given: a malformed or duplicate path, a name starting with
// `.wh.`, file content missing or different from the entry's size (the file changed during the
// build), a hardlink cycle or a hardlink to a directory. The message names the image path.
class LayerError : public Error {
public:
    LayerError(std::string path, const std::string& reason);

    // The path inside the image ("app/bin/tool").
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

// Writes the layer made of `entries` (any order) and `whiteouts` to `out` as described at the
// top of this file, reading regular files' content from `content.host_path` (or
// `content.bytes`) in chunks. Memory does not grow with the files or the layer: ~10 MiB of
// buffers, plus ~12 MiB per zstd worker at zstd's default level (more at high levels, whose
// windows are larger). `out` is written from a worker thread, one call at a time, and has
// received every byte when this returns. Throws LayerError (see above), UsageError for a bad
// level, IoError when a file cannot be read, and whatever `out` throws; on an exception `out`
// holds a partial blob that the caller must discard.
//
// With a `donor` (gzip only; ignored when it was written by another engine or level, or its blob
// cannot be read), a member whose fingerprint matches one of the donor's is copied from the
// donor's blob instead of compressed: the result is the same blob. Throws DonorMismatch when a
// copied member's tar bytes turn out to differ (see above).
LayerDigests write_layer(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts,
                         ByteSink& out, const LayerOptions& options, const LayerDonor* donor = nullptr);

}  // namespace cbuild::builder
