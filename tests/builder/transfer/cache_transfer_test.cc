// The shared build cache between two stores: exported to the real distribution registry
// (Debian's docker-registry) or an OCI layout, imported into a fresh store and index, and read
// back by skopeo.

#include "builder/transfer/cache_transfer.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>

#include "builder/snapshot/layer_writer.h"
#include "common/error.h"
#include "registry/image.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;
using test::in_ci;
using test::RegistryServer;

constexpr std::size_t k_big = 64 << 20;

// One machine's state: a content store, its cache index and its cache-mount directories.
struct Machine {
    explicit Machine(const fs::path& root)
        : store(root / "store"), index(cache::cache_index_dir(root / "store")), cache_mounts(root / "cache-mounts") {}

    cache::ContentStore store;
    cache::CacheIndex index;
    fs::path cache_mounts;
};

std::vector<cache::CacheRecord> sorted(std::vector<cache::CacheRecord> records) {
    std::sort(records.begin(), records.end(),
              [](const cache::CacheRecord& a, const cache::CacheRecord& b) { return a.key < b.key; });
    return records;
}

class CacheTransferTest : public ::testing::Test {
protected:
    CacheTransferTest() : m_a(m_dir.path() / "a"), m_b(m_dir.path() / "b") {}

    // The registry, or null after skipping (failing under CI=true) when it is not installed.
    std::unique_ptr<RegistryServer> start_registry() {
        if (auto missing = RegistryServer::missing_tool({})) {
            if (in_ci()) ADD_FAILURE() << "missing " << *missing << " (scripts/install-deps installs it)";
            return nullptr;
        }
        return std::make_unique<RegistryServer>(RegistryServer::Options{});
    }

    // A real layer holding /NAME with `content`, written into `machine`'s store, and a record of
    // a step that produced it.
    static cache::CacheRecord make_record(Machine& machine, const std::string& name, const std::string& content,
                                          Compression compression = Compression::gzip) {
        LayerEntry entry;
        entry.path = name;
        entry.size = content.size();
        entry.mtime_seconds = 1700000000;
        entry.content.bytes = std::make_shared<const std::string>(content);
        cache::BlobWriter blob = machine.store.begin_blob();
        LayerOptions options;
        options.compression = compression;
        const LayerDigests layer = write_layer({entry}, {}, blob, options);
        blob.commit(layer.digest, layer.size);
        return record_for(name, layer);
    }

    static cache::CacheRecord record_for(const std::string& step, const LayerDigests& layer) {
        cache::CacheKeyBuilder key;
        key.add("instruction", "RUN make " + step).add_list("argv", {"/bin/sh", "-c", "make " + step + "\n\"x y\""});
        return cache::CacheRecord{.key = key.finish(),
                                  .inputs = key.inputs(),
                                  .description = "[stage 1/2] RUN make " + step,
                                  .layer_media_type = layer.media_type,
                                  .layer_digest = layer.digest,
                                  .layer_size = layer.size,
                                  .diff_id = layer.diff_id,
                                  .history_json = R"({"created_by":"RUN make )" + step + R"(","comment":"<&>"})",
                                  .created = 1700000000,
                                  .last_used = 1700000500};
    }

    // Three records over three layers (one zstd), plus a fourth step whose layer is the first's.
    std::vector<cache::CacheRecord> records_in_a() {
        std::vector<cache::CacheRecord> records{make_record(m_a, "one", "first layer\n"),
                                                make_record(m_a, "two", std::string(300000, 'z')),
                                                make_record(m_a, "three", "zstd layer\n", Compression::zstd)};
        cache::CacheRecord same_layer = records[0];
        cache::CacheKeyBuilder key;
        key.add("instruction", "COPY one /");
        same_layer.key = key.finish();
        same_layer.inputs = key.inputs();
        same_layer.description = "[stage 2/2] COPY one /";
        records.push_back(same_layer);
        for (const cache::CacheRecord& record : records) m_a.index.put(record);
        return records;
    }

    // Every record of `records` is in B's index as it was in A's, and B's store holds each layer
    // with its bytes matching its digest.
    void expect_imported(const std::vector<cache::CacheRecord>& records) {
        EXPECT_EQ(sorted(m_b.index.list()), sorted(records));
        for (const cache::CacheRecord& record : records) {
            const auto bytes = m_b.store.read_blob(record.layer_digest, k_big);  // verifies the digest
            ASSERT_TRUE(bytes) << record.layer_digest.to_string();
            EXPECT_EQ(bytes->size(), record.layer_size);
            EXPECT_TRUE(m_b.index.find(record.key));
        }
    }

    // A cache-mount directory of `machine` as run_step makes one: named by the id's sha256.
    static fs::path cache_mount(const Machine& machine, const std::string& id) {
        return machine.cache_mounts / sha256_of(id).hex();
    }

    test::TempDir m_dir;
    Machine m_a;
    Machine m_b;
    registry::Client m_client;
};

TEST_F(CacheTransferTest, RegistryRoundTripBetweenTwoStores) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    const std::vector<cache::CacheRecord> records = records_in_a();
    const CacheExportSpec to{.type = CacheExportSpec::Type::registry, .ref = server->host() + "/team/app:cache"};

    const CacheExportResult first = export_cache(m_client, m_a.store, m_a.index.list(), m_a.cache_mounts, to);
    EXPECT_EQ(first.records, 4u);
    EXPECT_EQ(first.layers, 3u);  // the shared layer is in the manifest once
    EXPECT_EQ(first.uploaded, 4u);  // three layers and the config

    const CacheImportSpec from{.type = CacheImportSpec::Type::registry, .ref = to.ref};
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from), 4u);
    expect_imported(records);
    EXPECT_FALSE(fs::exists(m_b.cache_mounts));

    // The same records again: every blob is already there.
    const CacheExportResult second = export_cache(m_client, m_a.store, m_a.index.list(), m_a.cache_mounts, to);
    EXPECT_EQ(second.manifest, first.manifest);
    EXPECT_EQ(second.uploaded, 0u);
    EXPECT_EQ(second.mounted, 0u);
    EXPECT_EQ(second.existed, 4u);
}

TEST_F(CacheTransferTest, ManifestIsAnOciManifestWithTheCacheConfig) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    const std::vector<cache::CacheRecord> records = records_in_a();
    const CacheExportSpec to{.type = CacheExportSpec::Type::registry, .ref = server->host() + "/team/app:cache"};
    const CacheExportResult result = export_cache(m_client, m_a.store, records, m_a.cache_mounts, to);

    const registry::FetchedManifest fetched = m_client.fetch_manifest(registry::Reference::parse(to.ref));
    EXPECT_EQ(fetched.media_type, registry::k_oci_manifest);
    EXPECT_EQ(fetched.digest, result.manifest);
    const registry::ImageManifest manifest = registry::parse_manifest(fetched.bytes);
    EXPECT_EQ(manifest.config.media_type, k_cache_config_media_type);
    ASSERT_EQ(manifest.layers.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(manifest.layers[i].digest, records[i].layer_digest);
        EXPECT_EQ(manifest.layers[i].media_type, records[i].layer_media_type);
        EXPECT_EQ(manifest.layers[i].size, static_cast<std::int64_t>(records[i].layer_size));
    }
    test::StringSink config;
    m_client.fetch_blob(registry::Reference::parse(to.ref), manifest.config, config);
    const nlohmann::json document = nlohmann::json::parse(config.bytes());
    EXPECT_EQ(document["version"], 1);
    ASSERT_EQ(document["records"].size(), 4u);
    EXPECT_EQ(document["records"][3]["layer"], 0);
    EXPECT_EQ(document["records"][0]["history"], records[0].history_json);
    EXPECT_TRUE(document["cache_mounts"].empty());
}

TEST_F(CacheTransferTest, CacheMountsRoundTrip) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    const std::vector<cache::CacheRecord> records{make_record(m_a, "one", "layer\n")};
    const fs::path go_cache = cache_mount(m_a, "go-build");
    fs::create_directories(go_cache / "ab" / "cd");
    test::write_file(go_cache / "ab" / "cd" / "object", "compiled bytes");
    test::write_file(go_cache / "README", "cache");
    ASSERT_EQ(::chmod((go_cache / "README").c_str(), 0600), 0);
    fs::create_symlink("ab/cd/object", go_cache / "latest");
    ASSERT_EQ(::chmod(go_cache.c_str(), 0700), 0);
    const fs::path empty_cache = cache_mount(m_a, "/root/.cache/pip");
    fs::create_directories(empty_cache);
    // A private mount's second copy and the lock files are not the cache.
    fs::create_directories(go_cache.string() + "-1");
    test::write_file(go_cache.string() + "-1/private", "x");
    test::write_file(go_cache.string() + ".lock", "");

    const CacheExportSpec to{.type = CacheExportSpec::Type::registry,
                             .ref = server->host() + "/team/app:cache",
                             .cache_mounts = true};
    const CacheExportResult result = export_cache(m_client, m_a.store, records, m_a.cache_mounts, to);
    EXPECT_EQ(result.layers, 3u);
    // The mount layers were temporary: A's store holds only the record's layer as a new blob.
    std::size_t blobs = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(m_a.store.root() / "blobs/sha256")) ++blobs;
    EXPECT_EQ(blobs, 1u);

    // B already has a non-empty pip cache of its own, which the import leaves alone, and an empty
    // go-build directory (a build made it and put nothing in), which the import fills.
    const fs::path b_pip = cache_mount(m_b, "/root/.cache/pip");
    fs::create_directories(b_pip);
    test::write_file(b_pip / "mine", "local");
    const fs::path b_go = cache_mount(m_b, "go-build");
    fs::create_directories(b_go);
    const CacheImportSpec from{.type = CacheImportSpec::Type::registry, .ref = to.ref};
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from), 1u);

    EXPECT_EQ(test::read_file(b_go / "ab" / "cd" / "object"), "compiled bytes");
    EXPECT_EQ(test::read_file(b_go / "README"), "cache");
    EXPECT_EQ(fs::read_symlink(b_go / "latest"), "ab/cd/object");
    struct stat status {};
    ASSERT_EQ(::stat((b_go / "README").c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0600u);
    ASSERT_EQ(::stat(b_go.c_str(), &status), 0);
    EXPECT_EQ(status.st_mode & 07777, 0700u);
    EXPECT_EQ(test::read_file(b_pip / "mine"), "local");
    EXPECT_FALSE(fs::exists(b_go.string() + "-1"));
    // Nothing is left of the staging directories, and the mount layers were not stored.
    for (const auto& entry : fs::directory_iterator(m_b.cache_mounts))
        EXPECT_NE(entry.path().filename().string().front(), '.') << entry.path();
    EXPECT_TRUE(m_b.store.has(records[0].layer_digest));
    blobs = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(m_b.store.root() / "blobs/sha256")) ++blobs;
    EXPECT_EQ(blobs, 1u);

    // An unchanged cache directory gives the same layer: the second export uploads nothing.
    const CacheExportResult again = export_cache(m_client, m_a.store, records, m_a.cache_mounts, to);
    EXPECT_EQ(again.manifest, result.manifest);
    EXPECT_EQ(again.uploaded, 0u);
}

TEST_F(CacheTransferTest, LocalLayoutRoundTrip) {
    const std::vector<cache::CacheRecord> records = records_in_a();
    const fs::path layout = m_dir.path() / "layout";
    const CacheExportSpec to{.type = CacheExportSpec::Type::local, .dir = layout};
    const CacheExportResult first = export_cache(m_client, m_a.store, records, m_a.cache_mounts, to);
    EXPECT_EQ(first.uploaded, 4u);
    EXPECT_EQ(export_cache(m_client, m_a.store, records, m_a.cache_mounts, to).uploaded, 0u);

    const CacheImportSpec from{.type = CacheImportSpec::Type::local, .dir = layout};
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from), 4u);
    expect_imported(records);

    // A second tag beside the first, and a layout other OCI tools read.
    const CacheExportSpec tagged{.type = CacheExportSpec::Type::local, .dir = layout, .tag = "v2"};
    export_cache(m_client, m_a.store, {records[1]}, m_a.cache_mounts, tagged);
    Machine c(m_dir.path() / "c");
    EXPECT_EQ(import_cache(m_client, c.store, c.index, c.cache_mounts,
                           {.type = CacheImportSpec::Type::local, .dir = layout, .tag = "v2"}),
              1u);
    EXPECT_EQ(c.index.list(), std::vector<cache::CacheRecord>{records[1]});

    if (!test::have_program("skopeo")) {
        if (in_ci()) ADD_FAILURE() << "missing skopeo (scripts/install-deps installs it)";
        return;
    }
    const test::CommandResult inspected =
        test::run_command("skopeo inspect --raw " + test::shell_quote("oci:" + layout.string() + ":latest"));
    ASSERT_EQ(inspected.status, 0) << inspected.output;
    const registry::ImageManifest manifest = registry::parse_manifest(inspected.output);
    EXPECT_EQ(manifest.config.media_type, k_cache_config_media_type);
    EXPECT_EQ(registry::digest_of(inspected.output, registry::k_oci_manifest).digest, first.manifest);
    const test::CommandResult config =
        test::run_command("skopeo inspect --raw --config " + test::shell_quote("oci:" + layout.string() + ":latest"));
    ASSERT_EQ(config.status, 0) << config.output;
    EXPECT_EQ(nlohmann::json::parse(config.output)["records"].size(), 4u);
}

// A step B has already built keeps B's layer, and the cache's layer for it is not fetched.
TEST_F(CacheTransferTest, LocalRecordsWin) {
    const std::vector<cache::CacheRecord> records = records_in_a();
    cache::CacheRecord own = make_record(m_b, "built on b", "b's own layer\n");
    own.key = records[1].key;
    m_b.index.put(own);
    const fs::path layout = m_dir.path() / "layout";
    export_cache(m_client, m_a.store, records, m_a.cache_mounts, {.type = CacheExportSpec::Type::local, .dir = layout});

    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::local, .dir = layout}),
              4u);
    EXPECT_EQ(m_b.index.find(own.key)->layer_digest, own.layer_digest);
    EXPECT_FALSE(m_b.store.has(records[1].layer_digest));
    EXPECT_TRUE(m_b.store.has(records[0].layer_digest));
    EXPECT_EQ(m_b.index.list().size(), 4u);
}

// Key inputs and descriptions are bytes, not text: a COPY source named in Latin-1 survives.
TEST_F(CacheTransferTest, BytesThatAreNotUtf8RoundTrip) {
    cache::CacheRecord record = make_record(m_a, "one", "layer\n");
    cache::CacheKeyBuilder key;
    key.add("source\xff", std::string("caf\xe9\0nul", 8)).add_list("paths", {"\xc0\xaf", "ok", ""});
    record.key = key.finish();
    record.inputs = key.inputs();
    record.description = "COPY caf\xe9 /";
    const fs::path layout = m_dir.path() / "layout";
    export_cache(m_client, m_a.store, {record}, m_a.cache_mounts,
                 {.type = CacheExportSpec::Type::local, .dir = layout});
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::local, .dir = layout}),
              1u);
    EXPECT_EQ(m_b.index.list(), std::vector<cache::CacheRecord>{record});
}

// `skopeo inspect` without --raw refuses any artifact that is not an image (containers/image's
// NonImageArtifactError); what the other tools do with one, copying it, must work.
TEST_F(CacheTransferTest, SkopeoCopiesALayoutCacheIntoARegistryAsIs) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    if (!test::have_program("skopeo")) {
        if (in_ci()) ADD_FAILURE() << "missing skopeo (scripts/install-deps installs it)";
        GTEST_SKIP() << "skopeo is not installed";
    }
    const std::vector<cache::CacheRecord> records = records_in_a();
    const fs::path layout = m_dir.path() / "layout";
    const CacheExportResult exported = export_cache(m_client, m_a.store, records, m_a.cache_mounts,
                                                    {.type = CacheExportSpec::Type::local, .dir = layout});
    server->push_layout(layout, "latest", "team/copied:cache");

    const std::string ref = server->host() + "/team/copied:cache";
    EXPECT_EQ(m_client.fetch_manifest(registry::Reference::parse(ref)).digest, exported.manifest);
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::registry, .ref = ref}),
              4u);
    expect_imported(records);
}

TEST_F(CacheTransferTest, MissingCacheImportsNothing) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    const CacheImportSpec from{.type = CacheImportSpec::Type::registry, .ref = server->host() + "/team/none:cache"};
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from), 0u);

    // A repository that exists, without that tag.
    records_in_a();
    export_cache(m_client, m_a.store, m_a.index.list(), m_a.cache_mounts,
                 {.type = CacheExportSpec::Type::registry, .ref = server->host() + "/team/app:cache"});
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::registry, .ref = server->host() + "/team/app:other"}),
              0u);

    const fs::path layout = m_dir.path() / "layout";
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::local, .dir = layout}),
              0u);
    EXPECT_FALSE(fs::exists(layout));  // reading never creates the layout
    export_cache(m_client, m_a.store, m_a.index.list(), m_a.cache_mounts,
                 {.type = CacheExportSpec::Type::local, .dir = layout});
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                           {.type = CacheImportSpec::Type::local, .dir = layout, .tag = "other"}),
              0u);
    EXPECT_TRUE(m_b.index.list().empty());
}

TEST_F(CacheTransferTest, CorruptConfigIsAnErrorNamingTheRefAndWritesNoRecord) {
    const auto server = start_registry();
    if (!server) GTEST_SKIP() << "docker-registry is not installed";
    const cache::CacheRecord record = make_record(m_a, "one", "layer\n");
    const std::string ref = server->host() + "/team/app:broken";
    // A valid manifest whose config blob has the right digest but is not JSON.
    const std::string config = "{\"version\": 1, \"records\": [";
    const registry::Descriptor layer{.media_type = record.layer_media_type,
                                     .digest = record.layer_digest,
                                     .size = static_cast<std::int64_t>(record.layer_size)};
    const registry::Descriptor config_descriptor = registry::digest_of(config, k_cache_config_media_type);
    const std::string manifest = registry::to_json(registry::ImageManifest{
        .media_type = registry::k_oci_manifest, .config = config_descriptor, .layers = {layer}});
    m_client.push_image({registry::Reference::parse(ref)},
                        {.media_type = registry::k_oci_manifest,
                         .manifest = manifest,
                         .blobs = {config_descriptor, layer}},
                        [&](const registry::Descriptor& blob) -> std::optional<registry::BlobSource> {
                            if (blob.digest == config_descriptor.digest) return registry::BlobSource::bytes(config);
                            return registry::BlobSource::file(m_a.store.blob_path(blob.digest));
                        });

    try {
        import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts,
                     {.type = CacheImportSpec::Type::registry, .ref = ref});
        ADD_FAILURE() << "a corrupt config was imported";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find(ref), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("not JSON"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(m_b.index.list().empty());
}

TEST_F(CacheTransferTest, ConfigThatBreaksTheFormatIsRejected) {
    const cache::CacheRecord record = make_record(m_a, "one", "layer\n");
    const fs::path layout = m_dir.path() / "layout";
    export_cache(m_client, m_a.store, {record}, m_a.cache_mounts,
                 {.type = CacheExportSpec::Type::local, .dir = layout});
    const CacheImportSpec from{.type = CacheImportSpec::Type::local, .dir = layout};
    const std::string name = layout.string() + ":latest";

    // Rewrites the layout's cache config with `edit` and tags a manifest naming it.
    const auto tamper = [&](const std::function<void(nlohmann::json&)>& edit) {
        const cache::TagEntry tag = *cache::ContentStore(layout).resolve("latest");
        cache::ContentStore store(layout);
        registry::ImageManifest manifest = registry::parse_manifest(*store.read_blob(tag.digest, k_big));
        nlohmann::json config = nlohmann::json::parse(*store.read_blob(manifest.config.digest, k_big));
        edit(config);
        const std::string bytes = config.dump();
        manifest.config = registry::digest_of(bytes, k_cache_config_media_type);
        store.put_blob(bytes);
        const std::string manifest_bytes = registry::to_json(manifest);
        store.put_blob(manifest_bytes);
        store.set_tag({.name = "latest",
                       .media_type = registry::k_oci_manifest,
                       .digest = sha256_of(manifest_bytes),
                       .size = manifest_bytes.size(),
                       .annotations = {}});
    };
    // Imports, expecting an Error naming the layout and saying `why`.
    const auto expect_rejected = [&](const std::string& why) {
        try {
            import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from);
            ADD_FAILURE() << "imported a config that should fail with " << why;
        } catch (const Error& error) {
            EXPECT_NE(std::string(error.what()).find(why), std::string::npos) << error.what();
            EXPECT_NE(std::string(error.what()).find(name), std::string::npos) << error.what();
        }
    };

    tamper([](nlohmann::json& config) { config["records"][0]["layer"] = 1; });
    expect_rejected("`records[0].layer`: out of range");
    tamper([](nlohmann::json& config) {
        config["records"][0]["layer"] = 0;
        config["records"].push_back(config["records"][0]);
    });
    expect_rejected("a key given twice");
    tamper([](nlohmann::json& config) {
        config["records"].erase(1);
        config["records"][0]["media_type"] = "application/vnd.oci.image.layer.v1.tar+zstd";
    });
    expect_rejected("`records[0].media_type`");
    tamper([](nlohmann::json& config) {
        config["records"][0]["media_type"] = "application/vnd.oci.image.layer.v1.tar+gzip";
        config["records"][0]["inputs"][0]["kind"] = "map";
    });
    expect_rejected("neither scalar nor list");
    tamper([](nlohmann::json& config) {
        config["records"][0]["inputs"][0]["kind"] = "scalar";
        config["cache_mounts"].push_back({{"name", "../../etc"},
                                          {"layer", 0},
                                          {"diff_id", config["records"][0]["diff_id"]},
                                          {"mode", 0755},
                                          {"uid", 0},
                                          {"gid", 0}});
    });
    expect_rejected("not 64 lowercase hex digits");
    tamper([](nlohmann::json& config) {
        config["cache_mounts"] = nlohmann::json::array();
        config["version"] = 2;
    });
    expect_rejected("format version 2");
    tamper([](nlohmann::json& config) {
        config["version"] = 1;
        config["extra"] = true;
    });
    expect_rejected("`extra`: unknown member");
    EXPECT_TRUE(m_b.index.list().empty());

    tamper([](nlohmann::json& config) { config.erase("extra"); });
    EXPECT_EQ(import_cache(m_client, m_b.store, m_b.index, m_b.cache_mounts, from), 1u);
}

TEST_F(CacheTransferTest, ExportNeedsEveryLayerInTheStore) {
    cache::CacheRecord record = make_record(m_b, "elsewhere", "only in b\n");
    try {
        export_cache(m_client, m_a.store, {record}, m_a.cache_mounts,
                     {.type = CacheExportSpec::Type::local, .dir = m_dir.path() / "layout"});
        ADD_FAILURE() << "exported a record whose layer is missing";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("missing from the local store"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find(record.key.to_string()), std::string::npos) << error.what();
    }
    EXPECT_FALSE(fs::exists(m_dir.path() / "layout"));
}

}  // namespace
}  // namespace cbuild::builder
