// resolve_user against BuildKit's rules (executor/oci.GetUser, moby/sys/user.GetExecUser, runc's
// HOME lookup).

#include "builder/sandbox/user.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace cbuild::builder {
namespace {

const std::string k_passwd =
    "root:x:0:0:root:/root:/bin/sh\n"
    "app:x:1000:1000:app:/home/app:/bin/sh\n"
    "  worker:x:1001:50::/srv/worker:/bin/sh  \r\n"
    "\n"
    "app:x:1002:1002:second app:/elsewhere:/bin/sh\n"
    "odd:x:notanumber:7::/odd:\n";

const std::string k_group =
    "root:x:0:root\n"
    "# comment:x:9:app\n"
    "app:x:1000:\n"
    "staff:x:50:worker,app\n"
    "extra:x:2000:app\n"
    "again:x:2000:app\n"
    "self:x:1000:app\n"
    "wheel:x:10:root,worker\n";

ResolvedUser resolve(std::string_view spec) { return resolve_user(spec, k_passwd, k_group); }

std::string error_of(std::string_view spec, const std::optional<std::string>& passwd = k_passwd,
                     const std::optional<std::string>& group = k_group) {
    try {
        resolve_user(spec, passwd, group);
    } catch (const Error& error) {
        return error.what();
    }
    return "no error";
}

using Gids = std::vector<std::uint32_t>;

TEST(ResolveUserTest, EmptyIsRootWithRootsGroups) {
    const ResolvedUser user = resolve("");
    EXPECT_EQ(user.uid, 0u);
    EXPECT_EQ(user.gid, 0u);
    EXPECT_EQ(user.additional_gids, Gids{10});  // root's own gid 0 is not repeated
    EXPECT_EQ(user.home, "/root");
}

TEST(ResolveUserTest, EmptyWithoutFilesIsPlainRoot) {
    const ResolvedUser user = resolve_user("", std::nullopt, std::nullopt);
    EXPECT_EQ(user.uid, 0u);
    EXPECT_EQ(user.gid, 0u);
    EXPECT_TRUE(user.additional_gids.empty());
    EXPECT_EQ(user.home, "/");
}

TEST(ResolveUserTest, NameTakesPasswdEntryAndMemberGroupsFirstMatchWinning) {
    const ResolvedUser user = resolve("app");
    EXPECT_EQ(user.uid, 1000u);
    EXPECT_EQ(user.gid, 1000u);
    EXPECT_EQ(user.additional_gids, (Gids{50, 2000}));  // staff, extra (= again); self is the primary gid
    EXPECT_EQ(user.home, "/home/app");
}

TEST(ResolveUserTest, LinesAreTrimmedAndCommentsSkippedInGroupOnly) {
    const ResolvedUser user = resolve("worker");
    EXPECT_EQ(user.uid, 1001u);
    EXPECT_EQ(user.gid, 50u);
    EXPECT_EQ(user.additional_gids, Gids{10});
    EXPECT_EQ(user.home, "/srv/worker");
}

TEST(ResolveUserTest, NumericUidFoundInPasswdIsLikeItsName) {
    const ResolvedUser user = resolve("1000");
    EXPECT_EQ(user.gid, 1000u);
    EXPECT_EQ(user.additional_gids, (Gids{50, 2000}));
    EXPECT_EQ(user.home, "/home/app");
}

TEST(ResolveUserTest, NumericUidNotInPasswdGetsGroupZeroAndHomeSlash) {
    const ResolvedUser user = resolve("5000");
    EXPECT_EQ(user.uid, 5000u);
    EXPECT_EQ(user.gid, 0u);
    EXPECT_TRUE(user.additional_gids.empty());
    EXPECT_EQ(user.home, "/");
    EXPECT_EQ(resolve("5000:staff").gid, 50u);
    EXPECT_EQ(resolve("5000:77").gid, 77u);
}

TEST(ResolveUserTest, UidAndGidAreTakenAsTheyAreWithoutGroups) {
    const ResolvedUser user = resolve("1000:1000");
    EXPECT_EQ(user.uid, 1000u);
    EXPECT_EQ(user.gid, 1000u);
    EXPECT_TRUE(user.additional_gids.empty());
    EXPECT_EQ(user.home, "/home/app");
    EXPECT_EQ(resolve("root:root").uid, 0u);
    EXPECT_EQ(resolve("4000000000:0").uid, 4000000000u);  // BuildKit's fast path takes any uint32
}

TEST(ResolveUserTest, ExplicitGroupReplacesTheGidAndDropsSupplementaryGroups) {
    ResolvedUser user = resolve("app:staff");
    EXPECT_EQ(user.uid, 1000u);
    EXPECT_EQ(user.gid, 50u);
    EXPECT_TRUE(user.additional_gids.empty());
    user = resolve("app:3000");
    EXPECT_EQ(user.gid, 3000u);
    EXPECT_EQ(resolve("app:2000").gid, 2000u);  // numeric groups match gids: extra
}

TEST(ResolveUserTest, UnknownNamesFailWithBuildKitsMessages) {
    EXPECT_EQ(error_of("nobody"), "unable to find user nobody: no matching entries in passwd file");
    EXPECT_EQ(error_of("nobody", std::nullopt), "unable to find user nobody: no matching entries in passwd file");
    EXPECT_EQ(error_of("app:nogroup"), "unable to find group nogroup: no matching entries in group file");
    EXPECT_EQ(error_of("app:staff", k_passwd, std::nullopt),
              "unable to find group staff: no matching entries in group file");
    EXPECT_EQ(error_of("2147483648"), "uids and gids must be in range 0-2147483647");
}

TEST(ResolveUserTest, NoGroupFileMeansNoSupplementaryGroups) {
    const ResolvedUser user = resolve_user("app", k_passwd, std::nullopt);
    EXPECT_EQ(user.gid, 1000u);
    EXPECT_TRUE(user.additional_gids.empty());
}

TEST(ResolveUserTest, UnparsableIdsReadAsZero) {
    // moby/sys ignores Atoi errors: `odd` has uid 0, and the first uid-0 entry, root, wins lookups by uid.
    const ResolvedUser user = resolve("odd");
    EXPECT_EQ(user.uid, 0u);
    EXPECT_EQ(user.gid, 7u);
    EXPECT_EQ(user.home, "/root");
}

}  // namespace
}  // namespace cbuild::builder
