#include "cache/gc.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <ctime>
#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "common/error.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using namespace std::string_literals;

constexpr const char* k_manifest_type = "application/vnd.oci.image.manifest.v1+json";
constexpr const char* k_index_type = "application/vnd.oci.image.index.v1+json";
constexpr const char* k_config_type = "application/vnd.oci.image.config.v1+json";
constexpr const char* k_layer_type = "application/vnd.oci.image.layer.v1.tar+gzip";
constexpr std::int64_t k_hour = 3600;

json descriptor(const char* media_type, const std::string& bytes) {
    return {{"mediaType", media_type}, {"digest", sha256_of(bytes).to_string()}, {"size", bytes.size()}};
}

void set_mtime(const fs::path& path, std::int64_t seconds) {
    const struct timespec times[2] = {{.tv_sec = seconds, .tv_nsec = 0}, {.tv_sec = seconds, .tv_nsec = 0}};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        throw IoError(path.string(), "utimensat", errno);
}

PruneOptions with_all(PruneOptions options = {}) {
    options.all = true;
    return options;
}

PruneOptions keeping(std::uint64_t bytes, PruneOptions options = {}) {
    options.keep_storage = bytes;
    return options;
}

PruneOptions unused_for(std::chrono::seconds age, PruneOptions options = {}) {
    options.until = age;
    return options;
}

PruneOptions dry(PruneOptions options) {
    options.dry_run = true;
    return options;
}

// A store holding one of everything GC tells apart (sizes in the comments are what du counts):
//   tagged "app:1"     manifest M1 → config C1, layers L1 L2
//   tagged "multi:1"   index I → manifest M3 (→ config C3, layer L3), and a platform not pulled
//   untagged image     manifest MU → config CU, layer U1; U1 is what cache record R1 left
//   cache record R2    left L1, which app:1 also uses
//   garbage blob G
//   ingest/            one file two hours old, one fresh
//   snapshots/         A (300 bytes, 3 h old), B (400 bytes twice linked, 1 h old), tmp-old
//                      (2 h), tmp-new
//   cache-mounts/      one mount of 500 bytes, and its lock file
class GcTest : public ::testing::Test {
protected:
    GcTest() {
        m_now = std::time(nullptr);
        const std::string l1(1000, '1'), l2(2000, '2'), l3(3000, '3'), u1(4000, 'u');
        m_m1 = image("app", l1, l2);
        m_store.set_tag({"app:1", k_manifest_type, sha256_of(m_m1), m_m1.size(), {}});

        const std::string c3 = R"({"config":"multi"})";
        m_m3 = json({{"schemaVersion", 2}, {"mediaType", k_manifest_type}, {"config", descriptor(k_config_type, c3)},
                     {"layers", {descriptor(k_layer_type, l3)}}})
                   .dump();
        json missing_platform = descriptor(k_manifest_type, "a manifest this store never pulled");
        m_index_blob = json({{"schemaVersion", 2}, {"mediaType", k_index_type},
                             {"manifests", {descriptor(k_manifest_type, m_m3), missing_platform}}})
                           .dump();
        for (const std::string& bytes : {c3, l3, m_m3, m_index_blob}) m_store.put_blob(bytes);
        m_store.set_tag({"multi:1", k_index_type, sha256_of(m_index_blob), m_index_blob.size(), {}});

        m_mu = image("untagged", u1, "");
        m_u1 = sha256_of(u1);
        m_garbage = m_store.put_blob("garbage, reached by nothing");

        m_r1 = record("RUN make", m_u1, u1.size(), m_now - 3 * k_hour).key;
        m_r2 = record("COPY . /src", sha256_of(l1), l1.size(), m_now - 600).key;
        m_index.set_previous_key("Dockerfile:1:2", m_r1);

        write_sized(m_root / "ingest" / "blob-old", 200, m_now - 2 * k_hour);
        write_sized(m_root / "ingest" / "blob-new", 100, m_now);
        m_snapshot_a = m_root / "snapshots" / std::string(64, 'a');
        m_snapshot_b = m_root / "snapshots" / std::string(64, 'b');
        write_sized(m_snapshot_a / "fs" / "file", 300, m_now - 3 * k_hour);
        write_sized(m_snapshot_b / "fs" / "file", 400, m_now - k_hour);
        fs::create_hard_link(m_snapshot_b / "fs" / "file", m_snapshot_b / "fs" / "link");
        write_sized(m_root / "snapshots" / "tmp-old" / "fs" / "part", 50, m_now - 2 * k_hour);
        write_sized(m_root / "snapshots" / "tmp-new" / "upper" / "part", 60, m_now);
        set_mtime(m_snapshot_a, m_now - 3 * k_hour);
        set_mtime(m_snapshot_b, m_now - k_hour);
        set_mtime(m_root / "snapshots" / "tmp-old", m_now - 2 * k_hour);
        m_mount = m_root / "cache-mounts" / std::string(64, 'c');
        write_sized(m_mount / "apt" / "archive.deb", 500, m_now);
        test::write_file(m_mount.string() + ".lock", "");
    }

    // Stores an image whose config names it, with one or two layers; returns the manifest.
    std::string image(const std::string& name, const std::string& layer, const std::string& second_layer) {
        const std::string config = json({{"name", name}}).dump();
        json layers = {descriptor(k_layer_type, layer)};
        if (!second_layer.empty()) layers.push_back(descriptor(k_layer_type, second_layer));
        const std::string manifest = json({{"schemaVersion", 2}, {"mediaType", k_manifest_type},
                                           {"config", descriptor(k_config_type, config)}, {"layers", layers}})
                                         .dump();
        m_store.put_blob(config);
        m_store.put_blob(layer);
        if (!second_layer.empty()) m_store.put_blob(second_layer);
        m_store.put_blob(manifest);
        return manifest;
    }

    CacheRecord record(const std::string& step, const Digest& layer, std::uint64_t size, std::int64_t last_used) {
        CacheKeyBuilder key;
        key.add("step", step);
        CacheRecord out{.key = key.finish(),
                        .inputs = key.inputs(),
                        .description = "[stage 1/1] " + step,
                        .layer_media_type = k_layer_type,
                        .layer_digest = layer,
                        .layer_size = size,
                        .diff_id = sha256_of("diff " + step),
                        .history_json = "{}",
                        .created = last_used,
                        .last_used = last_used};
        m_index.put(out);
        return out;
    }

    static void write_sized(const fs::path& path, std::size_t size, std::int64_t mtime) {
        test::write_file(path, std::string(size, 'x'));
        set_mtime(path, mtime);
    }

    // Whether the record is there, without refreshing its last use as find() would.
    bool has_record(const Digest& key) const {
        for (const CacheRecord& record : m_index.list())
            if (record.key == key) return true;
        return false;
    }

    bool has(const std::string& bytes) const { return m_store.has(sha256_of(bytes)); }
    bool has(const Digest& digest) const { return m_store.has(digest); }

    // Every blob a tag reaches is still there.
    void expect_tags_intact() const {
        for (const std::string& manifest : {m_m1, m_m3, m_index_blob}) {
            ASSERT_TRUE(has(manifest));
            const json parsed = json::parse(manifest);
            if (parsed.contains("config")) {
                EXPECT_TRUE(has(Digest::parse(parsed["config"]["digest"].get<std::string>())));
                for (const json& layer : parsed["layers"])
                    EXPECT_TRUE(has(Digest::parse(layer["digest"].get<std::string>())));
            }
        }
    }

    // The bytes of <root>/cache's files, as du counts them.
    std::uint64_t cache_dir_bytes() const {
        std::uint64_t bytes = 0;
        for (const auto& entry : fs::recursive_directory_iterator(m_root / "cache"))
            if (entry.is_regular_file()) bytes += entry.file_size();
        return bytes;
    }

    std::uint64_t blob_bytes(const std::vector<std::string>& blobs) const {
        std::uint64_t bytes = 0;
        for (const std::string& blob : blobs) bytes += blob.size();
        return bytes;
    }

    test::TempDir m_temp;
    fs::path m_root = m_temp.path() / "store";
    ContentStore m_store{m_root};
    CacheIndex m_index{cache_index_dir(m_root)};
    std::int64_t m_now = 0;
    std::string m_m1, m_m3, m_index_blob, m_mu;
    Digest m_u1 = sha256_of("");
    Digest m_garbage = sha256_of("");
    Digest m_r1 = sha256_of("");  // the keys of records R1 and R2
    Digest m_r2 = sha256_of("");
    fs::path m_snapshot_a, m_snapshot_b, m_mount;
};

TEST_F(GcTest, DiskUsageAddsUp) {
    const DiskUsage usage = disk_usage(m_root);
    const std::uint64_t tagged = m_m1.size() + R"({"name":"app"})"s.size() + 1000 + 2000 + m_index_blob.size() +
                                 m_m3.size() + R"({"config":"multi"})"s.size() + 3000;
    EXPECT_EQ(usage.tagged_blobs, (Usage{8, tagged}));
    EXPECT_EQ(usage.cache_blobs, (Usage{1, 4000}));
    EXPECT_EQ(usage.unreferenced_blobs,
              (Usage{3, m_mu.size() + R"({"name":"untagged"})"s.size() + "garbage, reached by nothing"s.size()}));
    EXPECT_EQ(usage.snapshots, (Usage{2, 300 + 400}));
    EXPECT_EQ(usage.cache_mounts, (Usage{1, 500}));
    EXPECT_EQ(usage.temporary, (Usage{4, 200 + 100 + 50 + 60}));
    EXPECT_EQ(usage.cache_records, (Usage{2, cache_dir_bytes()}));
    EXPECT_EQ(usage.total_bytes(), usage.tagged_blobs.bytes + usage.cache_blobs.bytes + usage.unreferenced_blobs.bytes +
                                       usage.snapshots.bytes + usage.cache_mounts.bytes + usage.cache_records.bytes +
                                       usage.temporary.bytes);
    EXPECT_EQ(usage.reclaimable_bytes(), usage.total_bytes() - tagged);

    std::size_t records = 0, snapshots = 0, mounts = 0;
    for (const UsageItem& item : usage.items) {
        if (item.kind == UsageItem::Kind::cache_record) {
            ++records;
            if (item.id == m_r1.to_string()) {
                EXPECT_EQ(item.description, "[stage 1/1] RUN make");
                EXPECT_EQ(item.bytes, 4000u);
                EXPECT_EQ(item.last_used, m_now - 3 * k_hour);
            }
        } else if (item.kind == UsageItem::Kind::snapshot) {
            ++snapshots;
            if (item.id == std::string(64, 'a')) {
                EXPECT_EQ(item.last_used, m_now - 3 * k_hour);
            }
        } else {
            ++mounts;
            EXPECT_EQ(item.bytes, 500u);
        }
    }
    EXPECT_EQ(records, 2u);
    EXPECT_EQ(snapshots, 2u);
    EXPECT_EQ(mounts, 1u);
    // Sizes of committed snapshots are remembered; the answer stays the same.
    EXPECT_EQ(disk_usage(m_root).snapshots, usage.snapshots);
}

TEST_F(GcTest, PlainPruneRemovesOnlyGarbageAndDebris) {
    const PruneResult result = prune(m_root, {});
    EXPECT_EQ(result.blobs, 3u);
    EXPECT_EQ(result.temporary, 2u);
    EXPECT_EQ(result.records, 0u);
    EXPECT_EQ(result.snapshots, 0u);
    EXPECT_EQ(result.cache_mounts, 0u);
    EXPECT_EQ(result.bytes_freed, m_mu.size() + R"({"name":"untagged"})"s.size() +
                                      "garbage, reached by nothing"s.size() + 200 + 50);
    expect_tags_intact();
    EXPECT_FALSE(has(m_mu));
    EXPECT_FALSE(has(m_garbage));
    EXPECT_TRUE(has(m_u1)) << "a cache record still reaches it";
    EXPECT_EQ(m_index.list().size(), 2u);
    EXPECT_FALSE(fs::exists(m_root / "ingest" / "blob-old"));
    EXPECT_TRUE(fs::exists(m_root / "ingest" / "blob-new"));
    EXPECT_FALSE(fs::exists(m_root / "snapshots" / "tmp-old"));
    EXPECT_TRUE(fs::exists(m_root / "snapshots" / "tmp-new"));
    EXPECT_TRUE(fs::exists(m_snapshot_a / "fs" / "file"));
    EXPECT_TRUE(fs::exists(m_mount / "apt" / "archive.deb"));
    EXPECT_EQ(prune(m_root, {}).bytes_freed, 0u);
}

TEST_F(GcTest, PruneAllDropsRecordsAndEverythingNoTagReaches) {
    const DiskUsage before = disk_usage(m_root);
    std::uint64_t records_and_steps = 0;
    for (const char* dir : {"records", "steps"})
        for (const auto& entry : fs::directory_iterator(m_root / "cache" / dir)) records_and_steps += entry.file_size();
    const PruneResult result = prune(m_root, with_all());
    EXPECT_EQ(result.records, 2u);
    EXPECT_EQ(result.blobs, 4u);  // MU, CU, G, and U1 once R1 is gone; L1 stays for app:1
    EXPECT_EQ(result.snapshots, 2u);
    EXPECT_EQ(result.cache_mounts, 1u);
    EXPECT_EQ(result.temporary, 2u);
    expect_tags_intact();
    EXPECT_TRUE(m_index.list().empty());
    EXPECT_FALSE(m_index.previous_key("Dockerfile:1:2"));
    EXPECT_FALSE(has(m_u1));
    EXPECT_FALSE(fs::exists(m_snapshot_a));
    EXPECT_FALSE(fs::exists(m_snapshot_b));
    EXPECT_FALSE(fs::exists(m_mount));
    EXPECT_FALSE(fs::exists(m_mount.string() + ".lock"));
    for (const auto& entry : fs::directory_iterator(m_root / "snapshots"))
        EXPECT_EQ(entry.path().filename(), "tmp-new") << "nothing is left half-removed";

    const DiskUsage after = disk_usage(m_root);
    EXPECT_EQ(after.tagged_blobs, before.tagged_blobs);
    EXPECT_EQ(after.cache_blobs, Usage{});
    EXPECT_EQ(after.unreferenced_blobs, Usage{});
    EXPECT_EQ(after.snapshots, Usage{});
    EXPECT_EQ(after.cache_mounts, Usage{});
    EXPECT_EQ(after.temporary, (Usage{2, 100 + 60}));
    EXPECT_EQ(result.bytes_freed, before.cache_blobs.bytes + before.unreferenced_blobs.bytes + before.snapshots.bytes +
                                      before.cache_mounts.bytes + records_and_steps + 200 + 50);
}

TEST_F(GcTest, ADryRunRemovesNothingAndReportsWhatARealRunRemoves) {
    const DiskUsage before = disk_usage(m_root);
    const PruneResult dry_run = prune(m_root, dry(with_all()));
    const DiskUsage unchanged = disk_usage(m_root);
    EXPECT_EQ(unchanged.total_bytes(), before.total_bytes());
    EXPECT_EQ(unchanged.items.size(), before.items.size());
    const PruneResult real = prune(m_root, with_all());
    EXPECT_EQ(dry_run.bytes_freed, real.bytes_freed);
    EXPECT_EQ(dry_run.records, real.records);
    EXPECT_EQ(dry_run.blobs, real.blobs);
    EXPECT_EQ(dry_run.snapshots, real.snapshots);
    EXPECT_EQ(dry_run.cache_mounts, real.cache_mounts);
    EXPECT_EQ(dry_run.temporary, real.temporary);
}

TEST_F(GcTest, KeepStorageRemovesLeastRecentlyUsedFirst) {
    const DiskUsage before = disk_usage(m_root);
    const std::uint64_t garbage = before.unreferenced_blobs.bytes + 200 + 50;
    const std::uint64_t after_garbage = before.total_bytes() - garbage;

    // One byte over: the oldest snapshot (A) goes, nothing else.
    PruneResult result = prune(m_root, keeping(after_garbage - 1));
    EXPECT_EQ(result.snapshots, 1u);
    EXPECT_EQ(result.records, 0u);
    EXPECT_FALSE(fs::exists(m_snapshot_a));
    EXPECT_TRUE(fs::exists(m_snapshot_b));
    EXPECT_EQ(result.bytes_freed, garbage + 300);

    // Over by more than the other snapshot: B goes, then the least recently used record (R1,
    // taking U1 with it), and the store is under the limit, so R2 stays.
    const std::uint64_t now_total = disk_usage(m_root).total_bytes();
    result = prune(m_root, keeping(now_total - 401));
    EXPECT_EQ(result.snapshots, 1u);
    EXPECT_EQ(result.records, 1u);
    EXPECT_EQ(result.blobs, 1u);
    EXPECT_FALSE(has_record(m_r1));
    EXPECT_FALSE(has(m_u1));
    EXPECT_TRUE(has_record(m_r2));
    EXPECT_TRUE(fs::exists(m_mount)) << "cache mounts go only with --all";

    // A limit below what the tags need: everything else goes, the tags stay.
    result = prune(m_root, keeping(0));
    EXPECT_EQ(result.records, 1u);
    EXPECT_EQ(result.blobs, 0u) << "R2's layer is app:1's";
    expect_tags_intact();
    EXPECT_TRUE(fs::exists(m_mount));
    prune(m_root, with_all(keeping(0)));
    EXPECT_FALSE(fs::exists(m_mount));
    expect_tags_intact();
}

TEST_F(GcTest, UntilSparesWhatWasUsedRecently) {
    const PruneResult result = prune(m_root, unused_for(std::chrono::hours(2)));
    EXPECT_EQ(result.records, 1u);
    EXPECT_EQ(result.snapshots, 1u);
    EXPECT_FALSE(has_record(m_r1));
    EXPECT_TRUE(has_record(m_r2));
    EXPECT_FALSE(fs::exists(m_snapshot_a));
    EXPECT_TRUE(fs::exists(m_snapshot_b));

    EXPECT_EQ(prune(m_root, with_all(unused_for(std::chrono::hours(2)))).cache_mounts, 0u)
        << "the cache mount was just used";
    EXPECT_TRUE(fs::exists(m_mount));
}

TEST_F(GcTest, UnreadableRecordsAndStaleTemporaryFilesAreDebris) {
    const fs::path broken = m_root / "cache" / "records" / ("sha256-" + std::string(64, 'e'));
    test::write_file(broken, "cbuild-cache-record 1\nkey 3:abc");
    const fs::path stale_temp = m_root / "cache" / "records" / ".sha256-x.tmp.AbCdEf";
    const fs::path fresh_temp = m_root / "cache" / ".file-hashes.tmp.AbCdEf";
    write_sized(stale_temp, 10, m_now - 2 * k_hour);
    write_sized(fresh_temp, 10, m_now);
    const PruneResult result = prune(m_root, {});
    EXPECT_EQ(result.temporary, 2u + 2u);
    EXPECT_FALSE(fs::exists(broken));
    EXPECT_FALSE(fs::exists(stale_temp));
    EXPECT_TRUE(fs::exists(fresh_temp));
    EXPECT_EQ(m_index.list().size(), 2u);
}

TEST_F(GcTest, ATaggedManifestThatIsNotJsonStopsThePruneBeforeAnythingGoes) {
    const Digest broken = m_store.put_blob("this is not a manifest");
    m_store.set_tag({"broken:1", k_manifest_type, broken, 22, {}});
    EXPECT_THROW(prune(m_root, with_all()), Error);
    EXPECT_TRUE(has(m_garbage));
    EXPECT_EQ(m_index.list().size(), 2u);
    m_store.remove_tag("broken:1");
    prune(m_root, with_all());
    EXPECT_FALSE(has(m_garbage));
    EXPECT_FALSE(has(broken));
}

TEST_F(GcTest, UnnamedIndexEntriesKeepTheirBlobsToo) {
    json index = json::parse(test::read_file(m_root / "index.json"));
    index["manifests"].push_back(descriptor(k_manifest_type, m_mu));  // no ref.name annotation
    test::write_file(m_root / "index.json", index.dump());
    prune(m_root, with_all());
    EXPECT_TRUE(has(m_mu));
    EXPECT_TRUE(has(m_u1));
    EXPECT_FALSE(has(m_garbage));
}

TEST_F(GcTest, TryPruneDoesNothingWhileALeaseIsHeld) {
    {
        const GcLease lease(m_root);
        const GcLease another(m_root);  // leases share
        EXPECT_FALSE(try_prune(m_root, with_all()));
        EXPECT_TRUE(has(m_garbage));
        EXPECT_TRUE(try_prune(m_root, dry({}))) << "a dry run removes nothing, so a lease does not stop it";
        EXPECT_NO_THROW(disk_usage(m_root));
    }
    const auto result = try_prune(m_root, with_all());
    ASSERT_TRUE(result);
    EXPECT_EQ(result->records, 2u);
    EXPECT_FALSE(has(m_garbage));
}

TEST_F(GcTest, DefaultLimitIsATenthOfTheFilesystemAtMostTenGigabytes) {
    struct statvfs info {};
    ASSERT_EQ(::statvfs(m_root.c_str(), &info), 0);
    const std::uint64_t tenth = static_cast<std::uint64_t>(info.f_blocks) * info.f_frsize / 10;
    EXPECT_EQ(default_gc_limit(m_root), std::min<std::uint64_t>(tenth, 10'000'000'000));
    EXPECT_EQ(default_gc_limit(m_root / "not" / "yet" / "made"), default_gc_limit(m_root));
}

// `cbuild prune` and `cbuild du` over the same store.
class PruneCommandTest : public GcTest {
protected:
    test::CommandResult cbuild(const std::string& args) {
        return test::run_cbuild("--root " + test::shell_quote(m_root.string()) + " " + args);
    }
};

TEST_F(PruneCommandTest, DuPrintsCategoriesWithReclaimableAndTotal) {
    const test::CommandResult du = cbuild("du");
    ASSERT_EQ(du.status, 0) << du.output;
    EXPECT_NE(du.output.find("Reclaimable:"), std::string::npos) << du.output;
    EXPECT_NE(du.output.find("Total:"), std::string::npos) << du.output;
    EXPECT_NE(du.output.find("snapshots"), std::string::npos) << du.output;
    const test::CommandResult verbose = cbuild("du --verbose");
    ASSERT_EQ(verbose.status, 0) << verbose.output;
    EXPECT_NE(verbose.output.find("[stage 1/1] RUN make"), std::string::npos) << verbose.output;
    EXPECT_NE(verbose.output.find(m_r1.hex().substr(0, 12)), std::string::npos) << verbose.output;
}

TEST_F(PruneCommandTest, PrunePrintsTheReclaimedSpace) {
    const test::CommandResult dry = cbuild("prune --all --dry-run");
    ASSERT_EQ(dry.status, 0) << dry.output;
    EXPECT_TRUE(m_store.has(m_garbage));
    const test::CommandResult all = cbuild("prune --all");
    ASSERT_EQ(all.status, 0) << all.output;
    EXPECT_NE(all.output.find("Total reclaimed space: "), std::string::npos) << all.output;
    EXPECT_FALSE(m_store.has(m_garbage));
    EXPECT_TRUE(m_index.list().empty());
    const test::CommandResult again = cbuild("prune");
    EXPECT_NE(again.output.find("Total reclaimed space: 0B"), std::string::npos) << again.output;
}

TEST_F(PruneCommandTest, PruneTakesDockersSizesAndDurations) {
    EXPECT_EQ(cbuild("prune --keep-storage 1.5g --filter until=24h").status, 0);
    EXPECT_TRUE(has_record(m_r1));
    const test::CommandResult until = cbuild("prune --filter until=2h30m");
    ASSERT_EQ(until.status, 0) << until.output;
    EXPECT_FALSE(has_record(m_r1));
    EXPECT_TRUE(has_record(m_r2));
    EXPECT_EQ(cbuild("prune --keep-storage 10GB").status, 0);
    EXPECT_EQ(cbuild("prune --keep-storage 512MB --filter until=10s --dry-run").status, 0);
    for (const char* bad : {"--keep-storage 10XB", "--keep-storage ''", "--keep-storage -1", "--filter until=soon",
                            "--filter label=x", "--filter until=10", "extra"}) {
        const test::CommandResult result = cbuild(std::string("prune ") + bad);
        EXPECT_EQ(result.status, 2) << bad << ": " << result.output;
    }
    EXPECT_EQ(cbuild("du extra").status, 2);
    EXPECT_EQ(cbuild("prune --help").status, 0);
}

}  // namespace
}  // namespace cbuild::cache
