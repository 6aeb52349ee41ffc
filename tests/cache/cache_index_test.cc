#include "cache/cache_index.h"

#include <sys/stat.h>

#include <ctime>
#include <filesystem>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cache {
namespace {

namespace fs = std::filesystem;

class CacheIndexTest : public ::testing::Test {
protected:
    static CacheRecord record(const std::string& step, std::string description = "[stage 1/1] RUN make") {
        CacheKeyBuilder builder;
        builder.add("op", "run").add_list("argv", {"/bin/sh", "-c", step});
        const Digest layer = sha256_of("layer of " + step);
        return CacheRecord{
            .key = builder.finish(),
            .inputs = builder.inputs(),
            .description = std::move(description),
            .layer_media_type = "application/vnd.oci.image.layer.v1.tar+gzip",
            .layer_digest = layer,
            .layer_size = 1234,
            .diff_id = sha256_of("diff of " + step),
            .history_json = R"({"created_by":"RUN )" + step + R"(","comment":"buildkit.dockerfile.v0"})",
            .created = 1700000000,
        };
    }

    fs::path record_file(const Digest& key) const { return m_dir / "records" / ("sha256-" + key.hex()); }

    test::TempDir m_temp;
    fs::path m_dir = m_temp.path() / "cache";
    CacheIndex m_index{m_dir};
};

// Compares everything but last_used, which find() sets.
void expect_same_record(const CacheRecord& actual, const CacheRecord& expected) {
    CacheRecord adjusted = actual;
    adjusted.last_used = expected.last_used;
    EXPECT_EQ(adjusted, expected);
}

TEST_F(CacheIndexTest, PutThenFindRoundTripsEveryFieldAndInput) {
    CacheKeyBuilder builder;
    // Bytes no text format would keep: NUL, newlines, invalid UTF-8, a value that looks like the
    // framing itself, an empty list and an empty scalar.
    builder.add("env", std::string("A=1\0B\n", 6))
        .add("latin1", "caf\xe9")
        .add_list("argv", {"sh", "-c", "echo 3:abc \n checksum 64:"})
        .add_list("sources", {})
        .add("empty", "");
    CacheRecord original = record("make");
    original.key = builder.finish();
    original.inputs = builder.inputs();
    original.description = "[stage 2/3] RUN \xff make\n";
    m_index.put(original);

    const auto found = m_index.find(original.key);
    ASSERT_TRUE(found);
    expect_same_record(*found, original);
    // What --explain needs: the stored inputs rebuild the very same key.
    CacheKeyBuilder rebuilt;
    for (const CacheKeyInput& input : found->inputs) {
        if (input.kind == CacheKeyInput::Kind::scalar)
            rebuilt.add(input.field, input.values.at(0));
        else
            rebuilt.add_list(input.field, input.values);
    }
    EXPECT_EQ(rebuilt.finish(), original.key);
}

TEST_F(CacheIndexTest, UnknownKeyIsAMiss) {
    m_index.put(record("make"));
    EXPECT_FALSE(m_index.find(record("make install").key));
    EXPECT_FALSE(CacheIndex(m_temp.path() / "other").find(record("make").key));
}

TEST_F(CacheIndexTest, CreatesItsDirectories) {
    EXPECT_TRUE(fs::is_directory(m_dir / "records"));
    EXPECT_TRUE(fs::is_directory(m_dir / "steps"));
    EXPECT_EQ(cache_index_dir("/var/lib/cbuild"), fs::path("/var/lib/cbuild/cache"));
}

TEST_F(CacheIndexTest, EveryTruncationOfARecordIsAMiss) {
    const CacheRecord original = record("make");
    m_index.put(original);
    const std::string whole = test::read_file(record_file(original.key));
    for (std::size_t length = 0; length < whole.size(); ++length) {
        write_file_atomically(record_file(original.key), whole.substr(0, length));
        ASSERT_FALSE(m_index.find(original.key)) << "a record cut at byte " << length << " was a hit";
    }
    write_file_atomically(record_file(original.key), whole);
    EXPECT_TRUE(m_index.find(original.key));
}

TEST_F(CacheIndexTest, CorruptRecordsAreMissesNotErrorsAndCanBeRemoved) {
    const CacheRecord original = record("make");
    const CacheRecord other = record("make test");
    m_index.put(original);
    m_index.put(other);
    std::string bytes = test::read_file(record_file(original.key));
    const std::size_t at = bytes.find("1234");
    ASSERT_NE(at, std::string::npos);
    bytes[at] = '9';  // a flipped digit keeps the framing intact: only the checksum can tell
    write_file_atomically(record_file(original.key), bytes);
    EXPECT_FALSE(m_index.find(original.key));

    write_file_atomically(record_file(original.key), "\x00\x01 garbage");
    EXPECT_FALSE(m_index.find(original.key));
    fs::remove(record_file(original.key));
    fs::create_directory(record_file(original.key));  // not even a file
    EXPECT_FALSE(m_index.find(original.key));
    fs::remove(record_file(original.key));

    write_file_atomically(record_file(original.key), "\x00\x01 garbage");
    const std::vector<CacheRecord> listed = m_index.list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_EQ(listed[0].key, other.key);
    EXPECT_TRUE(m_index.remove(original.key));
    EXPECT_FALSE(fs::exists(record_file(original.key)));
    EXPECT_FALSE(m_index.remove(original.key));
}

TEST_F(CacheIndexTest, ARecordUnderAnotherKeysNameIsAMiss) {
    const CacheRecord original = record("make");
    const CacheRecord other = record("make test");
    m_index.put(original);
    fs::copy_file(record_file(original.key), record_file(other.key));
    EXPECT_FALSE(m_index.find(other.key));
    EXPECT_TRUE(m_index.find(original.key));
}

TEST_F(CacheIndexTest, FindRefreshesLastUsed) {
    CacheRecord original = record("make");
    original.last_used = 1'000'000;  // an imported record keeps its age
    m_index.put(original);
    const std::vector<CacheRecord> before = m_index.list();
    ASSERT_EQ(before.size(), 1u);
    EXPECT_EQ(before[0].last_used, 1'000'000);

    const std::time_t start = std::time(nullptr);
    const auto found = m_index.find(original.key);
    ASSERT_TRUE(found);
    EXPECT_GE(found->last_used, start);
    const std::vector<CacheRecord> after = m_index.list();
    ASSERT_EQ(after.size(), 1u);
    EXPECT_EQ(after[0].last_used, found->last_used);
    EXPECT_EQ(after[0].created, original.created);
}

TEST_F(CacheIndexTest, PutWithoutLastUsedStampsNow) {
    const std::time_t start = std::time(nullptr);
    m_index.put(record("make"));
    const std::vector<CacheRecord> listed = m_index.list();
    ASSERT_EQ(listed.size(), 1u);
    EXPECT_GE(listed[0].last_used, start);
}

TEST_F(CacheIndexTest, PreviousKeyIsTheLastOneSet) {
    const std::string identity = "/src/Dockerfile\nstage 1\ninstruction 3";
    EXPECT_FALSE(m_index.previous_key(identity));
    m_index.set_previous_key(identity, record("make").key);
    EXPECT_EQ(m_index.previous_key(identity), record("make").key);
    m_index.set_previous_key(identity, record("make all").key);
    EXPECT_EQ(m_index.previous_key(identity), record("make all").key);
    EXPECT_FALSE(m_index.previous_key(identity + "x"));
    m_index.set_previous_key(identity + "x", record("make").key);
    EXPECT_EQ(m_index.previous_key(identity), record("make all").key);

    for (const auto& entry : fs::directory_iterator(m_dir / "steps")) write_file_atomically(entry.path(), "key");
    EXPECT_FALSE(m_index.previous_key(identity));
}

TEST_F(CacheIndexTest, ListAndRemove) {
    std::set<Digest> keys;
    for (const char* step : {"a", "b", "c"}) {
        m_index.put(record(step, step));
        keys.insert(record(step).key);
    }
    std::set<Digest> listed;
    for (const CacheRecord& found : m_index.list()) {
        listed.insert(found.key);
        expect_same_record(found, record(found.description, found.description));
    }
    EXPECT_EQ(listed, keys);
    EXPECT_TRUE(m_index.remove(record("b").key));
    EXPECT_EQ(m_index.list().size(), 2u);
    EXPECT_FALSE(m_index.find(record("b").key));
}

TEST_F(CacheIndexTest, ConcurrentPutsOfOneKeyNeverTear) {
    constexpr int k_threads = 8;
    constexpr int k_puts = 40;
    const Digest key = record("make").key;
    std::vector<std::thread> threads;
    for (int t = 0; t < k_threads; ++t) {
        threads.emplace_back([&, t] {
            CacheIndex index(m_dir);  // one object per thread, as separate builds would have
            for (int i = 0; i < k_puts; ++i) {
                index.put(record("make", "writer " + std::to_string(t) + " put " + std::to_string(i)));
                // Any reader at any moment sees a whole record, some writer's.
                const auto found = index.find(key);
                ASSERT_TRUE(found);
                EXPECT_EQ(found->description.rfind("writer ", 0), 0u);
                EXPECT_EQ(found->layer_size, 1234u);
            }
        });
    }
    for (std::thread& thread : threads) thread.join();
    const auto last = m_index.find(key);
    ASSERT_TRUE(last);
    EXPECT_EQ(last->description.substr(last->description.size() - 6), "put 39");
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(m_dir / "records")) names.push_back(entry.path().filename());
    EXPECT_EQ(names, std::vector<std::string>{"sha256-" + key.hex()}) << "no temporary file is left behind";
}

}  // namespace
}  // namespace cbuild::cache
