#include "builder/snapshot/internal/layer_stream.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/unique_fd.h"
#include "builder/snapshot/unpack.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::size_t k_input_size = std::size_t{1} << 17;
constexpr std::array<unsigned char, 2> k_gzip_magic = {0x1f, 0x8b};
constexpr std::array<unsigned char, 4> k_zstd_magic = {0x28, 0xb5, 0x2f, 0xfd};

enum class Format { plain, gzip, zstd };

}  // namespace

struct LayerStream::Decoder {
    std::string path;
    UniqueFd fd;
    std::vector<unsigned char> input = std::vector<unsigned char>(k_input_size);
    std::size_t input_begin = 0;
    std::size_t input_end = 0;
    bool file_ended = false;
    bool stream_ended = false;
    Format format = Format::plain;
    z_stream zlib{};
    bool zlib_ready = false;
    ZSTD_DCtx* zstd = nullptr;
    bool frame_open = false;  // zstd: inside a frame that has not ended yet

    ~Decoder() {
        if (zlib_ready) inflateEnd(&zlib);
        if (zstd != nullptr) ZSTD_freeDCtx(zstd);
    }

    [[noreturn]] void corrupt(const std::string& reason) const {
        throw UnpackError("layer `" + path + "`: corrupt compressed data: " + reason);
    }

    std::size_t available() const { return input_end - input_begin; }

    // Reads more of the file into the input buffer; false at the end of the file.
    bool refill() {
        if (file_ended) return false;
        if (input_begin > 0) {
            std::memmove(input.data(), input.data() + input_begin, available());
            input_end -= input_begin;
            input_begin = 0;
        }
        for (;;) {
            const ssize_t got = ::read(fd.get(), input.data() + input_end, input.size() - input_end);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw IoError(path, "read", errno);
            if (got == 0) file_ended = true;
            input_end += static_cast<std::size_t>(got);
            return got > 0;
        }
    }

    std::size_t read_plain(std::span<std::byte> buffer) {
        if (available() == 0 && !refill()) return 0;
        const std::size_t n = std::min(buffer.size(), available());
        std::memcpy(buffer.data(), input.data() + input_begin, n);
        input_begin += n;
        return n;
    }

    std::size_t read_gzip(std::span<std::byte> buffer) {
        zlib.next_out = reinterpret_cast<Bytef*>(buffer.data());
        zlib.avail_out = static_cast<uInt>(buffer.size());
        while (zlib.avail_out == buffer.size() && !stream_ended) {
            if (available() == 0) refill();
            zlib.next_in = input.data() + input_begin;
            zlib.avail_in = static_cast<uInt>(available());
            const int status = inflate(&zlib, Z_NO_FLUSH);
            input_begin = input_end - zlib.avail_in;
            if (status == Z_STREAM_END) {
                // Another member may follow (pigz and concatenated blobs write several).
                if (available() == 0 && !refill())
                    stream_ended = true;
                else if (inflateReset(&zlib) != Z_OK)
                    corrupt("inflateReset failed");
            } else if (status == Z_BUF_ERROR) {
                if (available() == 0 && file_ended) corrupt("the gzip stream is truncated");
            } else if (status != Z_OK) {
                corrupt(zlib.msg != nullptr ? zlib.msg : "inflate error " + std::to_string(status));
            }
        }
        return buffer.size() - zlib.avail_out;
    }

    std::size_t read_zstd(std::span<std::byte> buffer) {
        ZSTD_outBuffer output{buffer.data(), buffer.size(), 0};
        while (output.pos == 0 && !stream_ended) {
            if (available() == 0 && !refill() && !frame_open) {
                stream_ended = true;
                break;
            }
            // With no input left this still flushes what the decoder holds for a full buffer.
            ZSTD_inBuffer in{input.data() + input_begin, available(), 0};
            const std::size_t status = ZSTD_decompressStream(zstd, &output, &in);
            input_begin += in.pos;
            if (ZSTD_isError(status)) corrupt(ZSTD_getErrorName(status));
            frame_open = status != 0;
            if (frame_open && output.pos == 0 && in.pos == 0 && file_ended && available() == 0)
                corrupt("the zstd stream is truncated");
        }
        return output.pos;
    }
};

LayerStream::LayerStream(const std::filesystem::path& blob) : m_decoder(std::make_unique<Decoder>()) {
    Decoder& decoder = *m_decoder;
    decoder.path = blob.string();
    decoder.fd = UniqueFd(::open(blob.c_str(), O_RDONLY | O_CLOEXEC));
    if (!decoder.fd) throw IoError(decoder.path, "open", errno);
    while (decoder.available() < k_zstd_magic.size() && decoder.refill()) {
    }
    const unsigned char* head = decoder.input.data();
    if (decoder.available() >= k_gzip_magic.size() &&
        std::memcmp(head, k_gzip_magic.data(), k_gzip_magic.size()) == 0) {
        decoder.format = Format::gzip;
        if (inflateInit2(&decoder.zlib, 16 + MAX_WBITS) != Z_OK) throw Error("zlib: inflateInit2 failed");
        decoder.zlib_ready = true;
    } else if (decoder.available() >= k_zstd_magic.size() &&
               std::memcmp(head, k_zstd_magic.data(), k_zstd_magic.size()) == 0) {
        decoder.format = Format::zstd;
        decoder.zstd = ZSTD_createDCtx();
        if (decoder.zstd == nullptr) throw Error("zstd: cannot allocate a decompression context");
    }
}

LayerStream::~LayerStream() = default;

std::size_t LayerStream::read(std::span<std::byte> buffer) {
    if (buffer.empty()) return 0;
    std::size_t n = 0;
    switch (m_decoder->format) {
    case Format::plain: n = m_decoder->read_plain(buffer); break;
    case Format::gzip: n = m_decoder->read_gzip(buffer); break;
    case Format::zstd: n = m_decoder->read_zstd(buffer); break;
    }
    m_hash.update(buffer.first(n));
    return n;
}

Digest LayerStream::finish() {
    std::vector<std::byte> rest(std::size_t{1} << 16);
    while (read(rest) > 0) {
    }
    return m_hash.finish();
}

}  // namespace cbuild::builder::internal
