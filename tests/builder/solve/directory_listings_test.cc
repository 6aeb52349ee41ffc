#include "builder/solve/internal/directory_listings.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/unique_fd.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder::internal {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;

std::vector<std::string> names_of(const NameList& list) {
    std::vector<std::string> out;
    list.each([&](std::string_view name) {
        EXPECT_EQ(name.data()[name.size()], '\0') << "each name is NUL-terminated in place";
        out.emplace_back(name);
        return true;
    });
    return out;
}

struct stat stat_of(const fs::path& path) {
    struct stat info {};
    EXPECT_EQ(::lstat(path.c_str(), &info), 0) << path;
    return info;
}

std::string names_in(const fs::path& dir) {
    const UniqueFd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    EXPECT_TRUE(fd) << dir;
    return read_directory_names(fd.get(), dir.string());
}

class DirectoryListingsTest : public ::testing::Test {
protected:
    test::TempDir m_temp;
    fs::path m_dir = m_temp.path() / "dir";
    fs::path m_file = m_temp.path() / "cache" / "dirs-test";
};

TEST_F(DirectoryListingsTest, ReadsNamesSortedWithoutDots) {
    test::write_file(m_dir / "b", "");
    test::write_file(m_dir / "a", "");
    test::write_file(m_dir / "C", "");
    fs::create_directory(m_dir / "sub");
    EXPECT_THAT(names_of(NameList(names_in(m_dir))), ElementsAre("C", "a", "b", "sub"));
    fs::create_directory(m_temp.path() / "empty");
    EXPECT_THAT(names_of(NameList(names_in(m_temp.path() / "empty"))), ElementsAre());
}

TEST_F(DirectoryListingsTest, ReadsADirectoryLargerThanOneBuffer) {
    fs::create_directory(m_dir);
    const std::string padding(150, 'x');
    for (int i = 0; i < 1000; ++i) std::ofstream(m_dir / (padding + std::to_string(10000 + i)));
    const std::vector<std::string> names = names_of(NameList(names_in(m_dir)));
    ASSERT_EQ(names.size(), 1000u);
    EXPECT_EQ(names.front(), padding + "10000");
    EXPECT_EQ(names.back(), padding + "10999");
}

TEST_F(DirectoryListingsTest, SavedListingsAreFoundWhileTheDirectoryIsUnchanged) {
    test::write_file(m_dir / "one", "");
    fs::create_directory(m_temp.path() / "empty");
    ListingWriter writer;
    writer.add(stat_of(m_dir), names_in(m_dir), true);
    ListingWriter other;
    other.add(stat_of(m_temp.path() / "empty"), "", true);
    writer.add(other);
    writer.save(m_file);
    {
        const DirectoryListings listings(m_file);
        EXPECT_EQ(listings.size(), 2u);
        const auto found = listings.find(stat_of(m_dir));
        ASSERT_TRUE(found);
        EXPECT_THAT(names_of(*found), ElementsAre("one"));
        ASSERT_TRUE(listings.find(stat_of(m_temp.path() / "empty")));
        EXPECT_FALSE(listings.find(stat_of(m_temp.path())));

        ListingWriter same;
        same.add(stat_of(m_dir), found->bytes(), false);
        same.add(stat_of(m_temp.path() / "empty"), "", false);
        EXPECT_FALSE(same.differs_from(listings));
        ListingWriter fewer;
        fewer.add(stat_of(m_dir), found->bytes(), false);
        EXPECT_TRUE(fewer.differs_from(listings)) << "a directory no longer seen";
    }
    // A new entry changes the directory's modification time: its listing no longer applies.
    const struct stat before = stat_of(m_dir);
    for (int i = 0; stat_of(m_dir).st_mtim.tv_nsec == before.st_mtim.tv_nsec &&
                    stat_of(m_dir).st_mtim.tv_sec == before.st_mtim.tv_sec;
         ++i)
        test::write_file(m_dir / ("new" + std::to_string(i)), "");
    EXPECT_FALSE(DirectoryListings(m_file).find(stat_of(m_dir)));
}

TEST_F(DirectoryListingsTest, AMissingOrDamagedFileHoldsNoListings) {
    EXPECT_EQ(DirectoryListings(m_file).size(), 0u);
    test::write_file(m_dir / "one", "");
    ListingWriter writer;
    writer.add(stat_of(m_dir), names_in(m_dir), true);
    writer.save(m_file);
    ASSERT_EQ(DirectoryListings(m_file).size(), 1u);
    std::string bytes;
    {
        std::ifstream in(m_file, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    for (const std::string& damaged : {bytes.substr(0, bytes.size() - 1), bytes + "7 7 7 7 99\n", "other magic\n" + bytes,
                                       bytes.substr(0, bytes.size() - 1) + "x"}) {
        std::ofstream(m_file, std::ios::binary | std::ios::trunc) << damaged;
        EXPECT_EQ(DirectoryListings(m_file).size(), 0u) << damaged;
    }
    int files = 0;
    for ([[maybe_unused]] const auto& entry : fs::directory_iterator(m_file.parent_path())) ++files;
    EXPECT_EQ(files, 1) << "no temporary files left";
}

}  // namespace
}  // namespace cbuild::builder::internal
