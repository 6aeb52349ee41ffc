// FROM-scratch builds end to end through the cbuild binary: the config and history BuildKit
// would write, reproducible digests, multi-stage COPY --from, ONBUILD, and bad input leaving
// the store untouched.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/command.h"
#include "tests/support/image_checker.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::run_command;
using test::write_file;

class ScratchBuildTest : public testing::Test {
protected:
    ScratchBuildTest() : m_context(m_dir.path() / "context"), m_store(m_dir.path() / "store") {
        write_file(m_context / "hello.txt", "hello from cbuild\n");
        write_file(m_context / "src" / "a.txt", "a\n");
        write_file(m_context / "src" / "sub" / "b.txt", "b\n");
    }

    test::CommandResult build(const std::string& dockerfile, const std::string& args = "-t test:1") {
        write_file(m_context / "Dockerfile", dockerfile);
        return run_cbuild("--root " + test::shell_quote(m_store.string()) + " " + args + " .", m_context);
    }

    nlohmann::json inspect(const std::string& name) {
        const auto result = run_cbuild("--root " + test::shell_quote(m_store.string()) + " inspect " + name);
        EXPECT_EQ(result.status, 0) << result.output;
        return nlohmann::json::parse(result.output);
    }

    std::vector<std::string> history(const nlohmann::json& image) {
        std::vector<std::string> lines;
        for (const auto& entry : image["Config"]["history"])
            lines.push_back(entry["created_by"].get<std::string>() + (entry.value("empty_layer", false) ? "" : " [layer]"));
        return lines;
    }

    std::set<std::string> blobs() {
        std::set<std::string> names;
        if (std::filesystem::exists(m_store / "blobs" / "sha256"))
            for (const auto& entry : std::filesystem::directory_iterator(m_store / "blobs" / "sha256"))
                names.insert(entry.path().filename().string());
        return names;
    }

    test::TempDir m_dir;
    std::filesystem::path m_context;
    std::filesystem::path m_store;
};

TEST_F(ScratchBuildTest, ConfigAndHistoryFollowBuildKit) {
    const auto result = build(
        "FROM scratch\n"
        "ARG VERSION=1.0\n"
        "ENV APP=/app PORT=8080\n"
        "LABEL version=$VERSION\n"
        "WORKDIR $APP\n"
        "COPY hello.txt .\n"
        "EXPOSE $PORT 53/udp\n"
        "VOLUME /data\n"
        "USER 1000:1000\n"
        "STOPSIGNAL SIGINT\n"
        "SHELL [\"/bin/ash\", \"-c\"]\n"
        "HEALTHCHECK --interval=30s --retries=3 CMD wget -q localhost\n"
        "ONBUILD COPY hello.txt /onbuild/\n"
        "CMD echo hi\n");
    ASSERT_EQ(result.status, 0) << result.output;
    const nlohmann::json image = inspect("test:1");
    const auto& config = image["Config"]["config"];
    EXPECT_EQ(config["Env"], nlohmann::json({"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                             "APP=/app", "PORT=8080"}));
    EXPECT_EQ(config["Labels"]["version"], "1.0");
    EXPECT_EQ(config["WorkingDir"], "/app");
    EXPECT_TRUE(config["ExposedPorts"].contains("8080/tcp"));
    EXPECT_TRUE(config["ExposedPorts"].contains("53/udp"));
    EXPECT_TRUE(config["Volumes"].contains("/data"));
    EXPECT_EQ(config["User"], "1000:1000");
    EXPECT_EQ(config["StopSignal"], "SIGINT");
    EXPECT_EQ(config["Cmd"], nlohmann::json({"/bin/ash", "-c", "echo hi"}));
    EXPECT_EQ(config["Healthcheck"]["Test"], nlohmann::json({"CMD-SHELL", "wget -q localhost"}));
    EXPECT_EQ(config["Healthcheck"]["Interval"], 30'000'000'000LL);
    EXPECT_EQ(config["Healthcheck"]["Retries"], 3);
    EXPECT_EQ(config["OnBuild"], nlohmann::json({"COPY hello.txt /onbuild/"}));
    EXPECT_EQ(image["Config"]["architecture"], "amd64");
    EXPECT_EQ(history(image), (std::vector<std::string>{
                                  "ARG VERSION=1.0",
                                  "ENV APP=/app PORT=8080",
                                  "LABEL version=1.0",
                                  "WORKDIR /app [layer]",
                                  "COPY hello.txt . # buildkit [layer]",
                                  "EXPOSE map[53/udp:{} 8080/tcp:{}]",
                                  "VOLUME [/data]",
                                  "USER 1000:1000",
                                  "STOPSIGNAL SIGINT",
                                  "SHELL [/bin/ash -c]",
                                  "HEALTHCHECK &{[\"CMD-SHELL\" \"wget -q localhost\"] \"30s\" \"0s\" \"0s\" \"0s\" '\\x03'}",
                                  "CMD [\"/bin/ash\" \"-c\" \"echo hi\"]",
                              }));
    EXPECT_TRUE(test::check_image(m_store, image["Digest"].get<std::string>()).empty());
}

TEST_F(ScratchBuildTest, EntrypointClearsACmdFromTheBaseButNotItsOwn) {
    ASSERT_EQ(build("FROM scratch AS base\nCMD [\"base\"]\n"
                    "FROM base AS one\nENTRYPOINT [\"/bin/tool\"]\n"
                    "FROM base AS two\nCMD [\"mine\"]\nENTRYPOINT [\"/bin/tool\"]\n",
                    "-t one --target one")
                  .status,
              0);
    EXPECT_TRUE(inspect("one")["Config"]["config"]["Cmd"].is_null());
    ASSERT_EQ(build("FROM scratch AS base\nCMD [\"base\"]\nFROM base AS two\nCMD [\"mine\"]\nENTRYPOINT [\"/bin/tool\"]\n",
                    "-t two")
                  .status,
              0);
    EXPECT_EQ(inspect("two")["Config"]["config"]["Cmd"], nlohmann::json({"mine"}));
}

TEST_F(ScratchBuildTest, SameInputsGiveTheSameDigestInAnotherDirectory) {
    const std::string dockerfile = "FROM scratch\nCOPY . /ctx/\nWORKDIR /w\nCOPY <<EOF /note\nfixed\nEOF\n";
    write_file(m_context / "Dockerfile", dockerfile);
    const std::filesystem::path other = m_dir.path() / "elsewhere" / "copy";
    std::filesystem::create_directories(other.parent_path());
    ASSERT_EQ(run_command("cp -r " + test::shell_quote(m_context.string()) + " " + test::shell_quote(other.string())).status, 0);
    const std::string env = "SOURCE_DATE_EPOCH=1700000000 ";
    const auto first = run_command(env + test::shell_quote(test::cbuild_binary().string()) + " --root " +
                                   test::shell_quote(m_store.string()) + " --iidfile id1 -t a .", m_context);
    const auto second = run_command(env + test::shell_quote(test::cbuild_binary().string()) + " --root " +
                                    test::shell_quote((m_dir.path() / "store2").string()) + " --iidfile id2 -t a .", other);
    ASSERT_EQ(first.status, 0) << first.output;
    ASSERT_EQ(second.status, 0) << second.output;
    EXPECT_EQ(test::read_file(m_context / "id1"), test::read_file(other / "id2"));
    EXPECT_EQ(inspect("a")["Digest"], test::manifest_digest_in_layout(m_dir.path() / "store2", "a:latest"));
    EXPECT_EQ(inspect("a")["Config"]["created"], "2023-11-14T22:13:20Z");
}

TEST_F(ScratchBuildTest, CopyFromAnEarlierStage) {
    const auto result = build("FROM scratch AS files\nCOPY src/ /data/\n"
                              "FROM scratch\nCOPY --from=files /data/sub /copied/\nCOPY --from=0 /data/a.txt /a\n",
                              "-t multi -o type=local,dest=out");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_EQ(test::read_file(m_context / "out" / "copied" / "b.txt"), "b\n");
    EXPECT_EQ(test::read_file(m_context / "out" / "a"), "a\n");
    EXPECT_FALSE(std::filesystem::exists(m_context / "out" / "data"));
}

TEST_F(ScratchBuildTest, OnbuildTriggersRunWhenTheImageIsABase) {
    ASSERT_EQ(build("FROM scratch\nONBUILD COPY hello.txt /from-trigger.txt\n", "-t parent:1").status, 0);
    const auto result = build("FROM parent:1\nCOPY src/a.txt /own.txt\n", "-t child:1 -o type=local,dest=out");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_EQ(test::read_file(m_context / "out" / "from-trigger.txt"), "hello from cbuild\n");
    EXPECT_EQ(test::read_file(m_context / "out" / "own.txt"), "a\n");
}

TEST_F(ScratchBuildTest, CopyThroughASymlinkInTheImageStaysInTheImage) {
    // A symlink inside a copied directory is copied as a symlink (the source path itself would
    // be followed, inside the context).
    write_file(m_context / "x.conf", "setting\n");
    std::filesystem::create_directories(m_context / "links");
    ASSERT_EQ(run_command("ln -s /etc links/app", m_context).status, 0);
    const auto result = build("FROM scratch\nCOPY links/ /\nCOPY x.conf /app/\n", "-o type=local,dest=out");
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_EQ(test::read_file(m_context / "out" / "etc" / "x.conf"), "setting\n");
    EXPECT_FALSE(std::filesystem::exists("/etc/x.conf"));
}

struct BadInput {
    const char* name;
    const char* dockerfile;
    const char* expected;  // in the error output
};

class BadInputTest : public ScratchBuildTest, public testing::WithParamInterface<BadInput> {};

TEST_P(BadInputTest, FailsWithTheLineAndLeavesTheStoreAsItWas) {
    ASSERT_EQ(build("FROM scratch\nCOPY hello.txt /\n", "-t keep:1").status, 0);
    const std::set<std::string> before = blobs();
    const std::string index_before = test::read_file(m_store / "index.json");
    write_file(m_context / "corrupt.tar", std::string(1024, 'x') + "not a tar");
    // A tar cut off in the middle of a member: it is a tar, so ADD must unpack it, and cannot.
    ASSERT_EQ(run_command("head -c 20000 /dev/urandom > big && tar -cf whole.tar big && head -c 6000 whole.tar > "
                          "truncated.tar && gzip -k truncated.tar && rm big whole.tar",
                          m_context)
                  .status,
              0);
    const auto result = build(GetParam().dockerfile, "-t bad:1");
    EXPECT_EQ(result.status, 1) << result.output;
    EXPECT_NE(result.output.find(GetParam().expected), std::string::npos) << result.output;
    EXPECT_EQ(blobs(), before) << "a failed build must add nothing to the store";
    EXPECT_EQ(test::read_file(m_store / "index.json"), index_before);
}

INSTANTIATE_TEST_SUITE_P(
    ScratchBuild, BadInputTest,
    testing::Values(BadInput{"MissingSource", "FROM scratch\nCOPY hello.txt /\nCOPY nope.txt /\n", "Dockerfile:3"},
                    BadInput{"OutsideTheContext", "FROM scratch\nCOPY hello.txt /\nCOPY ../x /\n", "Dockerfile:3"},
                    BadInput{"BadChmod", "FROM scratch\nCOPY --chmod=999 hello.txt /\n", "Dockerfile:2"},
                    BadInput{"UnknownUser", "FROM scratch\nCOPY hello.txt /\nCOPY --chown=nobody hello.txt /x\n",
                             "Dockerfile:3"},
                    BadInput{"CorruptCompressedTar", "FROM scratch\nCOPY hello.txt /\nADD truncated.tar.gz /d/\n",
                             "Dockerfile:3"},
                    BadInput{"UnreachableBaseImage", "FROM 127.0.0.1:1/nosuchimage:1\nCOPY hello.txt /\n", "Dockerfile:1"}),
    [](const testing::TestParamInfo<BadInput>& case_info) { return std::string(case_info.param.name); });

}  // namespace
}  // namespace cbuild
