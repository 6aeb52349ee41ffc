#include "builder/snapshot/layer_writer.h"

#include <algorithm>
#include <memory>
#include <thread>
#include <utility>

#include "builder/snapshot/internal/compressor.h"
#include "builder/snapshot/internal/layer_order.h"
#include "builder/snapshot/internal/pipe.h"
#include "builder/snapshot/internal/prefetch.h"
#include "builder/snapshot/internal/tar_stream.h"

namespace cbuild::builder {

LayerError::LayerError(std::string path, const std::string& reason)
    : Error("layer entry `" + path + "`: " + reason), m_path(std::move(path)) {}

Compression parse_compression(std::string_view name) {
    for (const Compression compression : {Compression::gzip, Compression::zstd, Compression::uncompressed})
        if (name == compression_name(compression)) return compression;
    throw UsageError("unknown compression `" + std::string(name) + "` (expected gzip, zstd or uncompressed)");
}

std::string_view compression_name(Compression compression) {
    switch (compression) {
    case Compression::gzip: return "gzip";
    case Compression::zstd: return "zstd";
    case Compression::uncompressed: return "uncompressed";
    }
    return "uncompressed";
}

std::string_view layer_media_type(Compression compression) {
    switch (compression) {
    case Compression::gzip: return "application/vnd.oci.image.layer.v1.tar+gzip";
    case Compression::zstd: return "application/vnd.oci.image.layer.v1.tar+zstd";
    case Compression::uncompressed: return "application/vnd.oci.image.layer.v1.tar";
    }
    return "application/vnd.oci.image.layer.v1.tar";
}

void validate_level(Compression compression, std::optional<int> level) {
    if (!level) return;
    const std::string name(compression_name(compression));
    if (compression == Compression::uncompressed)
        throw UsageError("compression level " + std::to_string(*level) + " given for an uncompressed layer");
    const auto [low, high] = compression == Compression::gzip ? std::pair{0, 9} : std::pair{1, 22};
    if (*level < low || *level > high)
        throw UsageError(name + " compression level " + std::to_string(*level) + " is out of range (" +
                         std::to_string(low) + " to " + std::to_string(high) + ")");
}

// Requests in flight for reading files ahead (see internal/prefetch.h); they wait on the disk,
// not on a core, so there are more of them than cores.
constexpr unsigned k_prefetch_threads = 8;

LayerDigests write_layer(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts,
                         ByteSink& out, const LayerOptions& options) {
    using internal::Pipe;
    using internal::RunOn;
    validate_level(options.compression, options.level);
    const std::vector<LayerEntry> ordered =
        internal::order_layer(std::move(entries), std::move(whiteouts), options.source_date_epoch.value_or(0));

    const unsigned cores = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    const RunOn run_on = cores > 1 ? RunOn::worker_thread : RunOn::caller_thread;
    const bool compressed = options.compression != Compression::uncompressed;

    // tar + diff_id (this thread) → compress (a worker) → digest + `out` (another worker): the
    // three run side by side. zstd compresses on workers of its own, so it is fed from this
    // thread (through a Pipe all the same, which fixes how its input is split). Declared from
    // the sink back so that destruction, on an error, stops each worker before what it writes
    // to goes away.
    internal::HashingSink blob(&out);
    Pipe to_sink(compressed ? static_cast<ByteSink&>(blob) : out, run_on);
    std::unique_ptr<internal::Compressor> compressor;
    std::unique_ptr<Pipe> to_compressor;
    if (compressed) {
        compressor = internal::make_compressor(options.compression, options.level, cores, to_sink);
        const bool own_workers = options.compression == Compression::zstd;
        to_compressor = std::make_unique<Pipe>(*compressor, own_workers ? RunOn::caller_thread : run_on);
    }
    internal::HashingSink tar(compressed ? static_cast<ByteSink*>(to_compressor.get()) : &to_sink);

    internal::TarStream stream(tar, options.source_date_epoch);
    internal::Prefetcher prefetcher(ordered, k_prefetch_threads);
    for (std::size_t i = 0; i < ordered.size(); ++i) {
        prefetcher.reached(i);
        stream.add(ordered[i]);
    }
    stream.finish();
    if (compressed) {
        to_compressor->finish();
        compressor->finish();
    }
    to_sink.finish();

    const Digest diff_id = tar.finish();
    return LayerDigests{
        .diff_id = diff_id,
        .digest = compressed ? blob.finish() : diff_id,
        .size = compressed ? blob.size() : tar.size(),
        .tar_size = tar.size(),
        .media_type = std::string(layer_media_type(options.compression)),
    };
}

}  // namespace cbuild::builder
