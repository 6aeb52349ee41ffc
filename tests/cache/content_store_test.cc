#include "cache/content_store.h"

#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cache/internal/store_paths.h"
#include "common/atomic_file.h"
#include "tests/support/ci.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cache {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* k_manifest_type = "application/vnd.oci.image.manifest.v1+json";

class ContentStoreTest : public ::testing::Test {
protected:
    static std::set<std::string> entries_of(const fs::path& dir) {
        std::set<std::string> names;
        for (const auto& entry : fs::directory_iterator(dir))
            names.insert(entry.path().filename().string());
        return names;
    }
    std::set<std::string> ingest_entries() const { return entries_of(m_root / "ingest"); }
    std::set<std::string> blob_entries() const { return entries_of(m_root / "blobs" / "sha256"); }
    json index_json() const { return json::parse(test::read_file(m_root / "index.json")); }

    static TagEntry tag(std::string name, std::string_view manifest) {
        return TagEntry{std::move(name), k_manifest_type, sha256_of(manifest), manifest.size(), {}};
    }

    test::TempDir m_dir;
    fs::path m_root = m_dir.path() / "store";
};

TEST_F(ContentStoreTest, CreatesAnOciImageLayout) {
    const ContentStore store(m_root);
    EXPECT_EQ(json::parse(test::read_file(m_root / "oci-layout")),
              json({{"imageLayoutVersion", "1.0.0"}}));
    const json index = index_json();
    EXPECT_EQ(index["schemaVersion"], 2);
    EXPECT_EQ(index["mediaType"], "application/vnd.oci.image.index.v1+json");
    EXPECT_EQ(index["manifests"], json::array());
    EXPECT_TRUE(fs::is_directory(m_root / "blobs" / "sha256"));
    EXPECT_TRUE(store.list_tags().empty());
}

TEST_F(ContentStoreTest, ReopeningKeepsTags) {
    ContentStore(m_root).set_tag(tag("app:1", "{}"));
    const ContentStore reopened(m_root);
    ASSERT_EQ(reopened.list_tags().size(), 1u);
    EXPECT_EQ(reopened.list_tags()[0].name, "app:1");
}

TEST_F(ContentStoreTest, RejectsAnotherLayoutVersionOrABrokenIndex) {
    fs::create_directories(m_root);
    write_file_atomically(m_root / "oci-layout", R"({"imageLayoutVersion":"2.0.0"})");
    EXPECT_THROW(ContentStore{m_root}, Error);

    write_file_atomically(m_root / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
    write_file_atomically(m_root / "index.json", "{not json");
    try {
        ContentStore store(m_root);
        FAIL() << "expected an error";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find((m_root / "index.json").string()),
                  std::string::npos)
            << error.what();
    }
}

TEST_F(ContentStoreTest, PutReadHas) {
    ContentStore store(m_root);
    const Digest missing = sha256_of("absent");
    EXPECT_FALSE(store.has(missing));
    EXPECT_EQ(store.blob_size(missing), std::nullopt);
    EXPECT_EQ(store.read_blob(missing, 100), std::nullopt);

    const Digest digest = store.put_blob("hello");
    EXPECT_EQ(digest, sha256_of("hello"));
    EXPECT_TRUE(store.has(digest));
    EXPECT_EQ(store.blob_size(digest), 5u);
    EXPECT_EQ(store.read_blob(digest, 100), "hello");
    EXPECT_EQ(store.blob_path(digest), m_root / "blobs" / "sha256" / digest.hex());
    EXPECT_EQ(test::read_file(store.blob_path(digest)), "hello");

    EXPECT_EQ(store.put_blob("hello"), digest) << "put is idempotent";
    EXPECT_EQ(blob_entries(), std::set<std::string>{digest.hex()});
    EXPECT_TRUE(ingest_entries().empty());
}

TEST_F(ContentStoreTest, ReadBlobRejectsOversizeAndCorruptBlobs) {
    ContentStore store(m_root);
    const Digest digest = store.put_blob("0123456789");
    EXPECT_THROW(store.read_blob(digest, 9), Error);
    EXPECT_EQ(store.read_blob(digest, 10), "0123456789");

    write_file_atomically(store.blob_path(digest), "0123456780");  // bit rot
    EXPECT_THROW(store.read_blob(digest, 10), BlobMismatchError);
}

TEST_F(ContentStoreTest, StreamingWriterInPieces) {
    ContentStore store(m_root);
    std::string all;
    BlobWriter writer = store.begin_blob();
    for (int i = 0; i < 500; ++i) {
        const std::string piece(static_cast<std::size_t>(i % 97), static_cast<char>('a' + i % 26));
        writer.write(piece);
        all += piece;
    }
    EXPECT_EQ(writer.size(), all.size());
    EXPECT_TRUE(blob_entries().empty()) << "visible before commit";
    const Digest digest = writer.commit(sha256_of(all), all.size());
    EXPECT_EQ(digest, sha256_of(all));
    EXPECT_EQ(store.read_blob(digest, all.size()), all);
    EXPECT_TRUE(ingest_entries().empty());
    EXPECT_THROW(writer.write("late"), Error);
}

TEST_F(ContentStoreTest, DigestMismatchIsRejectedAndNothingKept) {
    ContentStore store(m_root);
    BlobWriter writer = store.begin_blob();
    writer.write("abc");
    EXPECT_THROW(writer.commit(sha256_of("abd")), BlobMismatchError);
    EXPECT_FALSE(store.has(sha256_of("abc")));
    EXPECT_TRUE(blob_entries().empty());
    EXPECT_TRUE(ingest_entries().empty());
    EXPECT_THROW(writer.commit(), Error) << "a failed writer cannot commit later";
}

TEST_F(ContentStoreTest, SizeMismatchIsRejectedAndNothingKept) {
    ContentStore store(m_root);
    BlobWriter writer = store.begin_blob();
    writer.write("abc");
    try {
        writer.commit(sha256_of("abc"), 4);
        FAIL() << "expected BlobMismatchError";
    } catch (const BlobMismatchError& error) {
        EXPECT_NE(std::string(error.what()).find("size"), std::string::npos) << error.what();
    }
    EXPECT_TRUE(blob_entries().empty());
    EXPECT_TRUE(ingest_entries().empty());
}

TEST_F(ContentStoreTest, WriterWithoutCommitLeavesNothing) {
    ContentStore store(m_root);
    {
        BlobWriter writer = store.begin_blob();
        writer.write("abandoned");
        EXPECT_EQ(ingest_entries().size(), 1u);
        BlobWriter moved = std::move(writer);
        moved.write(" still");
    }
    EXPECT_TRUE(ingest_entries().empty());
    EXPECT_TRUE(blob_entries().empty());
}

TEST_F(ContentStoreTest, CommittingAStoredBlobKeepsTheStoredFile) {
    ContentStore store(m_root);
    const Digest digest = store.put_blob("same");
    struct stat before {};
    ASSERT_EQ(::stat(store.blob_path(digest).c_str(), &before), 0);
    BlobWriter writer = store.begin_blob();
    writer.write("same");
    EXPECT_EQ(writer.commit(digest), digest);
    struct stat after {};
    ASSERT_EQ(::stat(store.blob_path(digest).c_str(), &after), 0);
    EXPECT_EQ(before.st_ino, after.st_ino) << "the stored blob was replaced";
    EXPECT_TRUE(ingest_entries().empty());
}

TEST_F(ContentStoreTest, ConcurrentWritersOfTheSameBlob) {
    ContentStore store(m_root);
    std::string content;
    for (int i = 0; i < 200000; ++i) content += static_cast<char>(i * 7 % 256);
    const Digest expected = sha256_of(content);
    std::vector<std::optional<Digest>> results(8);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < results.size(); ++t)
        threads.emplace_back([&, t] {
            BlobWriter writer = store.begin_blob();
            for (std::size_t at = 0; at < content.size(); at += 4096)
                writer.write(std::string_view(content).substr(at, 4096));
            results[t] = writer.commit(expected, content.size());
        });
    for (std::thread& thread : threads) thread.join();
    for (const auto& result : results) EXPECT_EQ(result, expected);
    EXPECT_EQ(store.read_blob(expected, content.size()), content);
    EXPECT_EQ(blob_entries(), std::set<std::string>{expected.hex()});
    EXPECT_TRUE(ingest_entries().empty());
}

TEST_F(ContentStoreTest, ImportFileStreamsAFileIn) {
    ContentStore store(m_root);
    std::string content(3 * 1024 * 1024 + 17, 'x');  // several copy chunks
    content[12345] = 'y';
    write_file_atomically(m_dir.path() / "layer.tar", content);
    const Digest digest = store.import_file(m_dir.path() / "layer.tar");
    EXPECT_EQ(digest, sha256_of(content));
    EXPECT_EQ(store.blob_size(digest), content.size());
    try {
        store.import_file(m_dir.path() / "missing.tar");
        FAIL() << "expected IoError";
    } catch (const IoError& error) {
        EXPECT_EQ(error.path(), (m_dir.path() / "missing.tar").string());
    }
}

TEST_F(ContentStoreTest, TagsSetReplaceResolveRemove) {
    ContentStore store(m_root);
    TagEntry first = tag("repo/img:0.1", "manifest one");
    first.annotations["org.opencontainers.image.created"] = "2024-01-01T00:00:00Z";
    store.set_tag(first);
    store.set_tag(tag("repo/img:0.2", "manifest two"));
    EXPECT_EQ(store.resolve("repo/img:0.1"), first);
    EXPECT_EQ(store.resolve("repo/img:0.3"), std::nullopt);

    const TagEntry replacement = tag("repo/img:0.1", "manifest three");
    store.set_tag(replacement);
    const std::vector<TagEntry> tags = store.list_tags();
    ASSERT_EQ(tags.size(), 2u);
    EXPECT_EQ(tags[0], replacement) << "replaced in place, old annotations gone";
    EXPECT_EQ(tags[1].name, "repo/img:0.2");
    EXPECT_EQ(index_json()["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"],
              "repo/img:0.1");

    EXPECT_TRUE(store.remove_tag("repo/img:0.1"));
    EXPECT_FALSE(store.remove_tag("repo/img:0.1"));
    EXPECT_EQ(store.resolve("repo/img:0.1"), std::nullopt);
    EXPECT_EQ(store.list_tags().size(), 1u);
}

TEST_F(ContentStoreTest, SetTagRejectsAnEmptyNameOrMediaType) {
    ContentStore store(m_root);
    EXPECT_THROW(store.set_tag(tag("", "m")), Error);
    TagEntry no_type = tag("a", "m");
    no_type.media_type.clear();
    EXPECT_THROW(store.set_tag(no_type), Error);
    EXPECT_TRUE(store.list_tags().empty());
}

TEST_F(ContentStoreTest, UnknownIndexEntriesAndFieldsArePreserved) {
    const std::string other_digest = sha256_of("other").to_string();
    const json unnamed = {{"mediaType", k_manifest_type},
                          {"digest", sha256_of("unnamed").to_string()},
                          {"size", 7},
                          {"platform", {{"architecture", "arm64"}, {"os", "linux"}}}};
    const json other = {
        {"mediaType", k_manifest_type},
        {"digest", other_digest},
        {"size", 5},
        {"urls", {"https://example.com/blob"}},
        {"annotations", {{"org.opencontainers.image.ref.name", "other"}, {"vendor.x", "y"}}}};
    const json mine = {{"mediaType", k_manifest_type},
                       {"digest", sha256_of("old").to_string()},
                       {"size", 3},
                       {"annotations", {{"org.opencontainers.image.ref.name", "mine"}}}};
    json index = {{"schemaVersion", 2},
                  {"manifests", {unnamed, mine, other}},
                  {"annotations", {{"top", "level"}}},
                  {"x-vendor-extension", {{"kept", true}}}};
    fs::create_directories(m_root);
    write_file_atomically(m_root / "index.json", index.dump());

    ContentStore store(m_root);
    const std::optional<TagEntry> read_other = store.resolve("other");
    ASSERT_TRUE(read_other);
    EXPECT_EQ(read_other->annotations, (std::map<std::string, std::string>{{"vendor.x", "y"}}));
    store.set_tag(tag("mine", "new"));
    store.set_tag(tag("added", "added"));
    EXPECT_FALSE(store.remove_tag("nothing"));

    const json after = index_json();
    EXPECT_EQ(after["annotations"], index["annotations"]);
    EXPECT_EQ(after["x-vendor-extension"], index["x-vendor-extension"]);
    ASSERT_EQ(after["manifests"].size(), 4u);
    EXPECT_EQ(after["manifests"][0], unnamed);
    EXPECT_EQ(after["manifests"][1]["digest"], sha256_of("new").to_string());
    EXPECT_EQ(after["manifests"][2], other);
    EXPECT_EQ(after["manifests"][3]["annotations"]["org.opencontainers.image.ref.name"], "added");
}

TEST_F(ContentStoreTest, MalformedNamedEntryIsReportedWithItsName) {
    fs::create_directories(m_root);
    write_file_atomically(
        m_root / "index.json",
        R"({"schemaVersion":2,"manifests":[{"mediaType":"x","digest":"sha256:nope","size":1,)"
        R"("annotations":{"org.opencontainers.image.ref.name":"broken"}}]})");
    ContentStore store(m_root);
    try {
        store.list_tags();
        FAIL() << "expected an error";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("index.json"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find("`broken`"), std::string::npos) << error.what();
    }
}

TEST_F(ContentStoreTest, ConcurrentProcessesSettingTagsLoseNothing) {
    constexpr int k_children = 4;
    constexpr int k_tags_each = 50;
    const ContentStore store(m_root);
    int start[2];
    ASSERT_EQ(::pipe(start), 0);
    std::fflush(nullptr);  // or the children would print the parent's buffered output again
    std::vector<pid_t> children;
    for (int child = 0; child < k_children; ++child) {
        const pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::close(start[1]);
            char ignored;
            (void)!::read(start[0], &ignored, 1);  // returns at EOF: every child starts at once
            try {
                ContentStore own(m_root);
                for (int i = 0; i < k_tags_each; ++i) {
                    const std::string name =
                        "child" + std::to_string(child) + ":" + std::to_string(i);
                    own.set_tag(tag(name, name));
                }
            } catch (...) {
                ::_exit(1);
            }
            ::_exit(0);
        }
        children.push_back(pid);
    }
    ::close(start[0]);
    ::close(start[1]);
    for (const pid_t pid : children) {
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "child status " << status;
    }

    EXPECT_EQ(index_json()["manifests"].size(), std::size_t{k_children * k_tags_each});
    std::set<std::string> names;
    for (const TagEntry& entry : store.list_tags()) names.insert(entry.name);
    EXPECT_EQ(names.size(), std::size_t{k_children * k_tags_each});
    EXPECT_TRUE(names.count("child3:49"));
    EXPECT_TRUE(ingest_entries().empty());
}

TEST(DefaultRootTest, Rules) {
    EXPECT_EQ(default_root_for(0, "/xdg", "/home/u"), fs::path("/var/lib/cbuild"));
    EXPECT_EQ(default_root_for(1000, "/xdg", "/home/u"), fs::path("/xdg/cbuild"));
    EXPECT_EQ(default_root_for(1000, nullptr, "/home/u"), fs::path("/home/u/.local/share/cbuild"));
    EXPECT_EQ(default_root_for(1000, "", "/home/u"), fs::path("/home/u/.local/share/cbuild"));
    EXPECT_EQ(default_root_for(1000, "relative/dir", "/home/u"),
              fs::path("/home/u/.local/share/cbuild"));
    EXPECT_THROW(default_root_for(1000, nullptr, nullptr), Error);
}

// Runs default_root() with the given environment, as `euid`, in a child process so that
// neither the environment nor the identity of the test process changes.
std::string default_root_in_child(uid_t euid, const char* xdg_data_home, const char* home) {
    int out[2];
    if (::pipe(out) != 0) return "pipe failed";
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
        ::close(out[0]);
        xdg_data_home ? ::setenv("XDG_DATA_HOME", xdg_data_home, 1) : ::unsetenv("XDG_DATA_HOME");
        home ? ::setenv("HOME", home, 1) : ::unsetenv("HOME");
        if (::geteuid() != euid && ::seteuid(euid) != 0) ::_exit(1);
        try {
            const std::string root = ContentStore::default_root().string();
            (void)!::write(out[1], root.data(), root.size());
        } catch (...) {
            ::_exit(2);
        }
        ::_exit(0);
    }
    ::close(out[1]);
    std::string result;
    char buffer[256];
    for (ssize_t got; (got = ::read(out[0], buffer, sizeof buffer)) > 0;)
        result.append(buffer, got);
    ::close(out[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? result : "child failed";
}

TEST(DefaultRootTest, FollowsTheEffectiveUserAndTheEnvironment) {
    const uid_t euid = ::geteuid();
    if (euid == 0) {
        EXPECT_EQ(default_root_in_child(0, "/xdg", "/home/u"), "/var/lib/cbuild");
        EXPECT_EQ(default_root_in_child(65534, "/xdg", "/home/u"), "/xdg/cbuild");
        EXPECT_EQ(default_root_in_child(65534, nullptr, "/home/u"), "/home/u/.local/share/cbuild");
    } else {
        EXPECT_EQ(default_root_in_child(euid, "/xdg", "/home/u"), "/xdg/cbuild");
        EXPECT_EQ(default_root_in_child(euid, nullptr, "/home/u"), "/home/u/.local/share/cbuild");
    }
}

// skopeo (containers/image) is an independent OCI layout reader: if it resolves our tag and
// returns our manifest, the store really is an image layout.
TEST_F(ContentStoreTest, SkopeoReadsATaggedImage) {
    if (std::system("command -v skopeo >/dev/null 2>&1") != 0) {
        if (test::in_ci()) FAIL() << "skopeo is required under CI=true";
        GTEST_SKIP() << "skopeo is not installed";
    }
    ContentStore store(m_root);
    const std::string empty_tar(1024, '\0');  // two zero blocks: a tar with no entries
    const Digest layer = store.put_blob(empty_tar);
    const std::string config =
        json{{"architecture", "amd64"},
             {"os", "linux"},
             {"config", json::object()},
             {"rootfs", {{"type", "layers"}, {"diff_ids", {layer.to_string()}}}}}
            .dump();
    const Digest config_digest = store.put_blob(config);
    const std::string manifest = json{{"schemaVersion", 2},
                                      {"mediaType", k_manifest_type},
                                      {"config",
                                       {{"mediaType", "application/vnd.oci.image.config.v1+json"},
                                        {"digest", config_digest.to_string()},
                                        {"size", config.size()}}},
                                      {"layers",
                                       {{{"mediaType", "application/vnd.oci.image.layer.v1.tar"},
                                         {"digest", layer.to_string()},
                                         {"size", empty_tar.size()}}}}}
                                     .dump();
    store.set_tag(
        TagEntry{"repo/img:0.1", k_manifest_type, store.put_blob(manifest), manifest.size(), {}});

    const auto run = [](const std::string& command, std::string& output) {
        FILE* pipe = ::popen(command.c_str(), "r");
        if (pipe == nullptr) return -1;
        char buffer[4096];
        for (std::size_t got; (got = std::fread(buffer, 1, sizeof buffer, pipe)) > 0;)
            output.append(buffer, got);
        return ::pclose(pipe);
    };
    const std::string reference = "oci:" + m_root.string() + ":repo/img:0.1";
    std::string raw;
    ASSERT_EQ(run("skopeo inspect --raw '" + reference + "' 2>&1", raw), 0) << raw;
    EXPECT_EQ(raw, manifest);
    std::string inspected;
    ASSERT_EQ(run("skopeo inspect '" + reference + "' 2>&1", inspected), 0) << inspected;
    const json summary = json::parse(inspected);
    EXPECT_EQ(summary["Digest"], sha256_of(manifest).to_string());
    EXPECT_EQ(summary["Layers"], json::array({layer.to_string()}));
}

}  // namespace
}  // namespace cbuild::cache
