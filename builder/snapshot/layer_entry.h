#pragma once
// One entry of a filesystem layer: what the COPY/ADD resolver produces, what the file tree of
// a stage records, and what the layer writer turns into a tar entry.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "common/digest.h"
#include "common/file_identity.h"

namespace cbuild::builder {

enum class EntryType { file, directory, symlink, hardlink, char_device, block_device, fifo };

// Where a regular file's bytes come from when the layer is written. Exactly one is set for a
// regular file: a host path (read when the tar is written, so it must still hold the same
// bytes), or the bytes themselves (heredocs, small generated files).
struct EntryContent {
    std::string host_path;
    std::shared_ptr<const std::string> bytes;
    // What stat() said of host_path when the entry was made, when it was (context files): the
    // cache key hashes the file through it without a second stat().
    std::optional<FileIdentity> identity;
    // The sha256 of the bytes, when the step's cache key computed it: the layer writer reuses
    // a gzip member of the step's previous layer only for entries whose content it knows
    // (layer_members.h).
    std::optional<Digest> digest;
};

struct LayerEntry {
    // The path inside the image, relative to its root, `/`-separated, no leading `/`, no `.`
    // or `..` components, no trailing `/` ("app/bin/tool"). The root itself is never an entry.
    std::string path;
    EntryType type = EntryType::file;
    std::uint32_t mode = 0644;  // permission bits plus setuid/setgid/sticky (no file-type bits)
    std::uint32_t uid = 0;
    std::uint32_t gid = 0;
    std::int64_t mtime_seconds = 0;
    std::uint32_t mtime_nanoseconds = 0;
    std::uint64_t size = 0;          // regular files
    std::string link_target;         // symlink: as written; hardlink: the image path it links to
    std::uint32_t device_major = 0;  // char/block devices
    std::uint32_t device_minor = 0;
    std::map<std::string, std::string> xattrs;  // name → value, e.g. security.capability
    EntryContent content;
};

// A whiteout: the layer deletes `path` from the layers below (an OCI `.wh.NAME` entry).
// `opaque` marks a directory whose lower contents are all hidden (`.wh..wh..opq`).
struct Whiteout {
    std::string path;
    bool opaque = false;
};

}  // namespace cbuild::builder
