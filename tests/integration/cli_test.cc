// The cbuild binary as a user runs it: argument handling, exit statuses, error messages.

#include <gtest/gtest.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <string>

#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::write_file;
using Result = test::CommandResult;

// Runs `cbuild ARGS` with `stdin_text` as its standard input.
Result run_cbuild_with_input(const std::string& args, const std::string& stdin_text) {
    return test::run_command("printf " + test::shell_quote(stdin_text) + " | " +
                             test::shell_quote(test::cbuild_binary().string()) + " " + args);
}

class CliTest : public testing::Test {
protected:
    test::TempDir m_dir;
};

TEST_F(CliTest, VersionAndHelp) {
    const Result version = run_cbuild("--version");
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.output.rfind("cbuild ", 0), 0u) << version.output;
    const Result help = run_cbuild("build --help");
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.output.find("--build-arg"), std::string::npos);
    EXPECT_NE(help.output.find("--target"), std::string::npos);
    for (const char* option : {"--secret", "--ssh", "--no-cache", "--cache-to", "--cache-from", "--jobs", "--explain",
                               "--progress", "--quiet", "--log-dir", "--timeline"})
        EXPECT_NE(help.output.find(option), std::string::npos) << option;
}

TEST_F(CliTest, BuildWordIsOptionalAndCheckPlans) {
    write_file(m_dir.path() / "Dockerfile-base", "FROM scratch AS a\nCOPY x /x\nFROM a\n");
    const Result result = run_cbuild("-f Dockerfile-base -t repo/img:0.1 --check .", m_dir.path());
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_NE(result.output.find("2 of 2 stages"), std::string::npos) << result.output;
    EXPECT_EQ(run_cbuild("build -f Dockerfile-base --check .", m_dir.path()).status, 0);
}

TEST_F(CliTest, RunWithoutAShellInTheImageFailsAtItsLine) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch\nRUN echo hi\n");
    const Result result = run_cbuild("--root store -t demo:1 .", m_dir.path());
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.output.find("Dockerfile:2"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("/bin/sh -c echo hi"), std::string::npos) << result.output;
}

TEST_F(CliTest, UnknownOptionIsAUsageError) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch\n");
    const Result result = run_cbuild("--no-such-flag .", m_dir.path());
    EXPECT_EQ(result.status, 2);
    EXPECT_NE(result.output.find("no-such-flag"), std::string::npos) << result.output;
    EXPECT_EQ(run_cbuild("--check", m_dir.path()).status, 2) << "PATH is required";
    EXPECT_EQ(run_cbuild("--check . extra", m_dir.path()).status, 2);
    EXPECT_EQ(run_cbuild("--check --platform linux .", m_dir.path()).status, 2);
    EXPECT_EQ(run_cbuild("--check -t 'repo/UPPER' .", m_dir.path()).status, 2);
    EXPECT_EQ(run_cbuild("debug nothing").status, 2);
}

TEST_F(CliTest, ParseErrorNamesFileLineAndShowsTheLine) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch\n\nCOPY --frm=a b c\n");
    const Result result = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.output.find("Dockerfile:3:"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("COPY --frm=a b c"), std::string::npos) << result.output;
}

TEST_F(CliTest, DockerignoreIsReadAndABadPatternNamesItsLine) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch\n");
    write_file(m_dir.path() / ".dockerignore", "# comment\n*.log\n!keep.log\n");
    const Result ok = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(ok.status, 0) << ok.output;
    EXPECT_NE(ok.output.find(".dockerignore has 2 patterns"), std::string::npos) << ok.output;

    write_file(m_dir.path() / "Dockerfile.dockerignore", "a\n[\n");
    const Result bad = run_cbuild("--check -f Dockerfile .", m_dir.path());
    EXPECT_EQ(bad.status, 1);
    EXPECT_NE(bad.output.find("Dockerfile.dockerignore:2:"), std::string::npos)
        << "<Dockerfile>.dockerignore is preferred, and its bad line named: " << bad.output;
}

TEST_F(CliTest, MissingDockerfileNamesThePath) {
    const Result result = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.output.find("./Dockerfile"), std::string::npos) << result.output;
}

TEST_F(CliTest, DockerfileFromStdin) {
    const Result result = run_cbuild_with_input("debug parse -f -", "FROM scratch\\nCMD [\"a\"]\\n");
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_EQ(result.output, "(from \"scratch\")\n(cmd \"a\")\n");
}

TEST_F(CliTest, DebugParseMatchesAGoldenCase) {
    const auto dir = test::shared_dir() / "conformance" / "buildkit" / "parser" / "testfiles" / "env";
    const Result result = run_cbuild("debug parse -f '" + (dir / "Dockerfile").string() + "'");
    EXPECT_EQ(result.status, 0);
    EXPECT_EQ(result.output, test::read_file(dir / "result"));
}

TEST_F(CliTest, BuildArgsAndTargetReachThePlan) {
    write_file(m_dir.path() / "Dockerfile",
               "ARG BASE=alpine\nFROM $BASE AS one\nARG MSG\nLABEL msg=$MSG\nFROM scratch AS two\n");
    const Result result = run_cbuild("debug plan --build-arg BASE=debian:12 --build-arg MSG --target one .",
                                     m_dir.path());
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_NE(result.output.find("docker.io/library/debian:12"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("not needed by the target: stage 1 \"two\""), std::string::npos) << result.output;
    const Result from_env = run_cbuild("debug plan --build-arg MSG --target one .", m_dir.path());
    EXPECT_NE(from_env.output.find("LABEL msg="), std::string::npos) << from_env.output;
}

TEST_F(CliTest, DemoPlanPrints) {
    const Result result = run_cbuild("debug plan '" + (test::source_dir() / "testdata" / "demo").string() + "'");
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_NE(result.output.find("COPY --from=build /src/greeting.txt ./"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace cbuild
