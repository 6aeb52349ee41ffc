// Layer writer benchmark: the COPY scenario's context (../shared/bench/gen_context.py: 20k files,
// 300 MB) written as one layer by write_layer() into a sink that discards, against the floor
// tools on the same tree: `tar -c | openssl dgst -sha256` (read + hash), `tar -c | igzip -1` (or
// `gzip -1` without ISA-L's tool) and `tar -c | zstd -3 -T0`. The target is within 2× of the
// floor. Prints medians of repeated warm-cache runs, and the ratios.
//
// Usage: layer_bench [CONTEXT_DIR] [--runs N] [--cold]
//   CONTEXT_DIR defaults to $TMPDIR/cbuild-layer-bench-context, generated if missing.
//   --cold drops the page cache before every run (needs root).

#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "builder/snapshot/layer_writer.h"
#include "common/error.h"

namespace {

namespace fs = std::filesystem;
using cbuild::builder::Compression;
using cbuild::builder::EntryType;
using cbuild::builder::LayerEntry;
using Clock = std::chrono::steady_clock;

constexpr double k_target_ratio = 2.0;

class DiscardSink : public cbuild::ByteSink {
public:
    void write(std::span<const std::byte> bytes) override { size += bytes.size(); }
    using ByteSink::write;
    std::uint64_t size = 0;
};

// What the COPY resolver would hand the layer writer for `root`: every entry under it.
std::vector<LayerEntry> entries_of(const fs::path& root) {
    std::vector<LayerEntry> entries;
    for (const fs::directory_entry& item : fs::recursive_directory_iterator(root)) {
        struct stat status {};
        if (lstat(item.path().c_str(), &status) != 0) throw cbuild::IoError(item.path(), "lstat", errno);
        LayerEntry entry;
        entry.path = "app/" + item.path().lexically_relative(root).generic_string();  // no symlink resolution
        entry.mode = status.st_mode & 07777;
        entry.uid = status.st_uid;
        entry.gid = status.st_gid;
        entry.mtime_seconds = status.st_mtim.tv_sec;
        entry.mtime_nanoseconds = static_cast<std::uint32_t>(status.st_mtim.tv_nsec);
        if (S_ISDIR(status.st_mode)) {
            entry.type = EntryType::directory;
        } else if (S_ISLNK(status.st_mode)) {
            entry.type = EntryType::symlink;
            entry.link_target = fs::read_symlink(item.path()).string();
        } else if (S_ISREG(status.st_mode)) {
            entry.size = static_cast<std::uint64_t>(status.st_size);
            entry.content.host_path = item.path().string();
        } else {
            continue;
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

bool have(const char* tool) {
    return std::system(("command -v " + std::string(tool) + " >/dev/null 2>&1").c_str()) == 0;
}

void run_shell(const std::string& command) {
    const std::string wrapped = "bash -c 'set -o pipefail; " + command + "'";
    if (std::system(wrapped.c_str()) != 0) throw cbuild::Error("failed: " + command);
}

struct Options {
    fs::path context;
    int runs = 3;
    bool cold = false;
};

// Median wall seconds of `runs` runs of `body`, each after the cache preparation.
double median_seconds(const Options& options, const std::function<void()>& body) {
    std::vector<double> seconds;
    for (int i = 0; i < options.runs; ++i) {
        if (options.cold) {
            run_shell("sync && echo 3 > /proc/sys/vm/drop_caches");
        }
        const auto start = Clock::now();
        body();
        seconds.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    std::sort(seconds.begin(), seconds.end());
    return seconds[seconds.size() / 2];
}

Options parse_arguments(int argc, char** argv) {
    Options options;
    const char* tmp = std::getenv("TMPDIR");
    options.context = fs::path(tmp != nullptr ? tmp : "/tmp") / "cbuild-layer-bench-context";
    for (int i = 1; i < argc; ++i) {
        const std::string argument = argv[i];
        if (argument == "--runs" && i + 1 < argc) options.runs = std::max(1, std::atoi(argv[++i]));
        else if (argument == "--cold") options.cold = true;
        else options.context = argument;
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) try {
    const Options options = parse_arguments(argc, argv);
    if (!fs::exists(options.context / "CHANGE_ME.txt")) {
        std::printf("generating the context in %s\n", options.context.c_str());
        run_shell("python3 " + std::string(CBUILD_SHARED_DIR) + "/bench/gen_context.py " + options.context.string() +
                  " >/dev/null");
    }
    const std::string dir = options.context.string();
    const auto walk_start = Clock::now();
    const std::vector<LayerEntry> entries = entries_of(options.context);
    const double walk = std::chrono::duration<double>(Clock::now() - walk_start).count();
    std::printf("context %s: %zu entries (walk %.3f s, not counted below); %s cache, median of %d runs\n",
                dir.c_str(), entries.size(), walk, options.cold ? "cold" : "warm", options.runs);
    run_shell("tar -c -C " + dir + " . > /dev/null");  // warm the cache (and check tar works)

    auto ours = [&](Compression compression) {
        DiscardSink sink;
        std::optional<cbuild::builder::LayerDigests> digests;
        const double seconds = median_seconds(options, [&] {
            cbuild::builder::LayerOptions layer_options;
            layer_options.compression = compression;
            digests = cbuild::builder::write_layer(entries, {}, sink, layer_options);
        });
        std::printf("  write_layer %-12s %7.3f s  (tar %.1f MB -> blob %.1f MB)\n",
                    std::string(cbuild::builder::compression_name(compression)).c_str(), seconds,
                    static_cast<double>(digests->tar_size) / 1e6, static_cast<double>(digests->size) / 1e6);
        return seconds;
    };
    auto floor = [&](const std::string& label, const std::string& pipeline) {
        const double seconds = median_seconds(options, [&] { run_shell("tar -c -C " + dir + " . | " + pipeline); });
        std::printf("  floor %-18s %7.3f s  (tar -c | %s)\n", label.c_str(), seconds, pipeline.c_str());
        return seconds;
    };

    const std::string gzip_tool = have("igzip") ? "igzip -1 -c" : "gzip -1 -c";
    const double ours_tar = ours(Compression::uncompressed);
    const double ours_gzip = ours(Compression::gzip);
    const double ours_zstd = ours(Compression::zstd);
    const double floor_hash = floor("read+sha256", "openssl dgst -sha256 >/dev/null");
    const double floor_gzip = floor("read+gzip", gzip_tool + " >/dev/null");
    const double floor_zstd = floor("read+zstd", "zstd -q -3 -T0 -c >/dev/null");

    // The serial floor of the work write_layer does: read, hash the tar, compress, hash the blob
    // (the blob's hash is small next to the others and left out).
    auto report = [&](const char* what, double ours_seconds, double floor_seconds, const char* floor_what) {
        const double ratio = ours_seconds / floor_seconds;
        std::printf("%-13s ours / %-34s = %.2f  (target <= %.1f: %s)\n", what, floor_what, ratio, k_target_ratio,
                    ratio <= k_target_ratio ? "met" : "MISSED");
    };
    std::printf("ratios:\n");
    report("uncompressed", ours_tar, floor_hash, "(tar | sha256)");
    report("gzip", ours_gzip, floor_gzip, ("(tar | " + gzip_tool.substr(0, gzip_tool.find(" -c")) + ")").c_str());
    report("gzip", ours_gzip, floor_gzip + floor_hash, "(tar | gzip) + (tar | sha256)");
    report("zstd", ours_zstd, floor_zstd, "(tar | zstd -3 -T0)");
    report("zstd", ours_zstd, floor_zstd + floor_hash, "(tar | zstd) + (tar | sha256)");
    return 0;
} catch (const std::exception& error) {
    std::fprintf(stderr, "layer_bench: %s\n", error.what());
    return 1;
}
