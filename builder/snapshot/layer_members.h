#pragma once
// The gzip members of a layer blob, recorded so that the next write of the same step can copy
// the compressed bytes of every member whose entries did not change instead of compressing them
// again: a one-line change in a large COPY then costs reading and hashing the files, not
// compressing them all.
//
// write_layer() cuts a gzip layer into members (RFC 1952 2.2 lets members follow each other;
// every reader, Go's compress/gzip and so containerd, Docker and skopeo included, reads them as
// one stream) at points chosen by the entries alone: after an entry once a member holds at least
// 1 MiB of tar and the entry's path hashes to one of 16 values, or once it holds 8 MiB. So the
// same entries always give the same members, and a change moves the cut points only near it.
// Each member is compressed on its own, so its bytes are a function of its tar bytes and the
// engine: a reused member is byte for byte what compressing it again would give, and a layer
// written with a donor is the blob a cold write gives.
//
// A member is reused only when
//   - its fingerprint matches: the sha256 of every field of its entries that the tar holds
//     (path, type, mode, owner, clamped mtime, size, link target, device numbers, xattrs) and of
//     each file's content digest, the one the step's cache key was computed from (a member
//     with a file whose digest is unknown has no fingerprint and is never reused);
//   - the engine (library, version, level) is the one the donor was written with; and
//   - the tar bytes written now for those entries have the member's length and CRC-32, which
//     catches a file that changed after it was hashed. Otherwise the write stops with
//     DonorMismatch and is redone without the donor.
//
// Stored as JSON text (encode_layer_members()):
//   {"format": "cbuild-layer-members 1", "engine": "isa-l 2.30.0 level 1",
//    "blob": "sha256:…", "members": [["sha256:…" or null, offset, size, tar_size, crc32], …]}

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/digest.h"

namespace cbuild::builder {

struct LayerMember {
    std::optional<Digest> fingerprint;  // none: never reused
    std::uint64_t offset = 0;           // in the blob, the gzip header included
    std::uint64_t size = 0;             // compressed bytes, header and trailer included
    std::uint64_t tar_size = 0;         // uncompressed bytes
    std::uint32_t crc32 = 0;            // of the uncompressed bytes, as the member's trailer says

    friend bool operator==(const LayerMember&, const LayerMember&) = default;
};

struct LayerMembers {
    std::string engine;  // the gzip engine, its version and level (see layer_writer.h)
    Digest blob = sha256_of("");
    std::vector<LayerMember> members;  // in blob order, covering it whole

    friend bool operator==(const LayerMembers&, const LayerMembers&) = default;
};

std::string encode_layer_members(const LayerMembers& members);

// What encode_layer_members() wrote, or nullopt for anything else (another format, a torn or
// edited file): the table is only a shortcut, and without it the layer is compressed anew.
std::optional<LayerMembers> decode_layer_members(std::string_view text);

}  // namespace cbuild::builder
