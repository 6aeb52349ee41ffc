// Whole Dockerfiles through parse_dockerfile: stage splitting, meta ARGs, heredocs, and errors
// that name the file and line.

#include "parser/dockerfile.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>

#include "common/error.h"
#include "tests/support/shared_data.h"

namespace cbuild::parser {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Dockerfile parse(std::string_view text) { return parse_dockerfile(text, "Dockerfile"); }

ParseError parse_error(std::string_view text) {
    try {
        parse(text);
    } catch (const ParseError& error) {
        return error;
    }
    ADD_FAILURE() << "no error for:\n" << text;
    return ParseError("", 0, 0, "");
}

TEST(DockerfileTest, SplitsStagesAndKeepsMetaArgs) {
    const Dockerfile dockerfile = parse(
        "# syntax=docker/dockerfile:1\n"
        "ARG GO=1.22\n"
        "ARG BASE\n"
        "FROM --platform=$BUILDPLATFORM golang:${GO} AS Build\n"
        "WORKDIR /src\n"
        "RUN go build -o /out/app .\n"
        "\n"
        "FROM ${BASE:-alpine}\n"
        "COPY --from=build /out/app /usr/bin/app\n"
        "ENTRYPOINT [\"app\"]\n");
    ASSERT_EQ(dockerfile.meta_args.size(), 2u);
    EXPECT_EQ(dockerfile.meta_args[0].args[0].key, "GO");
    EXPECT_EQ(dockerfile.meta_args[0].args[0].value, "1.22");
    EXPECT_EQ(dockerfile.meta_args[1].args[0].value, std::nullopt);
    ASSERT_EQ(dockerfile.stages.size(), 2u);
    EXPECT_EQ(dockerfile.stages[0].name(), "build");
    EXPECT_EQ(dockerfile.stages[0].from.platform, "$BUILDPLATFORM");
    EXPECT_EQ(dockerfile.stages[0].from.base_name, "golang:${GO}");
    EXPECT_EQ(dockerfile.stages[0].from.source.start_line, 4);
    ASSERT_EQ(dockerfile.stages[0].instructions.size(), 2u);
    EXPECT_TRUE(std::holds_alternative<WorkdirInstruction>(dockerfile.stages[0].instructions[0]));
    EXPECT_EQ(dockerfile.stages[1].name(), "");
    ASSERT_EQ(dockerfile.stages[1].instructions.size(), 2u);
    EXPECT_EQ(std::get<CopyInstruction>(dockerfile.stages[1].instructions[0]).from, "build");
    EXPECT_THAT(std::get<EntrypointInstruction>(dockerfile.stages[1].instructions[1]).command.arguments,
                ElementsAre("app"));
    EXPECT_EQ(find_stage(dockerfile, "BUILD"), 0u);
    EXPECT_EQ(find_stage(dockerfile, "missing"), std::nullopt);
    EXPECT_EQ(dockerfile.file_name, "Dockerfile");
    ASSERT_FALSE(dockerfile.directives.empty());
    EXPECT_EQ(dockerfile.directives[0].name, "syntax");
}

TEST(DockerfileTest, OnlyArgMayComeBeforeFrom) {
    const ParseError error = parse_error("ARG A\nRUN echo hi\nFROM scratch\n");
    EXPECT_EQ(error.line(), 2);
    EXPECT_THAT(error.message(), HasSubstr("no build stage in current context"));
    EXPECT_THAT(error.message(), HasSubstr("RUN"));
    EXPECT_EQ(error.source_line(), "RUN echo hi");
    EXPECT_THAT(std::string(error.what()), HasSubstr("Dockerfile:2: "));
}

TEST(DockerfileTest, ArgAfterFromBelongsToTheStage) {
    const Dockerfile dockerfile = parse("FROM a\nARG X=1 Y\n");
    EXPECT_TRUE(dockerfile.meta_args.empty());
    ASSERT_EQ(dockerfile.stages[0].instructions.size(), 1u);
    EXPECT_EQ(std::get<ArgInstruction>(dockerfile.stages[0].instructions[0]).args.size(), 2u);
}

TEST(DockerfileTest, ArgQuotesStayUntilExpansion) {
    const Dockerfile dockerfile = parse("ARG MSG=\"hello world\" OTHER='x'\nFROM a\n");
    EXPECT_EQ(dockerfile.meta_args[0].args[0].value, "\"hello world\"");
    EXPECT_EQ(dockerfile.meta_args[0].args[1].value, "'x'");
}

TEST(DockerfileTest, EnvBothForms) {
    const Dockerfile dockerfile = parse("FROM a\nENV PATH /x:$PATH\nENV A=1 B=\"two words\"\n");
    const auto& legacy = std::get<EnvInstruction>(dockerfile.stages[0].instructions[0]);
    EXPECT_EQ(legacy.variables[0].key, "PATH");
    EXPECT_EQ(legacy.variables[0].value, "/x:$PATH");
    EXPECT_TRUE(legacy.variables[0].legacy);
    const auto& modern = std::get<EnvInstruction>(dockerfile.stages[0].instructions[1]);
    ASSERT_EQ(modern.variables.size(), 2u);
    EXPECT_EQ(modern.variables[1].value, "\"two words\"");
}

TEST(DockerfileTest, HeredocsAttach) {
    const Dockerfile dockerfile = parse(
        "FROM alpine\n"
        "RUN <<EOF\n"
        "echo one\n"
        "EOF\n"
        "COPY <<-'conf' <<site.txt /etc/\n"
        "\tkey=$VALUE\n"
        "\tconf\n"
        "hello\n"
        "site.txt\n"
        "USER nobody\n");
    const Stage& stage = dockerfile.stages[0];
    ASSERT_EQ(stage.instructions.size(), 3u);
    const auto& run = std::get<RunInstruction>(stage.instructions[0]);
    ASSERT_EQ(run.heredocs.size(), 1u);
    EXPECT_EQ(run.heredocs[0].data, "echo one\n");
    EXPECT_EQ(run.source.start_line, 2);
    EXPECT_EQ(run.source.end_line, 4);
    const auto& copy = std::get<CopyInstruction>(stage.instructions[1]);
    EXPECT_TRUE(copy.files.source_paths.empty());
    ASSERT_EQ(copy.files.source_contents.size(), 2u);
    EXPECT_EQ(copy.files.source_contents[0].name, "conf");
    EXPECT_FALSE(copy.files.source_contents[0].expand);
    EXPECT_EQ(copy.files.source_contents[0].content(), "key=$VALUE\n");
    EXPECT_EQ(copy.files.source_contents[1].name, "site.txt");
    EXPECT_TRUE(copy.files.source_contents[1].expand);
    EXPECT_EQ(copy.files.source_contents[1].data, "hello\n");
    EXPECT_EQ(copy.files.dest, "/etc/");
    EXPECT_EQ(std::get<UserInstruction>(stage.instructions[2]).source.start_line, 10);
}

TEST(DockerfileTest, OnbuildTriggers) {
    const Dockerfile dockerfile = parse("FROM a\nONBUILD COPY . /app\nONBUILD RUN make\n");
    const auto& onbuild = std::get<OnbuildInstruction>(dockerfile.stages[0].instructions[0]);
    EXPECT_EQ(onbuild.expression, "COPY . /app");
    ASSERT_TRUE(std::holds_alternative<CopyInstruction>(*onbuild.trigger));
    EXPECT_EQ(parse_error("FROM a\nONBUILD ONBUILD RUN x\n").message(),
              "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    EXPECT_EQ(parse_error("FROM a\nonbuild from b\n").message(), "FROM isn't allowed as an ONBUILD trigger");
    EXPECT_EQ(parse_error("FROM a\nONBUILD MAINTAINER me\n").message(),
              "MAINTAINER isn't allowed as an ONBUILD trigger");
}

TEST(DockerfileTest, ErrorsNameFileLineAndSource) {
    struct Case {
        const char* text;
        int line;
        const char* message;
    };
    for (const Case& c : std::vector<Case>{
             {"FROM a\n\nFOO bar\n", 3, "unknown instruction: FOO"},
             {"FROM a\nCOPY only\n", 2,
              "COPY requires at least two arguments, but only one was provided. Destination could not be "
              "determined."},
             {"FROM\n", 1, "FROM requires either one or three arguments"},
             {"FROM a AS\n", 1, "FROM requires either one or three arguments"},
             {"FROM a\nWORKDIR\n", 2, "WORKDIR requires exactly one argument"},
             {"FROM a\nCOPY --form=x a b\n", 2, "unknown flag: --form (did you mean from?)"},
             {"FROM a\nRUN --mount=type=cache,target=/x,sharing=never true\n", 2,
              "unsupported sharing value \"never\""},
             {"FROM a\nHEALTHCHECK --interval=5 CMD true\n", 2, "time: missing unit in duration \"5\""},
             {"FROM a\nSHELL /bin/sh -c\n", 2, "SHELL requires the arguments to be in JSON form"},
             {"FROM a\nRUN true \\\n  && false\nEXPOSE\n", 4, "EXPOSE requires at least one argument"},
         }) {
        const ParseError error = parse_error(c.text);
        EXPECT_EQ(error.message(), c.message) << c.text;
        EXPECT_EQ(error.line(), c.line) << c.text;
        EXPECT_EQ(error.file(), "Dockerfile");
        EXPECT_THAT(std::string(error.what()), HasSubstr("Dockerfile:" + std::to_string(c.line) + ": "));
        EXPECT_FALSE(error.source_line().empty()) << c.text;
    }
}

TEST(DockerfileTest, FlagErrorRendersACaret) {
    const ParseError error = parse_error("FROM a\nCOPY --chmod=8 a b\n");
    EXPECT_EQ(error.column(), 6);
    EXPECT_THAT(error.render(), HasSubstr("COPY --chmod=8 a b\n"));
    EXPECT_THAT(error.render(), HasSubstr("|      ^"));
}

TEST(DockerfileTest, ContinuationLinesKeepTheSpan) {
    const Dockerfile dockerfile = parse("FROM a\nRUN apt-get update \\\n && apt-get install -y x\nUSER x\n");
    const auto& run = std::get<RunInstruction>(dockerfile.stages[0].instructions[0]);
    EXPECT_EQ(run.source.start_line, 2);
    EXPECT_EQ(run.source.end_line, 3);
    EXPECT_THAT(run.command.arguments, ElementsAre("apt-get update  && apt-get install -y x"));
}

// BuildKit's parser fixtures are not whole Dockerfiles (many have no FROM), so each node is
// checked on its own. All pass the instruction checks except the lines written to exercise
// the parser with flags and HEALTHCHECK forms the instruction layer rejects.
TEST(DockerfileTest, BuildkitParserFixtures) {
    namespace fs = std::filesystem;
    const fs::path root = test::shared_dir() / "conformance" / "buildkit" / "parser" / "testfiles";
    std::vector<std::string> failures;
    int checked = 0;
    for (const auto& entry : fs::directory_iterator(root)) {
        const std::string name = entry.path().filename().string();
        const Ast ast = parse_ast(test::read_file(entry.path() / "Dockerfile"), name);
        for (const Node& node : ast.children) {
            ++checked;
            try {
                parse_instruction(node, name);
            } catch (const ParseError& error) {
                failures.push_back(name + ":" + std::to_string(error.line()));
            }
        }
    }
    std::sort(failures.begin(), failures.end());
    // flags: --user/--doit on COPY, CMD, LABEL; health: a bare HEALTHCHECK, `HEALTHCHECK CMD`
    // and `HEALTHCHECK CONNECT`.
    EXPECT_THAT(failures, ElementsAre("flags:10", "flags:3", "flags:4", "flags:5", "flags:6", "flags:8",
                                      "flags:9", "health:10", "health:4", "health:7"));
    EXPECT_GT(checked, 200);
}

}  // namespace
}  // namespace cbuild::parser
