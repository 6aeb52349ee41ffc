#include "builder/snapshot/layer_writer.h"

#include <fcntl.h>
#include <isa-l/crc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <map>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "builder/snapshot/internal/compressor.h"
#include "builder/snapshot/internal/layer_order.h"
#include "builder/snapshot/internal/member_plan.h"
#include "builder/snapshot/internal/pipe.h"
#include "builder/snapshot/internal/prefetch.h"
#include "builder/snapshot/internal/tar_stream.h"
#include "common/unique_fd.h"

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

namespace {

// The donor's blob and its members by fingerprint. Empty (finds nothing) when there is no donor,
// it was compressed by another engine, or its blob cannot be opened: the layer is then
// compressed in full, as without one. Members are read through a window of fixed size, so
// memory does not grow with them.
class DonorMembers {
public:
    DonorMembers(const LayerDonor* donor, const std::string& engine) {
        if (donor == nullptr || donor->members.engine != engine || donor->members.members.empty()) return;
        UniqueFd fd(::open(donor->blob.c_str(), O_RDONLY | O_CLOEXEC));
        struct stat status {};
        if (!fd || ::fstat(fd.get(), &status) != 0) return;
        const LayerMember& last = donor->members.members.back();
        if (static_cast<std::uint64_t>(status.st_size) != last.offset + last.size) return;
        m_path = donor->blob.string();
        m_fd = std::move(fd);
        m_buffer.resize(k_window);
        for (const LayerMember& member : donor->members.members)
            if (member.fingerprint) m_by_fingerprint.emplace(member.fingerprint->to_string(), &member);
    }

    const LayerMember* find(const std::optional<Digest>& fingerprint) const {
        if (!fingerprint) return nullptr;
        const auto it = m_by_fingerprint.find(fingerprint->to_string());
        return it == m_by_fingerprint.end() ? nullptr : it->second;
    }

    // Writes the member's bytes to `to`, reading the blob a window at a time. Throws IoError.
    void copy(const LayerMember& member, ByteSink& to) {
        std::uint64_t position = member.offset;
        const std::uint64_t end = member.offset + member.size;
        while (position < end) {
            const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(k_window, end - position));
            const ssize_t got = ::pread(m_fd.get(), m_buffer.data(), want, static_cast<off_t>(position));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw IoError(m_path, "read", errno);
            if (got == 0) throw IoError(m_path, "read", EIO);  // the blob shrank under us
            to.write(std::span<const std::byte>(m_buffer.data(), static_cast<std::size_t>(got)));
            position += static_cast<std::uint64_t>(got);
        }
    }

private:
    static constexpr std::size_t k_window = std::size_t{1} << 20;
    std::string m_path;
    UniqueFd m_fd;
    std::vector<std::byte> m_buffer;
    std::map<std::string, const LayerMember*> m_by_fingerprint;
};

// After the diff_id's hash, a member's tar bytes go on to the compressor; those of a member the
// donor supplies go only into a CRC-32 and a count, to be checked against the donor's.
class MemberRouter final : public ByteSink {
public:
    explicit MemberRouter(ByteSink& compressor) : m_compressor(compressor) {}

    void write(std::span<const std::byte> bytes) override {
        if (!m_checking) return m_compressor.write(bytes);
        m_crc = crc32_gzip_refl(m_crc, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
        m_size += bytes.size();
    }
    using ByteSink::write;

    // What follows is the next member: compressed, or checked against `donor` when given.
    void begin(const LayerMember* donor) {
        m_checking = donor != nullptr;
        m_crc = 0;
        m_size = 0;
    }
    bool holds(const LayerMember& donor) const { return m_crc == donor.crc32 && m_size == donor.tar_size; }

private:
    ByteSink& m_compressor;
    bool m_checking = false;
    std::uint32_t m_crc = 0;
    std::uint64_t m_size = 0;
};

}  // namespace

LayerDigests write_layer(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts,
                         ByteSink& out, const LayerOptions& options, const LayerDonor* donor) {
    using internal::Pipe;
    using internal::RunOn;
    validate_level(options.compression, options.level);
    const std::vector<LayerEntry> ordered =
        internal::order_layer(std::move(entries), std::move(whiteouts), options.source_date_epoch.value_or(0));

    const unsigned cores = options.threads != 0 ? options.threads : std::max(1u, std::thread::hardware_concurrency());
    const RunOn run_on = cores > 1 ? RunOn::worker_thread : RunOn::caller_thread;
    const bool compressed = options.compression != Compression::uncompressed;
    const bool gzip = options.compression == Compression::gzip;

    // Before the pipeline: the compressor's worker reads from it until the pipeline stops.
    const std::string engine = gzip ? internal::gzip_engine_name(options.level) : "";
    DonorMembers donor_members(gzip ? donor : nullptr, engine);

    // tar + diff_id (this thread) → compress (a worker) → digest + `out` (another worker): the
    // three run side by side. zstd compresses on workers of its own, so it is fed from this
    // thread (through a Pipe all the same, which fixes how its input is split). Declared from
    // the sink back so that destruction, on an error, stops each worker before what it writes
    // to goes away.
    internal::HashingSink blob(&out);
    Pipe to_sink(compressed ? static_cast<ByteSink&>(blob) : out, run_on);
    std::unique_ptr<internal::Compressor> compressor;
    internal::GzipCompressor* gzip_compressor = nullptr;
    std::unique_ptr<Pipe> to_compressor;
    if (gzip) {
        auto made = internal::make_gzip_compressor(options.level, to_sink);
        gzip_compressor = made.get();
        compressor = std::move(made);
    } else if (compressed) {
        compressor = internal::make_compressor(options.compression, options.level, cores, to_sink);
    }
    if (compressed) {
        const bool own_workers = options.compression == Compression::zstd;
        to_compressor = std::make_unique<Pipe>(*compressor, own_workers ? RunOn::caller_thread : run_on);
    }
    MemberRouter router(to_compressor ? static_cast<ByteSink&>(*to_compressor) : to_sink);
    internal::HashingSink tar(&router);

    internal::TarStream stream(tar, options.source_date_epoch);
    internal::Prefetcher prefetcher(ordered, k_prefetch_threads);
    std::vector<internal::PlannedMember> plan;
    if (gzip) plan = internal::plan_members(ordered, options.source_date_epoch);
    else plan.push_back({0, ordered.size(), std::nullopt});
    std::uint64_t reused_bytes = 0;
    for (const internal::PlannedMember& member : plan) {
        const LayerMember* reusable = donor_members.find(member.fingerprint);
        router.begin(reusable);
        for (std::size_t i = member.begin; i < member.end; ++i) {
            prefetcher.reached(i);
            stream.add(ordered[i]);
        }
        if (!gzip) continue;
        if (reusable == nullptr) {
            to_compressor->then([gzip_compressor] { gzip_compressor->end_member(); });
            continue;
        }
        if (!router.holds(*reusable))
            throw DonorMismatch("layer entries `" + ordered[member.begin].path + "` to `" + ordered[member.end - 1].path +
                                "` do not hold the bytes of the previous layer's member with the same fingerprint");
        to_compressor->then([gzip_compressor, &donor_members, reusable] {
            gzip_compressor->append_member(reusable->size, reusable->crc32, reusable->tar_size,
                                           [&](ByteSink& to) { donor_members.copy(*reusable, to); });
        });
        reused_bytes += reusable->size;
    }
    router.begin(nullptr);
    stream.finish();
    if (compressed) {
        to_compressor->finish();
        compressor->finish();
    }
    to_sink.finish();

    const Digest diff_id = tar.finish();
    LayerDigests digests{
        .diff_id = diff_id,
        .digest = compressed ? blob.finish() : diff_id,
        .size = compressed ? blob.size() : tar.size(),
        .tar_size = tar.size(),
        .media_type = std::string(layer_media_type(options.compression)),
        .members = std::nullopt,
        .reused_bytes = reused_bytes,
    };
    if (gzip) {
        const std::vector<internal::GzipMember>& written = gzip_compressor->members();
        // One per planned member, and the end-of-archive blocks' own.
        if (written.size() != plan.size() + 1)
            throw Error("layer writer: " + std::to_string(written.size()) + " gzip members written for " +
                        std::to_string(plan.size()) + " planned");
        LayerMembers members{.engine = engine, .blob = digests.digest, .members = {}};
        for (std::size_t i = 0; i < written.size(); ++i) {
            members.members.push_back(LayerMember{.fingerprint = i < plan.size() ? plan[i].fingerprint : std::nullopt,
                                                  .offset = written[i].offset,
                                                  .size = written[i].size,
                                                  .tar_size = written[i].tar_size,
                                                  .crc32 = written[i].crc32});
        }
        digests.members = std::move(members);
    }
    return digests;
}

}  // namespace cbuild::builder
