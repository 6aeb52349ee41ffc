#include "cache/file_hash_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "common/atomic_file.h"
#include "common/error.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cache {
namespace {

namespace fs = std::filesystem;

std::int64_t nanoseconds(const struct timespec& time) {
    return static_cast<std::int64_t>(time.tv_sec) * 1'000'000'000 + time.tv_nsec;
}

struct stat lstat_of(const fs::path& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) throw IoError(path.string(), "lstat", errno);
    return info;
}

class FileHashIndexTest : public ::testing::Test {
protected:
    // Writes a file the index will remember: one whose last change is in an earlier tick of
    // the clock that stamps file times than the hash that follows (see "racily clean").
    fs::path settled_file(const std::string& name, const std::string& content) {
        const fs::path path = m_temp.path() / name;
        test::write_file(path, content);
        settle(path);
        return path;
    }

    static void settle(const fs::path& path) {
        const std::int64_t changed = nanoseconds(lstat_of(path).st_ctim);
        while (true) {
            struct timespec now {};
            ::clock_gettime(CLOCK_REALTIME_COARSE, &now);
            if (nanoseconds(now) > changed) return;
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }

    static Digest hash(FileHashIndex& index, const fs::path& path) { return index.hash(path, lstat_of(path)); }

    test::TempDir m_temp;
    fs::path m_file = m_temp.path() / "cache" / "file-hashes";
};

TEST_F(FileHashIndexTest, HashesTheContent) {
    const fs::path path = settled_file("a", "hello\n");
    FileHashIndex index(m_file);
    EXPECT_EQ(hash(index, path), sha256_of("hello\n"));
    EXPECT_EQ(index.misses(), 1u);
    EXPECT_EQ(index.hits(), 0u);

    const std::string big(3 << 20, 'x');  // several read chunks
    EXPECT_EQ(hash(index, settled_file("big", big)), sha256_of(big));
    EXPECT_EQ(hash(index, settled_file("empty", "")), sha256_of(""));
    EXPECT_EQ(file_hash_index_path("/var/lib/cbuild"), fs::path("/var/lib/cbuild/cache/file-hashes"));
}

TEST_F(FileHashIndexTest, AnUnchangedStatIsAnsweredWithoutReadingTheFile) {
    const fs::path path = settled_file("a", "hello\n");
    FileHashIndex index(m_file);
    const struct stat info = lstat_of(path);
    EXPECT_EQ(index.hash(path, info), sha256_of("hello\n"));
    EXPECT_EQ(index.hash(path, info), sha256_of("hello\n"));
    EXPECT_EQ(index.misses(), 1u);
    EXPECT_EQ(index.hits(), 1u);
    // Proof that a hit reads nothing: with the file gone, the same stat still answers.
    fs::remove(path);
    EXPECT_EQ(index.hash(path, info), sha256_of("hello\n"));
    EXPECT_EQ(index.misses(), 1u);
}

TEST_F(FileHashIndexTest, ANewInodeWithTheSameSizeAndMtimeIsReadAgain) {
    const fs::path path = settled_file("a", "aaaa");
    FileHashIndex index(m_file);
    const struct stat before = lstat_of(path);
    hash(index, path);

    const fs::path replacement = m_temp.path() / "replacement";
    test::write_file(replacement, "bbbb");
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, replacement.c_str(), times, 0), 0);
    fs::rename(replacement, path);
    const struct stat after = lstat_of(path);
    ASSERT_EQ(after.st_size, before.st_size);
    ASSERT_EQ(nanoseconds(after.st_mtim), nanoseconds(before.st_mtim));
    ASSERT_NE(after.st_ino, before.st_ino);

    EXPECT_EQ(index.hash(path, after), sha256_of("bbbb"));
    EXPECT_EQ(index.misses(), 2u);
}

TEST_F(FileHashIndexTest, ACtimeChangeAloneForcesARead) {
    const fs::path path = settled_file("a", "aaaa");
    FileHashIndex index(m_file);
    hash(index, path);

    ASSERT_EQ(::chmod(path.c_str(), 0600), 0);  // only the ctime moves
    settle(path);
    EXPECT_EQ(hash(index, path), sha256_of("aaaa"));
    EXPECT_EQ(index.misses(), 2u);
    EXPECT_EQ(hash(index, path), sha256_of("aaaa"));
    EXPECT_EQ(index.misses(), 2u);

    // Rewritten in place, same size, mtime put back: the ctime still tells.
    const struct stat before = lstat_of(path);
    test::write_file(path, "bbbb");
    const struct timespec times[2] = {before.st_atim, before.st_mtim};
    ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
    const struct stat after = lstat_of(path);
    ASSERT_EQ(after.st_ino, before.st_ino);
    ASSERT_EQ(nanoseconds(after.st_mtim), nanoseconds(before.st_mtim));
    EXPECT_EQ(index.hash(path, after), sha256_of("bbbb"));
    EXPECT_EQ(index.misses(), 3u);
}

TEST_F(FileHashIndexTest, AStatThatNoLongerDescribesTheFileIsNotRemembered) {
    const fs::path path = settled_file("a", "aaaa");
    const struct stat stale = lstat_of(path);
    test::write_file(path, "bbbbbb");  // changed between the caller's stat and the read
    settle(path);
    FileHashIndex index(m_file);
    EXPECT_EQ(index.hash(path, stale), sha256_of("bbbbbb"));
    EXPECT_EQ(index.hash(path, stale), sha256_of("bbbbbb"));
    EXPECT_EQ(index.misses(), 2u);
}

TEST_F(FileHashIndexTest, SaveThenLoadRemembersEveryFile) {
    std::vector<fs::path> paths;
    for (int i = 0; i < 50; ++i) paths.push_back(m_temp.path() / ("f" + std::to_string(i)));
    for (std::size_t i = 0; i < paths.size(); ++i) test::write_file(paths[i], std::string(i, 'x'));
    for (const fs::path& path : paths) settle(path);
    {
        FileHashIndex index(m_file);
        for (const fs::path& path : paths) hash(index, path);
        EXPECT_EQ(index.misses(), paths.size());
        index.save();
    }
    EXPECT_EQ(test::read_file(m_file).substr(0, 21), "cbuild-file-hashes 1\n");
    FileHashIndex reloaded(m_file);
    for (std::size_t i = 0; i < paths.size(); ++i) EXPECT_EQ(hash(reloaded, paths[i]), sha256_of(std::string(i, 'x')));
    EXPECT_EQ(reloaded.misses(), 0u);
    EXPECT_EQ(reloaded.hits(), paths.size());
}

TEST_F(FileHashIndexTest, SaveWritesNothingWhenNothingChanged) {
    const fs::path path = settled_file("a", "aaaa");
    {
        FileHashIndex index(m_file);
        index.save();
        EXPECT_FALSE(fs::exists(m_file));
        hash(index, path);
        index.save();
    }
    const auto written = fs::last_write_time(m_file);
    const auto inode = lstat_of(m_file).st_ino;
    FileHashIndex index(m_file);
    hash(index, path);
    index.save();
    EXPECT_EQ(lstat_of(m_file).st_ino, inode) << "a build that only hit must not rewrite the index";
    EXPECT_EQ(fs::last_write_time(m_file), written);
}

TEST_F(FileHashIndexTest, ADamagedIndexLoadsEmpty) {
    const fs::path path = settled_file("a", "aaaa");
    {
        FileHashIndex index(m_file);
        hash(index, path);
        index.save();
    }
    const std::string whole = test::read_file(m_file);
    for (const std::string& damaged : {whole.substr(0, whole.size() - 1), whole.substr(0, 30), std::string("junk"),
                                       whole.substr(0, 40) + 'X' + whole.substr(41)}) {
        write_file_atomically(m_file, damaged);
        FileHashIndex index(m_file);
        EXPECT_EQ(hash(index, path), sha256_of("aaaa"));
        EXPECT_EQ(index.misses(), 1u);
    }
}

TEST_F(FileHashIndexTest, ConcurrentSavesKeepWhatTheOthersHashed) {
    const fs::path a = settled_file("a", "aaaa");
    const fs::path b = settled_file("b", "bbbb");
    FileHashIndex first(m_file);
    FileHashIndex second(m_file);
    hash(first, a);
    hash(second, b);
    first.save();
    second.save();
    FileHashIndex third(m_file);
    hash(third, a);
    hash(third, b);
    EXPECT_EQ(third.misses(), 0u);
}

TEST_F(FileHashIndexTest, ThreadsShareOneIndex) {
    std::vector<fs::path> paths;
    for (int i = 0; i < 64; ++i) {
        paths.push_back(m_temp.path() / ("f" + std::to_string(i)));
        test::write_file(paths.back(), "content " + std::to_string(i));
    }
    for (const fs::path& path : paths) settle(path);
    FileHashIndex index(m_file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t)
        threads.emplace_back([&] {
            for (int round = 0; round < 4; ++round)
                for (std::size_t i = 0; i < paths.size(); ++i)
                    EXPECT_EQ(hash(index, paths[i]), sha256_of("content " + std::to_string(i)));
        });
    for (std::thread& thread : threads) thread.join();
    EXPECT_EQ(index.hits() + index.misses(), 8u * 4 * paths.size());
    EXPECT_GE(index.misses(), paths.size());
    EXPECT_LE(index.misses(), 8u * paths.size()) << "after a thread's first round, every file is remembered";
}

TEST_F(FileHashIndexTest, UnreadableFilesAreErrors) {
    const fs::path path = settled_file("a", "aaaa");
    const struct stat info = lstat_of(path);
    FileHashIndex index(m_file);
    EXPECT_THROW(index.hash(m_temp.path() / "missing", info), IoError);
    EXPECT_THROW(index.hash(m_temp.path(), lstat_of(m_temp.path())), Error);
}

}  // namespace
}  // namespace cbuild::cache
