// The build flags that shape RUN's sandbox (--add-host, --network, --shm-size, --ulimit), the
// image (--label), the build args (--build-arg-file) and its sources (--build-context: a
// directory, docker-image://, oci-layout://), end to end on the suite's busybox base image.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::read_file;
using test::shell_quote;
using test::write_file;

using BuildFlagsTest = test::BusyboxBuildTest;

TEST_F(BuildFlagsTest, AddHostIsInEtcHostsAndInTheKey) {
    const std::string dockerfile = "FROM BASE\nRUN cat /etc/hosts > /hosts\n";
    auto built = build(dockerfile, "--add-host db.internal:10.1.2.3 --add-host v6=[fe80::1] -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::string hosts = read_file(m_context / "out" / "hosts");
    EXPECT_NE(hosts.find("127.0.0.1\tlocalhost"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("10.1.2.3\tdb.internal\n"), std::string::npos) << hosts;
    EXPECT_NE(hosts.find("fe80::1\tv6\n"), std::string::npos) << hosts;

    // Another host is another RUN: the step is not taken from the first build's cache.
    built = build(dockerfile, "--add-host db.internal:10.9.9.9 -o type=local,dest=out2");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_NE(read_file(m_context / "out2" / "hosts").find("10.9.9.9\tdb.internal\n"), std::string::npos);
}

TEST_F(BuildFlagsTest, UlimitSetsSoftAndHardLimits) {
    const auto built = build("FROM BASE\nRUN ulimit -n > /soft && ulimit -Hn > /hard\n",
                             "--ulimit nofile=1024:2048 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "soft"), "1024\n");
    EXPECT_EQ(read_file(m_context / "out" / "hard"), "2048\n");
}

TEST_F(BuildFlagsTest, ShmSizeSizesDevShm) {
    const std::string dockerfile = "FROM BASE\nRUN grep ' /dev/shm ' /proc/mounts > /shm\n";
    auto built = build(dockerfile, "--shm-size 32m -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_NE(read_file(m_context / "out" / "shm").find("size=32768k"), std::string::npos)
        << read_file(m_context / "out" / "shm");
    built = build(dockerfile, "-o type=local,dest=default");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_NE(read_file(m_context / "default" / "shm").find("size=65536k"), std::string::npos)
        << read_file(m_context / "default" / "shm");
}

TEST_F(BuildFlagsTest, NetworkNoneIsTheDefaultOfEveryRun) {
    const auto built = build("FROM BASE\n"
                             "RUN tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /default\n"
                             "RUN --network=none tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' > /explicit\n",
                             "--network none -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "default"), "lo\n");
    EXPECT_EQ(read_file(m_context / "out" / "explicit"), "lo\n");
}

TEST_F(BuildFlagsTest, RunNetworkHostWinsOverTheDefault) {
    const auto host = test::run_command("tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort");
    const auto built = build("FROM BASE\nRUN --network=host tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d ' ' | sort > /nets\n",
                             "--network none -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "nets"), host.output);
}

TEST_F(BuildFlagsTest, LabelsGoOverTheDockerfilesAndKeepTheCache) {
    const std::string dockerfile = "FROM BASE\nLABEL a=dockerfile b=kept\nRUN cat /proc/sys/kernel/random/uuid > /id\n";
    auto built = build(dockerfile, "-t flags/label:1");
    ASSERT_EQ(built.status, 0) << built.output;
    built = build(dockerfile, "-t flags/label:2 --label a=cli --label c=new=value --label bare");
    ASSERT_EQ(built.status, 0) << built.output;
    const nlohmann::json labels = config("flags/label:2")["config"]["Labels"];
    EXPECT_EQ(labels, (nlohmann::json{{"a", "cli"}, {"b", "kept"}, {"c", "new=value"}, {"bare", ""}}));
    EXPECT_EQ(config("flags/label:1")["config"]["Labels"]["a"], "dockerfile");
    // Labels are config only: the RUN came from the cache, so its layer is the same.
    EXPECT_EQ(manifest("flags/label:1")["layers"], manifest("flags/label:2")["layers"]);
}

TEST_F(BuildFlagsTest, BuildArgFileWithCommandLineOverride) {
    write_file(m_context / "args.env", "# build args\n\nA=from file\nB=from file\nC\n");
    ::setenv("C", "from env", 1);
    const auto built = build("FROM BASE\nARG A\nARG B\nARG C\nRUN echo \"$A|$B|$C\" > /args\n",
                             "--build-arg-file args.env --build-arg B=cli -o type=local,dest=out");
    ::unsetenv("C");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "args"), "from file|cli|from env\n");
}

TEST_F(BuildFlagsTest, BuildArgFileErrorNamesTheLine) {
    write_file(m_context / "args.env", "A=1\n=2\n");
    const auto built = build("FROM BASE\n", "--build-arg-file args.env");
    EXPECT_EQ(built.status, 2) << built.output;
    EXPECT_NE(built.output.find("args.env:2"), std::string::npos) << built.output;
}

TEST_F(BuildFlagsTest, DirectoryContextReplacesAStageUsedByCopyFrom) {
    const std::filesystem::path deps = m_dir.path() / "deps";
    write_file(deps / "lib" / "hello.txt", "from the context\n");
    const auto built = build("FROM BASE AS deps\nRUN exit 1\n"
                             "FROM BASE\nCOPY --from=deps /lib/hello.txt /got\n"
                             "RUN --mount=from=deps,target=/m cat /m/lib/hello.txt > /mounted\n",
                             "--build-context deps=" + shell_quote(deps.string()) + " -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "got"), "from the context\n");
    EXPECT_EQ(read_file(m_context / "out" / "mounted"), "from the context\n");

    // The key covers the directory's content: a change is seen.
    write_file(deps / "lib" / "hello.txt", "changed\n");
    const auto again = build("FROM BASE AS deps\nRUN exit 1\n"
                             "FROM BASE\nCOPY --from=deps /lib/hello.txt /got\n"
                             "RUN --mount=from=deps,target=/m cat /m/lib/hello.txt > /mounted\n",
                             "--build-context deps=" + shell_quote(deps.string()) + " -o type=local,dest=out2");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_EQ(read_file(m_context / "out2" / "got"), "changed\n");
    EXPECT_EQ(read_file(m_context / "out2" / "mounted"), "changed\n");
}

TEST_F(BuildFlagsTest, DirectoryContextAsFromBase) {
    const std::filesystem::path files = m_dir.path() / "files";
    write_file(files / "etc" / "motd", "hello\n");
    const auto built = build("FROM docker.io/library/alpine\n",
                             "--build-context alpine=" + shell_quote(files.string()) + " -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "etc" / "motd"), "hello\n");
    EXPECT_FALSE(std::filesystem::exists(m_context / "out" / "bin" / "busybox"));
    const auto tagged = build("FROM docker.io/library/alpine\n",
                              "--build-context alpine=" + shell_quote(files.string()) + " -t flags/dirbase:1");
    ASSERT_EQ(tagged.status, 0) << tagged.output;
    EXPECT_EQ(manifest("flags/dirbase:1")["layers"].size(), 1u);
    const auto problems = test::check_image(store(), test::manifest_digest_in_layout(store(), "flags/dirbase:1"));
    EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST_F(BuildFlagsTest, DockerImageContextReplacesABaseImage) {
    const auto built = build("FROM alpine\nRUN test -x /bin/busybox && echo ok > /ok\n",
                             "--build-context alpine=docker-image://" + s_base + " -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "ok"), "ok\n");
}

TEST_F(BuildFlagsTest, OciLayoutContextFromACbuildExport) {
    const std::filesystem::path layout_context = m_dir.path() / "layout-context";
    write_file(layout_context / "Dockerfile", "FROM " + s_base + "\nRUN echo from-layout > /marker\n");
    auto exported = test::run_cbuild("--root " + shell_quote(store().string()) + " -t flags/layout:v1 -o type=oci,dest=" +
                                         shell_quote((m_dir.path() / "image.tar").string()) + " .",
                                     layout_context);
    ASSERT_EQ(exported.status, 0) << exported.output;
    const std::filesystem::path layout = m_dir.path() / "layout";
    std::filesystem::create_directories(layout);
    const auto untarred = test::run_command("tar -xf " + shell_quote((m_dir.path() / "image.tar").string()) + " -C " +
                                            shell_quote(layout.string()));
    ASSERT_EQ(untarred.status, 0) << untarred.output;

    const auto built = build("FROM base\nRUN cat /marker > /seen\n",
                             "--build-context base=oci-layout://" + layout.string() + ":v1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(read_file(m_context / "out" / "seen"), "from-layout\n");

    const std::string digest = nlohmann::json::parse(read_file(layout / "index.json"))["manifests"][0]["digest"];
    const auto pinned = build("FROM base\nRUN cat /marker > /seen\n",
                              "--build-context base=oci-layout://" + layout.string() + "@" + digest +
                                  " -o type=local,dest=pinned");
    ASSERT_EQ(pinned.status, 0) << pinned.output;
    EXPECT_EQ(read_file(m_context / "pinned" / "seen"), "from-layout\n");

    const auto missing = build("FROM base\n", "--build-context base=oci-layout://" + layout.string() + ":nope");
    EXPECT_EQ(missing.status, 2) << missing.output;
    EXPECT_NE(missing.output.find("nope"), std::string::npos) << missing.output;
}

TEST_F(BuildFlagsTest, BadValuesAreUsageErrors) {
    for (const std::string flags : {"--ulimit nofile=x", "--ulimit bogus=1", "--shm-size 12q", "--network bridge",
                                    "--add-host nohost", "--label =x", "--build-context a=/no/such/dir",
                                    "--build-context a=ftp://x", "--build-arg-file /no/such/file"}) {
        const auto built = build("FROM BASE\n", flags);
        EXPECT_EQ(built.status, 2) << flags << "\n" << built.output;
    }
}

}  // namespace
}  // namespace cbuild
