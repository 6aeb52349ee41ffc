#include "builder/snapshot/snapshot_store.h"
#include "builder/snapshot/internal/overlay_xattr.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <functional>
#include <latch>
#include <set>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "builder/snapshot/overlay_mount.h"
#include "tests/support/ci.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

std::set<std::string> names_in(const fs::path& dir) {
    std::set<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir)) names.insert(entry.path().filename().string());
    return names;
}

// What a store holds besides its snapshots: the xattr namespace it was made with.
const std::string k_marker = "overlay-xattrs";

class SnapshotStoreTest : public ::testing::Test {
protected:
    fs::path store_dir() const { return m_temp.path() / "snapshots"; }

    test::TempDir m_temp;
};

TEST_F(SnapshotStoreTest, RecordsItsXattrNamespaceAndRefusesTheOther) {
    { const SnapshotStore store(store_dir()); }
    // trusted in the initial user namespace (CI runs as root there), user in any other.
    const std::string mine(internal::overlay_xattr_namespace());
    EXPECT_EQ(slurp(store_dir() / k_marker), mine + "\n");
    const SnapshotStore again(store_dir());
    EXPECT_EQ(slurp(store_dir() / k_marker), mine + "\n");

    const std::string other = mine == "trusted" ? "user" : "trusted";
    const fs::path other_store = m_temp.path() / "other";
    fs::create_directories(other_store);
    std::ofstream(other_store / k_marker) << other << "\n";
    try {
        const SnapshotStore store(other_store);
        FAIL() << "a store of " << other << ".overlay.* snapshots was opened";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("`" + other_store.string() + "` keeps overlayfs metadata in " + other +
                                                 ".overlay.* xattrs"),
                  std::string::npos)
            << error.what();
    }
}

TEST(ChainIdTest, FollowsTheOciDefinition) {
    const Digest one = sha256_of("layer one");
    const Digest two = sha256_of("layer two");
    const Digest three = sha256_of("layer three");
    EXPECT_EQ(chain_id(std::nullopt, one), one);
    // Computed independently: sha256("sha256:<one> sha256:<two>"), and so on (Python's hashlib).
    const Digest chain_two = chain_id(one, two);
    EXPECT_EQ(chain_two.to_string(), "sha256:d440fc2ac5bfa225471b58c5d6b4283504f5dfbcd6251023a635cdcd0c058e3e");
    EXPECT_EQ(chain_id(chain_two, three).to_string(),
              "sha256:952689aceeac7e377b602804de533a4ad47ba634e3917ca7cb071e5ff2bff6cd");
}

TEST_F(SnapshotStoreTest, EnsureFillsOnceAndFindsItAfterwards) {
    SnapshotStore store(store_dir());
    const Digest id = sha256_of("a layer");
    EXPECT_EQ(store.find(id), std::nullopt);
    int fills = 0;
    const auto fill = [&](const fs::path& fs_dir) {
        ++fills;
        EXPECT_TRUE(fs::is_empty(fs_dir));
        std::ofstream(fs_dir / "file") << "content";
    };
    const fs::path first = store.ensure(id, fill);
    EXPECT_EQ(first, store_dir() / id.hex() / "fs");
    EXPECT_EQ(slurp(first / "file"), "content");
    EXPECT_EQ(store.ensure(id, fill), first);
    EXPECT_EQ(fills, 1);
    EXPECT_EQ(store.find(id), first);
    EXPECT_EQ(names_in(store_dir()), (std::set<std::string>{id.hex(), k_marker})) << "no tmp-* left behind";
    // Another store object on the same directory (another cbuild process) sees it too.
    EXPECT_EQ(SnapshotStore(store_dir()).find(id), first);
}

TEST_F(SnapshotStoreTest, AFailedFillLeavesNothing) {
    SnapshotStore store(store_dir());
    const Digest id = sha256_of("a layer");
    EXPECT_THROW(store.ensure(id,
                              [](const fs::path& fs_dir) {
                                  std::ofstream(fs_dir / "half") << "written";
                                  throw std::runtime_error("unpack failed");
                              }),
                 std::runtime_error);
    EXPECT_EQ(store.find(id), std::nullopt);
    EXPECT_EQ(names_in(store_dir()), std::set<std::string>{k_marker});
}

TEST_F(SnapshotStoreTest, CommitPublishesTheUpperDir) {
    SnapshotStore store(store_dir());
    const Digest id = chain_id(sha256_of("base"), sha256_of("run"));
    SnapshotStore::Scratch scratch = store.make_scratch();
    EXPECT_TRUE(fs::is_directory(scratch.upper()));
    EXPECT_TRUE(fs::is_directory(scratch.work()));
    EXPECT_EQ(scratch.upper().parent_path(), scratch.work().parent_path());
    EXPECT_EQ(scratch.upper().parent_path().parent_path(), store_dir()) << "same filesystem as the store";
    std::ofstream(scratch.upper() / "made-by-run") << "out";
    fs::create_directories(scratch.work() / "work");
    const fs::path published = store.commit(std::move(scratch), id);
    EXPECT_EQ(published, store_dir() / id.hex() / "fs");
    EXPECT_EQ(slurp(published / "made-by-run"), "out");
    EXPECT_EQ(names_in(store_dir() / id.hex()), std::set<std::string>{"fs"}) << "work/ is discarded";
    EXPECT_EQ(names_in(store_dir()), (std::set<std::string>{id.hex(), k_marker}));
}

TEST_F(SnapshotStoreTest, CommitOfAnExistingSnapshotKeepsTheFirst) {
    SnapshotStore store(store_dir());
    const Digest id = sha256_of("layer");
    store.ensure(id, [](const fs::path& fs_dir) { std::ofstream(fs_dir / "first") << "1"; });
    SnapshotStore::Scratch scratch = store.make_scratch();
    std::ofstream(scratch.upper() / "second") << "2";
    const fs::path published = store.commit(std::move(scratch), id);
    EXPECT_EQ(names_in(published), std::set<std::string>{"first"});
    EXPECT_EQ(names_in(store_dir()), (std::set<std::string>{id.hex(), k_marker}));
}

TEST_F(SnapshotStoreTest, AnUncommittedScratchIsRemoved) {
    SnapshotStore store(store_dir());
    {
        SnapshotStore::Scratch scratch = store.make_scratch();
        std::ofstream(scratch.upper() / "file") << "x";
        SnapshotStore::Scratch moved = std::move(scratch);
        EXPECT_TRUE(fs::exists(moved.upper() / "file"));
    }
    EXPECT_EQ(names_in(store_dir()), std::set<std::string>{k_marker});
}

TEST_F(SnapshotStoreTest, ThreadsRacingEnsureBothGetTheOneSnapshot) {
    SnapshotStore store(store_dir());
    const Digest id = sha256_of("contended");
    std::latch both_filling(2);
    std::atomic<int> fills{0};
    fs::path results[2];
    const auto maker = [&](int index) {
        results[index] = store.ensure(id, [&, index](const fs::path& fs_dir) {
            ++fills;
            std::ofstream(fs_dir / "maker") << index;
            // Both fills run before either publishes: a real race for the rename.
            both_filling.arrive_and_wait();
        });
    };
    std::thread first(maker, 0);
    std::thread second(maker, 1);
    first.join();
    second.join();
    EXPECT_EQ(fills.load(), 2);
    EXPECT_EQ(results[0], results[1]);
    EXPECT_EQ(results[0], store_dir() / id.hex() / "fs");
    const std::string winner = slurp(results[0] / "maker");
    EXPECT_TRUE(winner == "0" || winner == "1") << winner;
    EXPECT_EQ(names_in(store_dir()), (std::set<std::string>{id.hex(), k_marker})) << "the loser's copy is gone";
}

TEST_F(SnapshotStoreTest, RemoveStaleDeletesOnlyOldTemporaryDirs) {
    SnapshotStore store(store_dir());
    const Digest id = sha256_of("kept");
    store.ensure(id, [](const fs::path&) {});
    fs::create_directories(store_dir() / "tmp-crashed" / "fs" / "deep");
    fs::create_directories(store_dir() / "tmp-live");
    const timespec long_ago[2] = {{1000000000, 0}, {1000000000, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, (store_dir() / "tmp-crashed").c_str(), long_ago, 0), 0);
    ASSERT_EQ(::utimensat(AT_FDCWD, (store_dir() / id.hex()).c_str(), long_ago, 0), 0);
    EXPECT_EQ(store.remove_stale(std::chrono::hours(24)), 1u);
    EXPECT_EQ(names_in(store_dir()), (std::set<std::string>{id.hex(), "tmp-live", k_marker}));
}

TEST(OverlayMountOptionsTest, EscapesSeparatorsAndKeepsTheUpperPlain) {
    EXPECT_EQ(overlay_mount_options({"/s/top", "/s/a:b", "/s/c,d\\e"}), "lowerdir=/s/top:/s/a\\:b:/s/c\\,d\\\\e");
    EXPECT_EQ(overlay_mount_options({"/l"}, "/u,1", "/w:1"),
              "lowerdir=/l,upperdir=/u\\,1,workdir=/w\\:1,redirect_dir=off,metacopy=off,index=off");
    EXPECT_THROW(OverlayMount("/m", {}), Error);
    EXPECT_THROW(OverlayMount("/m", {"/l"}, "/u"), Error);
    EXPECT_EQ(mount_overlay("/m", {}, {}, {}), EINVAL);
}

// Runs `body` in a child with a private mount namespace; its result is the child's exit status.
int in_mount_namespace(const std::function<int()>& body) {
    const pid_t child = ::fork();
    if (child == 0) {
        if (::unshare(CLONE_NEWNS) != 0) ::_exit(100);
        if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) ::_exit(101);
        int status = 102;
        try {
            status = body();
        } catch (...) {
        }
        ::_exit(status);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 200;
}

class OverlayMountTest : public SnapshotStoreTest {
protected:
    void SetUp() override {
        if (::geteuid() != 0 || !SnapshotStore(store_dir()).overlay_supported()) {
            if (test::in_ci()) FAIL() << "CI runs as root with overlayfs";
            GTEST_SKIP() << "needs root and overlayfs";
        }
    }

    // Two lowers, `dir_name` apart: top hides bottom's `hidden` with a whiteout.
    std::vector<fs::path> make_lowers(const std::string& dir_name) {
        const fs::path top = m_temp.path() / dir_name / "top";
        const fs::path bottom = m_temp.path() / dir_name / "bottom";
        fs::create_directories(top);
        fs::create_directories(bottom);
        std::ofstream(top / "shared") << "top";
        std::ofstream(bottom / "shared") << "bottom";
        std::ofstream(bottom / "only-bottom") << "b";
        std::ofstream(bottom / "hidden") << "h";
        EXPECT_EQ(::mknod((top / "hidden").c_str(), S_IFCHR | 0600, makedev(0, 0)), 0);
        return {top, bottom};
    }
};

TEST_F(OverlayMountTest, StoreProbeFindsOverlayfs) {
    SnapshotStore store(store_dir());
    EXPECT_TRUE(store.overlay_supported());
    EXPECT_TRUE(store.overlay_supported()) << "the cached answer";
    EXPECT_EQ(names_in(store_dir()), std::set<std::string>{k_marker}) << "the probe cleans up";
}

// The merged view of make_lowers(), checked inside the child: 0 when right, else which check failed.
int check_read_only_merge(const fs::path& merged) {
    if (slurp(merged / "shared") != "top") return 1;
    if (slurp(merged / "only-bottom") != "b") return 2;
    if (fs::exists(merged / "hidden")) return 3;
    const int fd = ::open((merged / "new").c_str(), O_WRONLY | O_CREAT, 0644);
    if (fd >= 0 || errno != EROFS) return 4;
    return ::umount2(merged.c_str(), 0) == 0 ? 0 : 5;
}

TEST_F(OverlayMountTest, ReadOnlyOverlayWithEitherApi) {
    for (const MountApi api : {MountApi::automatic, MountApi::legacy}) {
        // `:`, `,` and `\` in paths must survive the legacy option string's escaping.
        const std::string name = api == MountApi::legacy ? "odd:dir,with\\chars" : "plain";
        const std::vector<fs::path> lowers = make_lowers(name);
        const fs::path merged = m_temp.path() / name / "merged";
        fs::create_directories(merged);
        const OverlayMount overlay(merged, lowers);
        EXPECT_EQ(in_mount_namespace([&] { return overlay.mount(api) != 0 ? 50 : check_read_only_merge(merged); }), 0)
            << (api == MountApi::legacy ? "legacy" : "automatic");
    }
}

TEST_F(OverlayMountTest, WritableOverlayPutsChangesInTheUpperDir) {
    const std::vector<fs::path> lowers = make_lowers("rw");
    const fs::path upper = m_temp.path() / "rw/upper";
    const fs::path work = m_temp.path() / "rw/work";
    const fs::path merged = m_temp.path() / "rw/merged";
    for (const fs::path& dir : {upper, work, merged}) fs::create_directories(dir);
    EXPECT_EQ(in_mount_namespace([&] {
                  if (mount_overlay(merged, lowers, upper, work) != 0) return 50;
                  std::ofstream(merged / "created") << "new";
                  fs::remove(merged / "only-bottom");
                  return ::umount2(merged.c_str(), 0) == 0 ? 0 : 51;
              }),
              0);
    EXPECT_EQ(slurp(upper / "created"), "new");
    struct stat whiteout {};
    ASSERT_EQ(::lstat((upper / "only-bottom").c_str(), &whiteout), 0);
    EXPECT_TRUE(S_ISCHR(whiteout.st_mode));
    EXPECT_EQ(whiteout.st_rdev, makedev(0, 0));
    EXPECT_TRUE(fs::exists(lowers[1] / "only-bottom")) << "lowers are never written";
}

TEST_F(OverlayMountTest, OneLowerWithoutUpperIsAReadOnlyBind) {
    const fs::path lower = m_temp.path() / "single/lower";
    const fs::path merged = m_temp.path() / "single/merged";
    fs::create_directories(lower);
    fs::create_directories(merged);
    std::ofstream(lower / "file") << "one";
    EXPECT_EQ(in_mount_namespace([&] {
                  if (mount_overlay(merged, {lower}, {}, {}) != 0) return 50;
                  if (slurp(merged / "file") != "one") return 1;
                  const int fd = ::open((merged / "new").c_str(), O_WRONLY | O_CREAT, 0644);
                  if (fd >= 0 || errno != EROFS) return 2;
                  return ::umount2(merged.c_str(), 0) == 0 ? 0 : 3;
              }),
              0);
    EXPECT_FALSE(fs::exists(lower / "new"));
}

}  // namespace
}  // namespace cbuild::builder
