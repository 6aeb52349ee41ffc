// RUN end to end: a busybox base image the test builds and pushes to a real registry, then
// Dockerfiles FROM it whose RUN steps run in the sandbox. Results are read back from the layer
// tars and from umoci's unpacking of the store.

#include <gtest/gtest.h>

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::run_command;
using test::shell_quote;
using test::write_file;

using RunBuildTest = test::BusyboxBuildTest;

bool has_member(const std::string& listing, const std::string& suffix) {
    std::istringstream lines(listing);
    for (std::string line; std::getline(lines, line);) {
        const std::size_t arrow = line.find(" -> ");
        const std::size_t link = line.find(" link to ");
        const std::string name_part =
            line.substr(0, std::min(arrow == std::string::npos ? line.size() : arrow, link == std::string::npos ? line.size() : link));
        if (name_part.size() >= suffix.size() && name_part.compare(name_part.size() - suffix.size(), suffix.size(), suffix) == 0)
            return true;
    }
    return false;
}

std::string line_of(const std::string& listing, const std::string& name) {
    std::istringstream lines(listing);
    for (std::string line; std::getline(lines, line);)
        if (line.find(" " + name) != std::string::npos) return line;
    return "";
}

TEST_F(RunBuildTest, ChangesBecomeOneLayerWithWhiteoutsAndOpaqueDirectories) {
    const auto built = build("FROM BASE\n"
                             "RUN echo hello > /created && chown 1000:2000 /created && chmod 4755 /created && "
                             "rm /old/file && rm -rf /old/dir && mkdir /old/dir && echo new > /old/dir/c && "
                             "ln /created /hard && ln -s created /soft && mkfifo /fifo\n",
                             "-t run/changes:1");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::string listing = last_layer_listing("run/changes:1");
    EXPECT_NE(line_of(listing, "created").find("-rwsr-xr-x 1000/2000"), std::string::npos) << listing;
    EXPECT_TRUE(has_member(listing, "old/.wh.file")) << listing;
    EXPECT_TRUE(has_member(listing, "old/dir/.wh..wh..opq")) << listing;
    EXPECT_TRUE(has_member(listing, "old/dir/c")) << listing;
    EXPECT_NE(line_of(listing, "hard").find("link to created"), std::string::npos) << listing;
    EXPECT_NE(line_of(listing, "soft").find("-> created"), std::string::npos) << listing;
    EXPECT_EQ(line_of(listing, "fifo").rfind("p", 0), 0u) << listing;
    // What the sandbox provides is not part of the image (BuildKit leaves it out too).
    for (const char* absent : {"etc/resolv.conf", "etc/hosts", "etc/hostname", "proc/", "dev/", "sys/", "etc/"})
        EXPECT_FALSE(has_member(listing, absent)) << absent << " is in the layer:\n" << listing;
    const auto history = config("run/changes:1")["history"];
    EXPECT_EQ(history.back()["created_by"].get<std::string>().rfind("RUN /bin/sh -c echo hello > /created", 0), 0u);

    if (!test::have_program("umoci")) {
        if (test::in_ci()) FAIL() << "umoci is not installed";
        return;
    }
    const std::filesystem::path bundle = m_dir.path() / "bundle";
    const auto unpacked = run_command("umoci unpack --image " + shell_quote(store().string() + ":run/changes:1") + " " +
                                      shell_quote(bundle.string()));
    ASSERT_EQ(unpacked.status, 0) << unpacked.output;
    const std::filesystem::path rootfs = bundle / "rootfs";
    EXPECT_EQ(test::read_file(rootfs / "created"), "hello\n");
    EXPECT_FALSE(std::filesystem::exists(rootfs / "old" / "file"));
    EXPECT_TRUE(std::filesystem::exists(rootfs / "old" / "dir" / "c"));
    EXPECT_FALSE(std::filesystem::exists(rootfs / "old" / "dir" / "a"));
    EXPECT_TRUE(std::filesystem::equivalent(rootfs / "created", rootfs / "hard"));
    EXPECT_EQ(std::filesystem::read_symlink(rootfs / "soft"), "created");
    EXPECT_TRUE(std::filesystem::exists(rootfs / "bin" / "busybox"));
    const std::string digest = test::manifest_digest_in_layout(store(), "run/changes:1");
    const auto problems = test::check_image(store(), digest);
    EXPECT_TRUE(problems.empty()) << problems.front();
}

TEST_F(RunBuildTest, StepsSeeTheUserWorkdirEnvironmentAndArgs) {
    const auto built = build("FROM BASE\n"
                             "ARG GREETING=hi\n"
                             "ENV FROM_ENV=env\n"
                             "USER app\n"
                             "WORKDIR /home/app/work\n"
                             "RUN id > ids && pwd > pwd && echo \"$GREETING $FROM_ENV $HOME $PATH\" > vars\n"
                             "USER 4242:4343\n"
                             "RUN id > /tmp/numeric\n",
                             "-t run/user:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::filesystem::path out = m_context / "out";
    EXPECT_EQ(test::read_file(out / "home/app/work/ids"), "uid=1000(app) gid=1000(app) groups=1000(app),2000(extra)\n");
    EXPECT_EQ(test::read_file(out / "home/app/work/pwd"), "/home/app/work\n");
    EXPECT_EQ(test::read_file(out / "home/app/work/vars"),
              "hi env /home/app /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n");
    EXPECT_EQ(test::read_file(out / "tmp/numeric"), "uid=4242 gid=4343 groups=4343\n");
}

TEST_F(RunBuildTest, HistoryNamesTheArgsInScopeAsBuildKitDoes) {
    const auto built = build("FROM BASE\nARG ONE=1\nARG TWO\nRUN true\n", "-t run/history:1 --build-arg TWO=2");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(config("run/history:1")["history"].back()["created_by"], "RUN |2 ONE=1 TWO=2 /bin/sh -c true # buildkit");
}

TEST_F(RunBuildTest, ExecFormShellAndHeredocs) {
    const auto built = build("FROM BASE\n"
                             "SHELL [\"/bin/sh\", \"-ec\"]\n"
                             "RUN [\"/bin/sh\", \"-c\", \"echo exec > /exec\"]\n"
                             "RUN <<EOF\necho heredoc > /heredoc\nEOF\n"
                             "RUN <<EOF\n#!/bin/sh\necho shebang $0 > /shebang\nEOF\n"
                             "RUN cat <<EOF > /inline\ninline body\nEOF\n",
                             "-t run/forms:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    EXPECT_EQ(test::read_file(m_context / "out/exec"), "exec\n");
    EXPECT_EQ(test::read_file(m_context / "out/heredoc"), "heredoc\n");
    EXPECT_EQ(test::read_file(m_context / "out/shebang"), "shebang /dev/pipes/EOF\n");
    EXPECT_EQ(test::read_file(m_context / "out/inline"), "inline body\n");
    EXPECT_FALSE(std::filesystem::exists(m_context / "out/dev/pipes"));
}

TEST_F(RunBuildTest, NetworkNoneHasOnlyLoopbackAndDefaultIsTheHostNetwork) {
    const auto built = build("FROM BASE\n"
                             "RUN --network=none cat /proc/net/dev > /none\n"
                             "RUN cat /proc/net/dev > /default\n"
                             "RUN --network=host cat /proc/net/dev > /host\n",
                             "-t run/net:1 -o type=local,dest=out");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::string none = test::read_file(m_context / "out/none");
    std::istringstream lines(none);
    int interfaces = 0;
    for (std::string line; std::getline(lines, line);)
        if (line.find(':') != std::string::npos && line.find('|') == std::string::npos) {
            ++interfaces;
            EXPECT_NE(line.find("lo:"), std::string::npos) << line;
        }
    EXPECT_EQ(interfaces, 1) << none;
    const std::string host = test::read_file("/proc/net/dev");
    auto names = [](const std::string& table) {
        std::vector<std::string> out;
        std::istringstream in(table);
        for (std::string line; std::getline(in, line);)
            if (const auto colon = line.find(':'); colon != std::string::npos && line.find('|') == std::string::npos)
                out.push_back(line.substr(line.find_first_not_of(' '), colon - line.find_first_not_of(' ')));
        return out;
    };
    EXPECT_EQ(names(test::read_file(m_context / "out/default")), names(host));
    EXPECT_EQ(names(test::read_file(m_context / "out/host")), names(host));
}

TEST_F(RunBuildTest, EveryMountType) {
    write_file(m_context / "ctx.txt", "from the context\n");
    write_file(m_dir.path() / "secret.txt", "s3cr3t-value");
    const std::filesystem::path socket_path = m_dir.path() / "agent.sock";
    const int listener = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
    ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
    ::listen(listener, 1);

    const std::string dockerfile =
        "FROM BASE AS tools\n"
        "RUN echo tool > /tool.txt\n"
        "FROM BASE\n"
        "RUN --mount=type=cache,target=/var/cache/app echo run >> /var/cache/app/log && cat /var/cache/app/log > /cache-seen\n"
        "RUN --mount=type=secret,id=token wc -c < /run/secrets/token > /secret-size && "
        "stat -c %a /run/secrets/token > /secret-mode\n"
        "RUN --mount=type=secret,id=token,env=TOKEN echo ${#TOKEN} > /secret-env-size\n"
        "RUN --mount=type=bind,source=ctx.txt,target=/mnt/ctx.txt cp /mnt/ctx.txt /from-context\n"
        "RUN --mount=type=bind,from=tools,source=/tool.txt,target=/mnt/tool.txt cp /mnt/tool.txt /from-stage\n"
        "RUN --mount=type=bind,target=/ctx,rw touch /ctx/scratch && ls /ctx > /ctx-list\n"
        "RUN --mount=type=bind,target=/ctx ! touch /ctx/read-only 2>/dev/null\n"
        "RUN --mount=type=tmpfs,target=/scratch echo x > /scratch/f && grep -q ' /scratch tmpfs' /proc/mounts\n"
        "RUN --mount=type=ssh test -S \"$SSH_AUTH_SOCK\" && echo \"$SSH_AUTH_SOCK\" > /ssh-sock\n";
    const std::string args = "--secret id=token,src=" + shell_quote((m_dir.path() / "secret.txt").string()) +
                             " --ssh default=" + shell_quote(socket_path.string()) + " -t run/mounts:1";
    const auto first = build(dockerfile, args);
    ASSERT_EQ(first.status, 0) << first.output;
    const auto second = build(dockerfile, args + " --no-cache -o type=local,dest=out");
    ::close(listener);
    ASSERT_EQ(second.status, 0) << second.output;
    const std::filesystem::path out = m_context / "out";
    EXPECT_EQ(test::read_file(out / "cache-seen"), "run\nrun\n") << "the cache mount persists between builds";
    EXPECT_EQ(test::read_file(out / "secret-mode"), "400\n");
    EXPECT_EQ(test::read_file(out / "secret-size"), "12\n");
    EXPECT_EQ(test::read_file(out / "secret-env-size"), "12\n");
    EXPECT_EQ(test::read_file(out / "from-context"), "from the context\n");
    EXPECT_EQ(test::read_file(out / "from-stage"), "tool\n");
    EXPECT_NE(test::read_file(out / "ctx-list").find("scratch"), std::string::npos);
    EXPECT_FALSE(std::filesystem::exists(m_context / "scratch")) << "writes to a rw bind mount are discarded";
    EXPECT_EQ(test::read_file(out / "ssh-sock"), "/run/buildkit/ssh_agent.0\n");
    // Mount points the steps needed are not left in the image, nor are the secret or the cache.
    for (const char* absent : {"var/cache/app", "run/secrets", "mnt", "ctx", "scratch", "run/buildkit"})
        EXPECT_FALSE(std::filesystem::exists(out / absent)) << absent;
    EXPECT_EQ(all_layer_bytes("run/mounts:1").find("s3cr3t-value"), std::string::npos);
    EXPECT_EQ(test::read_file(blob(manifest("run/mounts:1")["config"]["digest"])).find("s3cr3t"), std::string::npos);
    EXPECT_EQ(second.output.find("s3cr3t-value"), std::string::npos);
}

TEST_F(RunBuildTest, MissingRequiredSecretIsAnErrorAtTheLine) {
    const auto built = build("FROM BASE\nRUN --mount=type=secret,id=absent,required true\n", "-t run/secret:1");
    EXPECT_EQ(built.status, 1);
    EXPECT_NE(built.output.find("Dockerfile:2"), std::string::npos) << built.output;
    EXPECT_NE(built.output.find("absent"), std::string::npos) << built.output;
}

TEST_F(RunBuildTest, FailingStepNamesLineCommandStatusAndOutput) {
    ASSERT_EQ(build("FROM BASE\nRUN true\n", "-t run/passes:1").status, 0);
    const auto before = test::read_file(store() / "index.json");
    const auto built = build("FROM BASE\nRUN echo about to fail && exit 3\n", "-t run/fails:1");
    EXPECT_EQ(built.status, 1);
    EXPECT_NE(built.output.find("Dockerfile:2"), std::string::npos) << built.output;
    EXPECT_NE(built.output.find("process \"/bin/sh -c echo about to fail && exit 3\" did not complete successfully: "
                                "exit code: 3"),
              std::string::npos)
        << built.output;
    EXPECT_NE(built.output.find("about to fail"), std::string::npos) << built.output;
    EXPECT_EQ(test::read_file(store() / "index.json"), before) << "a failed build tags nothing";
}

std::size_t mount_count() {
    std::ifstream in("/proc/self/mountinfo");
    std::size_t count = 0;
    for (std::string line; std::getline(in, line);) ++count;
    return count;
}

TEST_F(RunBuildTest, InterruptKillsTheStepAndLeavesNothingBehind) {
    write_file(m_context / "Dockerfile", "FROM " + s_base + "\nRUN echo started-sleeping && sleep 1000\n");
    const std::size_t mounts_before = mount_count();
    const std::string script =
        test::cbuild_binary().string() + " --root " + shell_quote(store().string()) +
        " -t run/interrupt:1 . > build.log 2>&1 & pid=$!\n"
        "for i in $(seq 1 300); do grep -q started-sleeping build.log && break; sleep 0.1; done\n"
        "kill -INT $pid\nwait $pid\necho status=$?\n";
    const auto ran = run_command("sh -c " + shell_quote(script), m_context);
    EXPECT_NE(ran.output.find("status=130"), std::string::npos) << ran.output << test::read_file(m_context / "build.log");
    EXPECT_EQ(mount_count(), mounts_before);
    const auto sleepers = run_command("pgrep -f 'sleep 100[0]'");
    EXPECT_NE(sleepers.status, 0) << "left running: " << sleepers.output;
    std::size_t leftovers = 0;
    for (const auto& entry : std::filesystem::directory_iterator(store() / "snapshots"))
        if (entry.path().filename().string().rfind("tmp-", 0) == 0) ++leftovers;
    EXPECT_EQ(leftovers, 0u);
}

}  // namespace
}  // namespace cbuild
