#include "builder/solve/internal/copy_memo.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <gtest/gtest.h>

#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder::internal {
namespace {

namespace fs = std::filesystem;

const Digest k_parent = sha256_of("parent");

class CopyMemoTest : public ::testing::Test {
protected:
    void SetUp() override {
        test::write_file(m_context / "app" / "main.sh", "echo hi\n");
        test::write_file(m_context / "app" / "lib" / "util.sh", "true\n");
        test::write_file(m_context / "README", "read me\n");
        settle();
    }

    // Waits until the coarse clock the walk compares with has passed every change time in the
    // context, so the walk may trust what stat() says (see "racily clean" in file_hash_index.h).
    void settle() const {
        std::int64_t newest = 0;
        const auto consider = [&](const fs::path& path) {
            struct stat info {};
            ASSERT_EQ(::lstat(path.c_str(), &info), 0) << path;
            newest = std::max(newest, nanoseconds(info.st_ctim));
        };
        consider(m_context);
        for (const auto& entry : fs::recursive_directory_iterator(m_context)) consider(entry.path());
        while (true) {
            struct timespec now {};
            ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
            if (nanoseconds(now) > newest) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    static std::int64_t nanoseconds(const struct timespec& time) {
        return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
    }

    static CopyRequest request(std::vector<std::string> sources, std::string dest = "/srv/") {
        CopyRequest out;
        out.sources = std::move(sources);
        out.dest = std::move(dest);
        return out;
    }

    std::optional<Digest> fingerprint(const CopyRequest& copy, const Digest& parent = k_parent) {
        return copy_fingerprint(parent, copy, "COPY", m_context, parser::PatternMatcher(), m_cache);
    }

    test::TempDir m_temp;
    fs::path m_context = m_temp.path() / "context";
    fs::path m_cache = m_temp.path() / "cache";
};

TEST_F(CopyMemoTest, AnUnchangedContextGivesTheSameFingerprint) {
    const auto first = fingerprint(request({"."}));
    ASSERT_TRUE(first);
    EXPECT_EQ(fingerprint(request({"."})), first);
    EXPECT_EQ(fingerprint(request({"app"})), fingerprint(request({"app"})));
}

TEST_F(CopyMemoTest, EachInputChangesTheFingerprint) {
    const auto base = fingerprint(request({"."}));
    ASSERT_TRUE(base);
    EXPECT_NE(fingerprint(request({"."}), sha256_of("other parent")), base);
    EXPECT_NE(fingerprint(request({"."}, "/other/")), base);
    EXPECT_NE(fingerprint(request({"app"})), base);
    CopyRequest chowned = request({"."});
    chowned.chown = "1:1";
    EXPECT_NE(fingerprint(chowned), base);
    EXPECT_NE(copy_fingerprint(k_parent, request({"."}), "COPY", m_context, parser::PatternMatcher({"README"}), m_cache), base);

    test::write_file(m_context / "app" / "lib" / "util.sh", "false\n");  // same size, deep in the tree
    settle();
    EXPECT_NE(fingerprint(request({"."})), base);
}

TEST_F(CopyMemoTest, AModeOrTimeChangeAloneChangesTheFingerprint) {
    const auto base = fingerprint(request({"."}));
    ASSERT_EQ(::chmod((m_context / "README").c_str(), 0600), 0);
    settle();
    const auto chmodded = fingerprint(request({"."}));
    EXPECT_NE(chmodded, base);
    fs::last_write_time(m_context / "README", fs::last_write_time(m_context / "README") + std::chrono::seconds(5));
    settle();
    EXPECT_NE(fingerprint(request({"."})), chmodded);
}

TEST_F(CopyMemoTest, CopiesItCannotFingerprintSimplyTakeTheLongWay) {
    EXPECT_FALSE(fingerprint(request({"app/*.sh"})));
    EXPECT_FALSE(fingerprint(request({"missing"})));
    fs::create_symlink("app", m_context / "link");
    settle();
    EXPECT_FALSE(fingerprint(request({"link/main.sh"})));
    EXPECT_FALSE(fingerprint(request({"link"})));
    CopyRequest heredoc = request({});
    heredoc.inline_files.push_back({});
    EXPECT_FALSE(fingerprint(heredoc));
}

TEST_F(CopyMemoTest, AFileChangedThisClockTickIsNotTrusted) {
    test::write_file(m_context / "app" / "fresh", "new\n");
    // Without settling: its ctime is the current tick, and a second write in the same tick
    // could leave its stat unchanged.
    struct stat info {};
    ASSERT_EQ(::lstat((m_context / "app" / "fresh").c_str(), &info), 0);
    struct timespec now {};
    ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
    if (nanoseconds(now) <= nanoseconds(info.st_ctim)) {
        EXPECT_FALSE(fingerprint(request({"."})));
    }
    settle();
    EXPECT_TRUE(fingerprint(request({"."})));
}

// The walk's directory listings are a shortcut only: with them, without them or with a damaged
// file, the fingerprint is the one a walk reading every directory gives.
TEST_F(CopyMemoTest, DirectoryListingsNeverChangeTheFingerprint) {
    const auto without_listings = [&] {
        const fs::path cache = m_temp.path() / "no-listings";
        fs::remove_all(cache);
        return copy_fingerprint(k_parent, request({"."}), "COPY", m_context, parser::PatternMatcher(), cache);
    };
    const auto first = fingerprint(request({"."}));
    ASSERT_TRUE(first);
    std::vector<fs::path> listings;
    for (const auto& entry : fs::directory_iterator(m_cache / "copy-memo")) listings.push_back(entry.path());
    ASSERT_EQ(listings.size(), 1u);
    EXPECT_EQ(listings[0].filename().string().substr(0, 5), "dirs-");
    const auto written = fs::last_write_time(listings[0]);
    EXPECT_EQ(fingerprint(request({"."})), first);
    EXPECT_EQ(fs::last_write_time(listings[0]), written) << "an unchanged walk rewrites no listing";

    test::write_file(m_context / "app" / "lib" / "added.sh", "new\n");  // a name the listing lacks
    settle();
    const auto added = fingerprint(request({"."}));
    EXPECT_NE(added, first);
    EXPECT_EQ(added, without_listings());
    fs::rename(m_context / "app" / "main.sh", m_context / "app" / "renamed.sh");
    settle();
    EXPECT_EQ(fingerprint(request({"."})), without_listings());
    fs::remove(m_context / "README");
    settle();
    EXPECT_EQ(fingerprint(request({"."})), without_listings());

    std::ofstream(listings[0], std::ios::trunc) << "cbuild-dir-listing 1\n1 2 3";
    EXPECT_EQ(fingerprint(request({"."})), without_listings()) << "a damaged listing is ignored";
}

TEST_F(CopyMemoTest, RemembersAndRecallsKeys) {
    const fs::path cache = m_temp.path() / "cache";
    const Digest fingerprint = sha256_of("fingerprint");
    EXPECT_FALSE(recall_copy_key(cache, fingerprint));
    remember_copy_key(cache, fingerprint, sha256_of("key"));
    EXPECT_EQ(recall_copy_key(cache, fingerprint), sha256_of("key"));
    EXPECT_FALSE(recall_copy_key(cache, sha256_of("another")));

    std::ofstream(cache / "copy-memo" / fingerprint.hex()) << "cbuild-copy-memo 1\nnot a digest\n";
    EXPECT_FALSE(recall_copy_key(cache, fingerprint)) << "a damaged memo is a miss, never an error";
    std::ofstream(cache / "copy-memo" / fingerprint.hex()) << "";
    EXPECT_FALSE(recall_copy_key(cache, fingerprint));
    int leftovers = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(cache / "copy-memo")) ++leftovers;
    EXPECT_EQ(leftovers, 1) << "no temporary files left";
}

}  // namespace
}  // namespace cbuild::builder::internal
