#pragma once
// The uncompressed bytes of a layer blob, whatever its compression (gzip, zstd or none, told
// by the magic bytes), hashed as they are read: the unpacker gets the tar and the diff_id in
// one pass over the blob.

#include <cstddef>
#include <filesystem>
#include <memory>
#include <span>

#include "common/digest.h"

namespace cbuild::builder::internal {

class LayerStream {
public:
    // Opens `blob`. Throws IoError when it cannot be opened or read.
    explicit LayerStream(const std::filesystem::path& blob);
    ~LayerStream();
    LayerStream(const LayerStream&) = delete;
    LayerStream& operator=(const LayerStream&) = delete;

    // Up to `buffer.size()` uncompressed bytes; 0 at the end of the stream. Throws UnpackError
    // for corrupt or truncated compressed data (gzip members and zstd frames may follow each
    // other; anything else after the last one is corrupt), IoError when the blob cannot be read.
    std::size_t read(std::span<std::byte> buffer);

    // Reads whatever is left (the tar reader stops at the end-of-archive blocks, but the
    // diff_id covers every byte) and returns the sha256 of the whole uncompressed stream.
    // Throws as read() does.
    Digest finish();

private:
    struct Decoder;
    std::unique_ptr<Decoder> m_decoder;
    Sha256 m_hash;
};

}  // namespace cbuild::builder::internal
