#include "builder/snapshot/internal/compressor.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include <isa-l.h>
#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <zlib.h>
#include <zstd.h>

#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

// The gzip level used when none is given: ISA-L's level 1, the `igzip -1` the benchmark
// compares with. On the COPY scenario's context (measured with the CLI tools) ISA-L levels 1
// and 2 both run at ~500 MB/s and level 2 is 1 % (whole context) to 3 % (its text files)
// smaller; zlib's -6 is 6 % to 17 % smaller but ~18× slower. Level 1 keeps layer export on
// par with reading the files.
constexpr int k_default_isal_level = 1;
constexpr std::size_t k_output_buffer_size = 256 * 1024;
// Bounds one call into a library whose lengths are 32-bit.
constexpr std::size_t k_max_call_input = std::size_t{1} << 30;

// RFC 1952 member header: no name, no comment, mtime 0, XFL 0, OS 255 ("unknown"), the
// header Go's compress/gzip writes, so the blob does not depend on the host or the time.
constexpr std::array<std::uint8_t, 10> k_gzip_header = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};

}  // namespace

// The RFC 1952 framing around a raw deflate stream, shared by both engines, one member at a time.
GzipCompressor::GzipCompressor(ByteSink& downstream) : m_downstream(downstream), m_output(k_output_buffer_size) {}

void GzipCompressor::write(std::span<const std::byte> bytes) {
    if (bytes.empty()) return;
    begin_member_once();
    while (!bytes.empty()) {
        const std::span<const std::byte> piece = bytes.first(std::min(bytes.size(), k_max_call_input));
        m_crc = crc32_gzip_refl(m_crc, reinterpret_cast<const unsigned char*>(piece.data()), piece.size());
        m_input_size += piece.size();
        deflate(piece, false);
        bytes = bytes.subspan(piece.size());
    }
}

void GzipCompressor::end_member() {
    if (!m_member_open) return;
    deflate({}, true);
    std::array<std::uint8_t, 8> trailer{};
    for (int i = 0; i < 4; ++i) {
        trailer[i] = static_cast<std::uint8_t>(m_crc >> (8 * i));
        trailer[4 + i] = static_cast<std::uint8_t>(m_input_size >> (8 * i));  // ISIZE: size mod 2^32
    }
    pass_on(std::as_bytes(std::span(trailer)));
    m_members.push_back(GzipMember{.offset = m_member_offset,
                                   .size = m_written - m_member_offset,
                                   .tar_size = m_input_size,
                                   .crc32 = m_crc});
    m_member_open = false;
    m_crc = 0;
    m_input_size = 0;
    reset_engine();
}

void GzipCompressor::append_member(std::uint64_t size, std::uint32_t crc32, std::uint64_t tar_size,
                                   const std::function<void(ByteSink&)>& copy) {
    end_member();
    const std::uint64_t offset = m_written;
    struct Forward final : ByteSink {
        GzipCompressor& to;
        explicit Forward(GzipCompressor& compressor) : to(compressor) {}
        void write(std::span<const std::byte> bytes) override { to.pass_on(bytes); }
        using ByteSink::write;
    } forward(*this);
    copy(forward);
    if (m_written - offset != size)
        throw Error("gzip: a copied member has " + std::to_string(m_written - offset) + " bytes, expected " +
                    std::to_string(size));
    m_members.push_back(GzipMember{.offset = offset, .size = size, .tar_size = tar_size, .crc32 = crc32});
}

void GzipCompressor::finish() {
    // An empty stream is still one (empty) member: a gzip file has at least one.
    if (m_members.empty()) begin_member_once();
    end_member();
}

void GzipCompressor::emit(std::size_t produced) {
    if (produced > 0) pass_on(std::span<const std::byte>(m_output.data(), produced));
}

void GzipCompressor::pass_on(std::span<const std::byte> bytes) {
    m_downstream.write(bytes);
    m_written += bytes.size();
}

void GzipCompressor::begin_member_once() {
    if (m_member_open) return;
    m_member_open = true;
    m_member_offset = m_written;
    pass_on(std::as_bytes(std::span(k_gzip_header)));
}

namespace {

// ISA-L's igzip: levels 1–3, several times faster than zlib at comparable ratios. ISA-L picks
// its code paths by CPU feature; they are meant to emit the same stream, which the tests can
// only check on the machine they run on.
class IsalGzipCompressor final : public GzipCompressor {
public:
    IsalGzipCompressor(ByteSink& downstream, int level) : GzipCompressor(downstream) {
        isal_deflate_init(&m_stream);
        m_level_buffer.resize(level == 1 ? ISAL_DEF_LVL1_DEFAULT
                              : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                                           : ISAL_DEF_LVL3_DEFAULT);
        m_stream.level = static_cast<std::uint32_t>(level);
        m_stream.level_buf = m_level_buffer.data();
        m_stream.level_buf_size = static_cast<std::uint32_t>(m_level_buffer.size());
        m_stream.gzip_flag = IGZIP_DEFLATE;  // raw: GzipCompressor writes the framing
        m_stream.flush = NO_FLUSH;
    }

private:
    void deflate(std::span<const std::byte> input, bool last) override {
        // ISA-L does not write through next_in; its API just lacks the const.
        m_stream.next_in = const_cast<std::uint8_t*>(reinterpret_cast<const std::uint8_t*>(input.data()));
        m_stream.avail_in = static_cast<std::uint32_t>(input.size());
        m_stream.end_of_stream = last ? 1 : 0;
        for (;;) {
            m_stream.next_out = output();
            m_stream.avail_out = static_cast<std::uint32_t>(output_capacity());
            if (const int status = isal_deflate(&m_stream); status != COMP_OK)
                throw Error("gzip: isal_deflate failed with status " + std::to_string(status));
            emit(output_capacity() - m_stream.avail_out);
            const bool done = last ? m_stream.internal_state.state == ZSTATE_END
                                   : m_stream.avail_in == 0 && m_stream.avail_out != 0;
            if (done) return;
        }
    }

    void reset_engine() override { isal_deflate_reset(&m_stream); }

    isal_zstream m_stream{};
    std::vector<std::uint8_t> m_level_buffer;
};

// zlib: level 0 (stored) and levels 4–9, which ISA-L does not have.
class ZlibGzipCompressor final : public GzipCompressor {
public:
    ZlibGzipCompressor(ByteSink& downstream, int level) : GzipCompressor(downstream) {
        // -15: a raw deflate stream with zlib's largest window.
        if (deflateInit2(&m_stream, level, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
            throw Error("gzip: zlib deflateInit2 failed at level " + std::to_string(level));
    }
    ~ZlibGzipCompressor() override { deflateEnd(&m_stream); }
    ZlibGzipCompressor(const ZlibGzipCompressor&) = delete;
    ZlibGzipCompressor& operator=(const ZlibGzipCompressor&) = delete;

private:
    void deflate(std::span<const std::byte> input, bool last) override {
        // zlib does not write through next_in; its API just lacks the const.
        m_stream.next_in = const_cast<Bytef*>(reinterpret_cast<const Bytef*>(input.data()));
        m_stream.avail_in = static_cast<uInt>(input.size());
        for (;;) {
            m_stream.next_out = output();
            m_stream.avail_out = static_cast<uInt>(output_capacity());
            const int status = ::deflate(&m_stream, last ? Z_FINISH : Z_NO_FLUSH);
            if (status == Z_STREAM_ERROR) throw Error("gzip: zlib deflate failed");
            emit(output_capacity() - m_stream.avail_out);
            if (last ? status == Z_STREAM_END : m_stream.avail_out != 0) return;
        }
    }

    void reset_engine() override {
        if (deflateReset(&m_stream) != Z_OK) throw Error("gzip: zlib deflateReset failed");
    }

    z_stream m_stream{};
};

class ZstdCompressor final : public Compressor {
public:
    ZstdCompressor(ByteSink& downstream, int level, unsigned workers)
        : m_downstream(downstream), m_context(ZSTD_createCCtx(), &ZSTD_freeCCtx), m_output(ZSTD_CStreamOutSize()) {
        if (m_context == nullptr) throw Error("zstd: cannot create a compression context");
        set(ZSTD_c_compressionLevel, level, "compression level");
        set(ZSTD_c_checksumFlag, 1, "checksum flag");
        // Never 0: single-threaded zstd frames differ from multi-threaded ones, which do not
        // depend on the number of workers. A libzstd built without threads fails here.
        set(ZSTD_c_nbWorkers, static_cast<int>(std::max(workers, 1u)),
            "worker count (is libzstd built with multithreading?)");
        // Levels 3–7 use a 2 MiB window and zstd cuts 8 MiB jobs, buffering several per worker
        // (~75 MiB on two workers). 4 MiB jobs halve that for 0.2 % more output on the COPY
        // benchmark; other levels keep zstd's choice (smaller jobs cost ratio at high levels).
        if (level >= 3 && level <= 7) set(ZSTD_c_jobSize, 4 << 20, "job size");
    }

    void write(std::span<const std::byte> bytes) override {
        ZSTD_inBuffer input{bytes.data(), bytes.size(), 0};
        while (input.pos < input.size) compress(input, ZSTD_e_continue);
    }
    using ByteSink::write;

    void finish() override {
        ZSTD_inBuffer input{nullptr, 0, 0};
        while (compress(input, ZSTD_e_end) != 0) {
        }
    }

private:
    // One call into zstd; returns what it says is left to flush.
    std::size_t compress(ZSTD_inBuffer& input, ZSTD_EndDirective directive) {
        ZSTD_outBuffer output{m_output.data(), m_output.size(), 0};
        const std::size_t remaining = ZSTD_compressStream2(m_context.get(), &output, &input, directive);
        check(remaining, "compression");
        if (output.pos > 0) m_downstream.write(std::span<const std::byte>(m_output.data(), output.pos));
        return remaining;
    }

    void set(ZSTD_cParameter parameter, int value, const char* what) {
        check(ZSTD_CCtx_setParameter(m_context.get(), parameter, value), what);
    }

    static void check(std::size_t result, const char* what) {
        if (ZSTD_isError(result)) throw Error(std::string("zstd: ") + what + ": " + ZSTD_getErrorName(result));
    }

    ByteSink& m_downstream;
    std::unique_ptr<ZSTD_CCtx, decltype(&ZSTD_freeCCtx)> m_context;
    std::vector<std::byte> m_output;
};

}  // namespace

std::unique_ptr<GzipCompressor> make_gzip_compressor(std::optional<int> level, ByteSink& downstream) {
    if (!level) return std::make_unique<IsalGzipCompressor>(downstream, k_default_isal_level);
    if (*level >= 1 && *level <= ISAL_DEF_MAX_LEVEL) return std::make_unique<IsalGzipCompressor>(downstream, *level);
    return std::make_unique<ZlibGzipCompressor>(downstream, *level);
}

std::string gzip_engine_name(std::optional<int> level) {
    const int effective = level.value_or(k_default_isal_level);
    if (effective >= 1 && effective <= ISAL_DEF_MAX_LEVEL)
        return "isa-l " + std::to_string(ISAL_MAJOR_VERSION) + "." + std::to_string(ISAL_MINOR_VERSION) + "." +
               std::to_string(ISAL_PATCH_VERSION) + " level " + std::to_string(effective);
    return std::string("zlib ") + ZLIB_VERSION + " level " + std::to_string(effective);
}

std::unique_ptr<Compressor> make_compressor(Compression compression, std::optional<int> level,
                                            unsigned zstd_workers, ByteSink& downstream) {
    switch (compression) {
    case Compression::gzip: return make_gzip_compressor(level, downstream);
    case Compression::zstd:
        return std::make_unique<ZstdCompressor>(downstream, level.value_or(ZSTD_CLEVEL_DEFAULT), zstd_workers);
    case Compression::uncompressed:
        break;
    }
    throw Error("make_compressor: no compressor for an uncompressed layer");
}

}  // namespace cbuild::builder::internal
