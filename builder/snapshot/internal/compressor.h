#pragma once
// Streaming compressors for layer blobs: gzip (ISA-L igzip or zlib, by level) and zstd.

#include <memory>
#include <optional>

#include "builder/snapshot/layer_writer.h"
#include "common/byte_sink.h"

namespace cbuild::builder::internal {

// A ByteSink that compresses what it is written into `downstream`. The output depends only on
// the bytes and on how they were split into write() calls (the pipeline splits them the same
// way whatever the threading). Throws cbuild::Error if the library fails.
class Compressor : public ByteSink {
public:
    // Writes what is still buffered and the stream's end (trailer, checksum). Call once.
    virtual void finish() = 0;
};

// The compressor for gzip or zstd (not uncompressed) at `level` (already validated; none =
// the default). zstd compresses on `zstd_workers` threads of its own (at least 1).
std::unique_ptr<Compressor> make_compressor(Compression compression, std::optional<int> level,
                                            unsigned zstd_workers, ByteSink& downstream);

}  // namespace cbuild::builder::internal
