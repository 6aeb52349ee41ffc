#include "common/atomic_file.h"

#include <sys/stat.h>

#include <cerrno>
#include <set>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "common/error.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

namespace fs = std::filesystem;

class AtomicFileTest : public ::testing::Test {
protected:
    std::set<std::string> entries() const {
        std::set<std::string> names;
        for (const auto& entry : fs::directory_iterator(m_dir.path()))
            names.insert(entry.path().filename().string());
        return names;
    }

    static mode_t mode_of(const fs::path& path) {
        struct stat st {};
        EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
        return st.st_mode & 07777;
    }

    test::TempDir m_dir;
};

TEST_F(AtomicFileTest, CommitMakesTheFileAppearWithTheBytesAndMode) {
    const fs::path target = m_dir.path() / "config.json";
    AtomicFile file(target, 0640);
    file.write("{\"a\":");
    file.write("1}");
    EXPECT_FALSE(fs::exists(target)) << "visible before commit";
    file.commit();
    EXPECT_EQ(test::read_file(target), "{\"a\":1}");
    EXPECT_EQ(mode_of(target), 0640u);
    EXPECT_EQ(entries(), std::set<std::string>{"config.json"}) << "a temporary file was left";
}

TEST_F(AtomicFileTest, ModeIsExactEvenUnderARestrictiveUmask) {
    const mode_t old_umask = ::umask(077);
    write_file_atomically(m_dir.path() / "f", "x", 0644);
    ::umask(old_umask);
    EXPECT_EQ(mode_of(m_dir.path() / "f"), 0644u);
}

TEST_F(AtomicFileTest, NoCommitLeavesNothing) {
    {
        AtomicFile file(m_dir.path() / "never");
        file.write("half of it");
        EXPECT_EQ(entries().size(), 1u) << "the temporary file should exist while writing";
    }
    EXPECT_TRUE(entries().empty());
}

TEST_F(AtomicFileTest, OverwriteIsAllOrNothing) {
    const fs::path target = m_dir.path() / "index.json";
    write_file_atomically(target, "old");
    {
        AtomicFile abandoned(target);
        abandoned.write("new content that is never committed");
        EXPECT_EQ(test::read_file(target), "old");
    }
    EXPECT_EQ(test::read_file(target), "old");

    AtomicFile file(target);
    file.write("new");
    EXPECT_EQ(test::read_file(target), "old") << "readers must see the old file until commit";
    file.commit();
    EXPECT_EQ(test::read_file(target), "new");
    EXPECT_EQ(entries(), std::set<std::string>{"index.json"});
}

TEST_F(AtomicFileTest, ConcurrentWritersNeverShareATemporaryFile) {
    const fs::path target = m_dir.path() / "t";
    AtomicFile first(target);
    AtomicFile second(target);
    first.write("first");
    second.write("second");
    EXPECT_EQ(entries().size(), 2u);
    second.commit();
    first.commit();
    EXPECT_EQ(test::read_file(target), "first") << "the last commit wins, whole";
    EXPECT_EQ(entries(), std::set<std::string>{"t"});
}

TEST_F(AtomicFileTest, MovedFileCommitsOnceAndTheSourceRemovesNothing) {
    const fs::path target = m_dir.path() / "moved";
    AtomicFile source(target);
    source.write("abc");
    {
        AtomicFile destination(std::move(source));
        destination.write("def");
        destination.commit();
    }
    EXPECT_EQ(test::read_file(target), "abcdef");
    EXPECT_EQ(entries(), std::set<std::string>{"moved"});
}

TEST_F(AtomicFileTest, ErrorsNameThePathAndTheCall) {
    const fs::path target = m_dir.path() / "missing-dir" / "file";
    try {
        AtomicFile file(target);
        FAIL() << "expected IoError";
    } catch (const IoError& error) {
        EXPECT_EQ(error.path(), target.string());
        EXPECT_EQ(error.error_number(), ENOENT);
        EXPECT_NE(std::string(error.what()).find("`" + target.string() + "`"), std::string::npos)
            << error.what();
        EXPECT_NE(std::string(error.what()).find("mkostemp"), std::string::npos) << error.what();
    }
}

TEST_F(AtomicFileTest, FailedRenameKeepsTheTargetAndRemovesTheTemporaryFile) {
    // A non-empty directory cannot be replaced by a file.
    const fs::path target = m_dir.path() / "dir";
    fs::create_directory(target);
    write_file_atomically(target / "inside", "kept");
    {
        AtomicFile file(target);
        file.write("x");
        try {
            file.commit();
            FAIL() << "expected IoError";
        } catch (const IoError& error) {
            EXPECT_EQ(error.path(), target.string());
            EXPECT_NE(std::string(error.what()).find("rename"), std::string::npos) << error.what();
        }
        EXPECT_THROW(file.write("more"), Error);
    }
    EXPECT_EQ(entries(), std::set<std::string>{"dir"});
    EXPECT_EQ(test::read_file(target / "inside"), "kept");
}

TEST_F(AtomicFileTest, WriteAfterCommitThrows) {
    AtomicFile file(m_dir.path() / "once");
    file.commit();
    EXPECT_THROW(file.write("late"), Error);
    EXPECT_THROW(file.commit(), Error);
    EXPECT_EQ(test::read_file(m_dir.path() / "once"), "");
}

TEST_F(AtomicFileTest, LongTargetNamesStillGetATemporaryFile) {
    const std::string name(250, 'n');
    write_file_atomically(m_dir.path() / name, "long");
    EXPECT_EQ(test::read_file(m_dir.path() / name), "long");
    EXPECT_EQ(entries(), std::set<std::string>{name});
}

TEST_F(AtomicFileTest, SyncDirectoryNamesAMissingDirectory) {
    EXPECT_NO_THROW(sync_directory(m_dir.path()));
    try {
        sync_directory(m_dir.path() / "nope");
        FAIL() << "expected IoError";
    } catch (const IoError& error) {
        EXPECT_EQ(error.path(), (m_dir.path() / "nope").string());
    }
}

}  // namespace
}  // namespace cbuild
