#pragma once
// Streaming compressors for layer blobs: gzip (ISA-L igzip or zlib, by level) and zstd.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

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

// Where one gzip member lies in the blob (header and trailer included) and what it holds.
struct GzipMember {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::uint64_t tar_size = 0;  // uncompressed bytes
    std::uint32_t crc32 = 0;     // of the uncompressed bytes, as in the member's trailer
};

// gzip written as a series of members (RFC 1952 2.2: a gzip file is members back to back, and
// every reader, Go's compress/gzip and so containerd included, reads them as one stream). Each
// member is compressed on its own, so one made earlier from the same bytes can stand in for
// compressing them again.
class GzipCompressor : public Compressor {
public:
    explicit GzipCompressor(ByteSink& downstream);

    void write(std::span<const std::byte> bytes) override;
    using ByteSink::write;

    // Closes the member the bytes written since the last end went into; nothing when there are
    // none.
    void end_member();

    // Ends the current member, then has `copy` write a whole gzip member made earlier as the
    // next one: `size` bytes whose trailer says `crc32` over `tar_size` bytes. Throws
    // cbuild::Error when `copy` writes another number of bytes.
    void append_member(std::uint64_t size, std::uint32_t crc32, std::uint64_t tar_size,
                       const std::function<void(ByteSink&)>& copy);

    // Ends the last member (an empty stream gets one empty member).
    void finish() override;

    // The members written so far, in order.
    const std::vector<GzipMember>& members() const { return m_members; }

protected:
    // Compresses `input` into the raw deflate stream, calling emit() with output as it comes;
    // `last` ends the stream.
    virtual void deflate(std::span<const std::byte> input, bool last) = 0;
    // Makes the engine ready for a new raw deflate stream, with the same settings.
    virtual void reset_engine() = 0;

    std::uint8_t* output() { return reinterpret_cast<std::uint8_t*>(m_output.data()); }
    std::size_t output_capacity() const { return m_output.size(); }
    void emit(std::size_t produced);

private:
    void begin_member_once();
    void pass_on(std::span<const std::byte> bytes);

    ByteSink& m_downstream;
    std::vector<std::byte> m_output;
    std::vector<GzipMember> m_members;
    std::uint64_t m_written = 0;  // bytes passed downstream
    std::uint64_t m_member_offset = 0;
    std::uint32_t m_crc = 0;
    std::uint64_t m_input_size = 0;
    bool m_member_open = false;
};

// The gzip compressor for `level` (already validated; none = the default).
std::unique_ptr<GzipCompressor> make_gzip_compressor(std::optional<int> level, ByteSink& downstream);

// The library, its version and the level that `level` compresses with ("isa-l 2.30.0 level 1"):
// a member made by another engine would not be what this one makes of the same bytes.
std::string gzip_engine_name(std::optional<int> level);

// The compressor for gzip or zstd (not uncompressed) at `level` (already validated; none =
// the default). zstd compresses on `zstd_workers` threads of its own (at least 1).
std::unique_ptr<Compressor> make_compressor(Compression compression, std::optional<int> level,
                                            unsigned zstd_workers, ByteSink& downstream);

}  // namespace cbuild::builder::internal
