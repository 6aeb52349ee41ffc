// The values of --build-arg-file, --label, --build-context, --add-host, --network, --shm-size and
// --ulimit, as docker buildx accepts and refuses them.

#include "cli/build_flags.h"

#include <sys/resource.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>

#include "common/error.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cli {
namespace {

// The UsageError message of `parse`, or "" when it does not throw.
template <typename Parse>
std::string usage_error(Parse parse) {
    try {
        parse();
    } catch (const UsageError& error) {
        return error.what();
    }
    return "";
}

TEST(BuildArgFileTest, ReadsKeyValueLinesSkippingCommentsAndBlanks) {
    const auto args = parse_build_arg_file("# a comment\n\nA=1\n  # indented comment\nB=x=y \nC=\r\n", "args.env");
    EXPECT_EQ(args, (std::map<std::string, std::string>{{"A", "1"}, {"B", "x=y "}, {"C", ""}}));
}

TEST(BuildArgFileTest, BareKeyComesFromTheEnvironment) {
    ::setenv("CBUILD_TEST_FROM_ENV", "env value", 1);
    ::unsetenv("CBUILD_TEST_UNSET");
    const auto args = parse_build_arg_file("CBUILD_TEST_FROM_ENV\nCBUILD_TEST_UNSET\n", "args.env");
    EXPECT_EQ(args, (std::map<std::string, std::string>{{"CBUILD_TEST_FROM_ENV", "env value"}}));
}

TEST(BuildArgFileTest, ErrorsNameFileAndLine) {
    EXPECT_NE(usage_error([] { parse_build_arg_file("A=1\n=oops\n", "args.env"); }).find("args.env:2:"),
              std::string::npos);
    EXPECT_NE(usage_error([] { parse_build_arg_file("# c\n\nMY KEY=1\n", "f"); }).find("f:3:"), std::string::npos);
}

TEST(LabelTest, KeyValueAndBareKey) {
    EXPECT_EQ(parse_label("a=b=c"), (std::pair<std::string, std::string>{"a", "b=c"}));
    EXPECT_EQ(parse_label("flag"), (std::pair<std::string, std::string>{"flag", ""}));
    EXPECT_NE(usage_error([] { parse_label("=x"); }), "");
}

TEST(BuildContextTest, DirectoryImageAndLayout) {
    test::TempDir dir;
    const auto [name, directory] = parse_build_context("docker.io/library/alpine=" + dir.path().string());
    EXPECT_EQ(name, "alpine");
    EXPECT_EQ(directory.kind, builder::NamedContext::Kind::directory);
    EXPECT_EQ(directory.directory, dir.path());

    const auto [image_name, image] = parse_build_context("base=docker-image://localhost:5000/busybox:1");
    EXPECT_EQ(image_name, "base");
    ASSERT_EQ(image.kind, builder::NamedContext::Kind::image);
    EXPECT_EQ(image.image->to_string(), "localhost:5000/busybox:1");

    test::write_file(dir.path() / "index.json", "{}");
    const auto [layout_name, layout] = parse_build_context("base=oci-layout://" + dir.path().string() + ":v1");
    EXPECT_EQ(layout.kind, builder::NamedContext::Kind::oci_layout);
    EXPECT_EQ(layout.directory, dir.path());
    EXPECT_EQ(layout.layout_tag, "v1");
    EXPECT_FALSE(layout.layout_digest);
    const std::string digest = "sha256:" + std::string(64, 'a');
    const auto [pinned_name, pinned] = parse_build_context("base=oci-layout://" + dir.path().string() + "@" + digest);
    EXPECT_EQ(pinned.layout_digest->to_string(), digest);
    EXPECT_EQ(pinned.layout_tag, "latest");
}

TEST(BuildContextTest, BadValuesAreUsageErrorsNamingTheValue) {
    test::TempDir dir;
    EXPECT_NE(usage_error([] { parse_build_context("noequals"); }).find("noequals"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_build_context("Bad Name=/tmp"); }).find("Bad Name"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_build_context("a="); }), "");
    EXPECT_NE(usage_error([] { parse_build_context("a=/no/such/dir/xyz"); }).find("/no/such/dir/xyz"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_build_context("a=https://example.com/x.tar"); }).find("supported"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_build_context("a=git@github.com:x/y"); }), "");
    EXPECT_NE(usage_error([] { parse_build_context("a=docker-image://UPPER"); }), "");
    EXPECT_NE(usage_error([&] { parse_build_context("a=oci-layout://" + dir.path().string()); }).find("OCI layout"),
              std::string::npos);
    test::write_file(dir.path() / "index.json", "{}");
    EXPECT_NE(usage_error([&] { parse_build_context("a=oci-layout://" + dir.path().string() + "@sha256:12"); }), "");
}

TEST(AddHostTest, HostAndAddress) {
    EXPECT_EQ(parse_add_host("db:10.0.0.7"), (std::pair<std::string, std::string>{"db", "10.0.0.7"}));
    EXPECT_EQ(parse_add_host("db=10.0.0.7"), (std::pair<std::string, std::string>{"db", "10.0.0.7"}));
    EXPECT_EQ(parse_add_host("v6:::1"), (std::pair<std::string, std::string>{"v6", "::1"}));
    EXPECT_EQ(parse_add_host("v6=[fe80::1]"), (std::pair<std::string, std::string>{"v6", "fe80::1"}));
    EXPECT_NE(usage_error([] { parse_add_host("db"); }), "");
    EXPECT_NE(usage_error([] { parse_add_host(":1.2.3.4"); }), "");
    EXPECT_NE(usage_error([] { parse_add_host("db:not-an-ip"); }).find("not-an-ip"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_add_host("db:host-gateway"); }).find("host-gateway"), std::string::npos);
}

TEST(NetworkTest, ThreeModes) {
    EXPECT_EQ(parse_network("default"), parser::NetworkMode::default_);
    EXPECT_EQ(parse_network("none"), parser::NetworkMode::none);
    EXPECT_EQ(parse_network("host"), parser::NetworkMode::host);
    EXPECT_NE(usage_error([] { parse_network("bridge"); }).find("bridge"), std::string::npos);
}

TEST(ShmSizeTest, DockerUnits) {
    EXPECT_EQ(parse_shm_size("1048576"), 1048576);
    EXPECT_EQ(parse_shm_size("64m"), 64 << 20);
    EXPECT_EQ(parse_shm_size("64M"), 64 << 20);
    EXPECT_EQ(parse_shm_size("1g"), std::int64_t{1} << 30);
    EXPECT_EQ(parse_shm_size("1GiB"), std::int64_t{1} << 30);
    EXPECT_EQ(parse_shm_size("512kb"), 512 << 10);
    EXPECT_EQ(parse_shm_size("1.5k"), 1536);
    for (const char* bad : {"", "m", "0", "-1m", "12x", "1.m", "1mm", "1e9"})
        EXPECT_NE(usage_error([&] { parse_shm_size(bad); }), "") << bad;
}

TEST(UlimitTest, SoftAndHard) {
    EXPECT_EQ(parse_ulimit("nofile=1024:2048"), (builder::SandboxRlimit{RLIMIT_NOFILE, 1024, 2048}));
    EXPECT_EQ(parse_ulimit("nproc=100"), (builder::SandboxRlimit{RLIMIT_NPROC, 100, 100}));
    EXPECT_EQ(parse_ulimit("core=-1"), (builder::SandboxRlimit{RLIMIT_CORE, RLIM_INFINITY, RLIM_INFINITY}));
    EXPECT_EQ(parse_ulimit("stack=8192:-1"), (builder::SandboxRlimit{RLIMIT_STACK, 8192, RLIM_INFINITY}));
    EXPECT_NE(usage_error([] { parse_ulimit("nofile"); }), "");
    EXPECT_NE(usage_error([] { parse_ulimit("files=1"); }).find("files"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_ulimit("nofile=a"); }), "");
    EXPECT_NE(usage_error([] { parse_ulimit("nofile=1:2:3"); }), "");
    EXPECT_NE(usage_error([] { parse_ulimit("nofile=2048:1024"); }).find("soft"), std::string::npos);
    EXPECT_NE(usage_error([] { parse_ulimit("nofile=-2"); }), "");
}

}  // namespace
}  // namespace cbuild::cli
