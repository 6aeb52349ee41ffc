// The build checks: each rule fires on a Dockerfile that breaks it and stays quiet on one that
// does not, with BuildKit's messages; the check directive; and the real-world corpus.

#include "parser/lint.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "common/error.h"
#include "tests/support/shared_data.h"

namespace cbuild::parser {
namespace {

LintOptions default_options() {
    LintOptions options;
    options.predefined_args = {{"BUILDPLATFORM", "linux/amd64"}, {"BUILDOS", "linux"},   {"BUILDARCH", "amd64"},
                               {"BUILDVARIANT", ""},             {"TARGETPLATFORM", "linux/amd64"},
                               {"TARGETOS", "linux"},            {"TARGETARCH", "amd64"}, {"TARGETVARIANT", ""}};
    // Every base image in these tests has only PATH, so UndefinedVar is checked everywhere.
    options.image_environment = [](const std::string&, const std::string&) {
        return std::optional<std::vector<std::string>>(std::vector<std::string>{"PATH=/bin"});
    };
    return options;
}

std::vector<LintWarning> lint(const std::string& text, const LintOptions& options = default_options()) {
    return lint_dockerfile(text, "Dockerfile", options).warnings;
}

// The messages of the warnings of `rule`.
std::vector<std::string> messages(const std::string& text, const std::string& rule,
                                  const LintOptions& options = default_options()) {
    std::vector<std::string> out;
    for (const LintWarning& warning : lint(text, options))
        if (warning.rule == rule) out.push_back(warning.message);
    return out;
}

using Messages = std::vector<std::string>;

TEST(LintTest, StageNameCasing) {
    EXPECT_EQ(messages("FROM alpine AS BuilderBase\n", "StageNameCasing"),
              Messages{"Stage name 'BuilderBase' should be lowercase"});
    EXPECT_TRUE(messages("FROM alpine AS builder-base\n", "StageNameCasing").empty());
}

TEST(LintTest, FromAsCasing) {
    EXPECT_EQ(messages("FROM debian:latest as builder\n", "FromAsCasing"),
              Messages{"'as' and 'FROM' keywords' casing do not match"});
    EXPECT_EQ(messages("from debian:latest AS builder\n", "FromAsCasing"),
              Messages{"'AS' and 'from' keywords' casing do not match"});
    EXPECT_TRUE(messages("FROM debian:latest AS builder\nfrom debian as b2\n", "FromAsCasing").empty());
}

TEST(LintTest, NoEmptyContinuation) {
    const auto warnings = lint("FROM alpine\nRUN echo a \\\n\n  && echo b\n");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].rule, "NoEmptyContinuation");
    EXPECT_EQ(warnings[0].message, "Empty continuation line");
    EXPECT_EQ(warnings[0].url, "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/");
    EXPECT_TRUE(lint("FROM alpine\nRUN echo a \\\n  && echo b\n").empty());
}

TEST(LintTest, ConsistentInstructionCasing) {
    EXPECT_EQ(messages("FROM alpine\nRUN echo hello\nrun echo world\n", "ConsistentInstructionCasing"),
              Messages{"Command 'run' should match the case of the command majority (uppercase)"});
    EXPECT_EQ(messages("from alpine\nrun echo hello\nRun echo world\n", "ConsistentInstructionCasing"),
              Messages{"Command 'Run' should match the case of the command majority (lowercase)"});
    EXPECT_TRUE(messages("from alpine\nrun echo hello\n", "ConsistentInstructionCasing").empty());
}

TEST(LintTest, DuplicateAndReservedStageNames) {
    const std::string text = "FROM alpine AS builder\nFROM alpine AS builder\nFROM alpine AS scratch\n";
    EXPECT_EQ(messages(text, "DuplicateStageName"),
              Messages{"Duplicate stage name \"builder\", stage names should be unique"});
    EXPECT_EQ(messages(text, "ReservedStageName"),
              Messages{"Stage name should not use the same name as reserved stage \"scratch\""});
    EXPECT_TRUE(lint("FROM alpine AS builder\nFROM alpine AS runner\n").empty());
}

TEST(LintTest, JSONArgsRecommended) {
    EXPECT_EQ(messages("FROM alpine\nENTRYPOINT my-program start\n", "JSONArgsRecommended"),
              Messages{"JSON arguments recommended for ENTRYPOINT to prevent unintended behavior related to OS signals"});
    EXPECT_TRUE(messages("FROM alpine\nENTRYPOINT [\"my-program\", \"start\"]\nCMD [\"x\"]\n", "JSONArgsRecommended").empty());
    // An explicit SHELL says the shell form is meant.
    EXPECT_TRUE(messages("FROM alpine\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\n", "JSONArgsRecommended").empty());
}

TEST(LintTest, MaintainerDeprecated) {
    EXPECT_EQ(messages("FROM alpine\nMAINTAINER moby@example.com\n", "MaintainerDeprecated"),
              Messages{"Maintainer instruction is deprecated in favor of using label"});
    EXPECT_TRUE(lint("FROM alpine\nLABEL org.opencontainers.image.authors=\"moby@example.com\"\n").empty());
}

TEST(LintTest, UndefinedArgInFrom) {
    EXPECT_EQ(messages("FROM node:22${VARIANT} AS jsbuilder\n", "UndefinedArgInFrom"),
              Messages{"FROM argument 'VARIANT' is not declared"});
    EXPECT_EQ(messages("ARG VERSION=1\nFROM alpine:${VERSIO}\n", "UndefinedArgInFrom"),
              Messages{"FROM argument 'VERSIO' is not declared (did you mean VERSION?)"});
    EXPECT_TRUE(messages("ARG VARIANT=-alpine\nFROM node:22${VARIANT}\n", "UndefinedArgInFrom").empty());
    EXPECT_TRUE(messages("ARG TAG\nFROM --platform=$BUILDPLATFORM alpine:${TAG:-3}\n", "UndefinedArgInFrom").empty());
}

TEST(LintTest, WorkdirRelativePath) {
    EXPECT_EQ(messages("FROM alpine\nWORKDIR app/\n", "WorkdirRelativePath"),
              Messages{"Relative workdir \"app/\" can have unexpected results if the base image changes"});
    EXPECT_TRUE(messages("FROM alpine\nWORKDIR /app\nWORKDIR src\n", "WorkdirRelativePath").empty());
}

TEST(LintTest, UndefinedVar) {
    EXPECT_EQ(messages("FROM alpine\nENV PATH=$PAHT:/app/bin\n", "UndefinedVar"),
              Messages{"Usage of undefined variable '$PAHT' (did you mean $PATH?)"});
    EXPECT_EQ(messages("FROM alpine\nCOPY $SRC /dst\n", "UndefinedVar"), Messages{"Usage of undefined variable '$SRC'"});
    EXPECT_TRUE(messages("FROM alpine\nARG SRC\nENV X=1\nCOPY $SRC /$X/\nENV PATH=$PATH:/app\n", "UndefinedVar").empty());
    // A stage inherits what its base stage declared.
    EXPECT_TRUE(messages("FROM alpine AS base\nARG V=1\nFROM base\nWORKDIR /$V\n", "UndefinedVar").empty());
    // Unknown base-image ENV: not checked rather than guessed.
    LintOptions unknown = default_options();
    unknown.image_environment = nullptr;
    EXPECT_TRUE(messages("FROM alpine\nCOPY $SRC /dst\n", "UndefinedVar", unknown).empty());
    EXPECT_EQ(messages("FROM scratch\nCOPY $SRC /dst\n", "UndefinedVar", unknown),
              Messages{"Usage of undefined variable '$SRC'"});
}

TEST(LintTest, MultipleInstructionsDisallowed) {
    const auto warnings = lint("FROM alpine\nCMD [\"a\"]\nCMD [\"b\"]\n");
    ASSERT_EQ(warnings.size(), 1u);
    EXPECT_EQ(warnings[0].rule, "MultipleInstructionsDisallowed");
    EXPECT_EQ(warnings[0].message,
              "Multiple CMD instructions should not be used in the same stage because only the last one will be used");
    EXPECT_EQ(warnings[0].start_line, 2);  // the one that is ignored
    EXPECT_TRUE(lint("FROM alpine\nCMD [\"a\"]\nFROM alpine\nCMD [\"b\"]\n").empty());
}

TEST(LintTest, LegacyKeyValueFormat) {
    EXPECT_EQ(messages("FROM alpine\nENV foo bar\n", "LegacyKeyValueFormat"),
              Messages{"\"ENV key=value\" should be used instead of legacy \"ENV key value\" format"});
    EXPECT_EQ(messages("FROM alpine\nLABEL foo bar\n", "LegacyKeyValueFormat"),
              Messages{"\"LABEL key=value\" should be used instead of legacy \"LABEL key value\" format"});
    EXPECT_TRUE(lint("FROM alpine\nENV foo=bar\nLABEL foo=bar\n").empty());
}

TEST(LintTest, RedundantTargetPlatform) {
    EXPECT_EQ(messages("FROM --platform=$TARGETPLATFORM alpine AS builder\n", "RedundantTargetPlatform"),
              Messages{"Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior"});
    EXPECT_TRUE(lint("FROM --platform=$BUILDPLATFORM alpine AS builder\n").empty());
}

TEST(LintTest, SecretsUsedInArgOrEnv) {
    EXPECT_EQ(messages("FROM scratch\nARG AWS_SECRET_ACCESS_KEY\nENV GITHUB_TOKEN=x\n", "SecretsUsedInArgOrEnv"),
              (Messages{"Do not use ARG or ENV instructions for sensitive data (ARG \"AWS_SECRET_ACCESS_KEY\")",
                        "Do not use ARG or ENV instructions for sensitive data (ENV \"GITHUB_TOKEN\")"}));
    EXPECT_TRUE(lint("FROM scratch\nARG PUBLIC_KEY\nENV TOKENIZER=x\nARG MONKEY\n").empty());
}

TEST(LintTest, InvalidDefaultArgInFrom) {
    EXPECT_EQ(messages("ARG TAG\nFROM busybox:${TAG}\n", "InvalidDefaultArgInFrom"),
              Messages{"Default value for ARG busybox:${TAG} results in empty or invalid base image name"});
    EXPECT_TRUE(messages("ARG TAG=latest\nFROM busybox:${TAG}\n", "InvalidDefaultArgInFrom").empty());
    EXPECT_TRUE(messages("ARG TAG\nFROM busybox:${TAG:-latest}\n", "InvalidDefaultArgInFrom").empty());
}

TEST(LintTest, FromPlatformFlagConstDisallowed) {
    EXPECT_EQ(messages("FROM --platform=linux/amd64 alpine AS base\n", "FromPlatformFlagConstDisallowed"),
              Messages{"FROM --platform flag should not use constant value \"linux/amd64\""});
    EXPECT_TRUE(lint("FROM --platform=linux/amd64 alpine AS build_amd64\n").empty());
    EXPECT_TRUE(lint("FROM --platform=${BUILDPLATFORM} alpine AS base\n").empty());
}

TEST(LintTest, CopyIgnoredFileIsExperimental) {
    const PatternMatcher ignore(std::vector<std::string>{"secret.txt", "build"});
    LintOptions options = default_options();
    options.ignore = &ignore;
    const std::string body = "FROM alpine\nCOPY secret.txt build/out ok.txt /dst/\nCOPY --from=other secret.txt /x\n";
    EXPECT_TRUE(messages(body, "CopyIgnoredFile", options).empty());
    EXPECT_EQ(messages("# check=experimental=CopyIgnoredFile\n" + body, "CopyIgnoredFile", options),
              (Messages{"Attempting to Copy file \"secret.txt\" that is excluded by .dockerignore",
                        "Attempting to Copy file \"build/out\" that is excluded by .dockerignore"}));
}

TEST(LintTest, InvalidDefinitionDescriptionIsExperimental) {
    const std::string bad = "# check=experimental=all\n\n# The version to use\nARG VERSION=1\n\n# build the thing\nFROM scratch AS builder\n";
    EXPECT_EQ(messages(bad, "InvalidDefinitionDescription"),
              (Messages{"Comment for ARG should follow the format: `# VERSION <description>`",
                        "Comment for FROM should follow the format: `# builder <description>`"}));
    const std::string good = "# check=experimental=all\n\n# VERSION to use\nARG VERSION=1\n\n# unrelated\n\nFROM scratch AS builder\n";
    EXPECT_TRUE(messages(good, "InvalidDefinitionDescription").empty());
    EXPECT_TRUE(messages(bad.substr(bad.find('\n') + 1), "InvalidDefinitionDescription").empty());
}

TEST(LintTest, CheckDirectiveSkipsRules) {
    const std::string body = "FROM alpine as builder\nMAINTAINER me\n";
    EXPECT_EQ(lint(body).size(), 2u);
    EXPECT_EQ(lint("# check=skip=FromAsCasing\n" + body).size(), 1u);
    EXPECT_EQ(lint("# check=skip=FromAsCasing, MaintainerDeprecated\n" + body).size(), 0u);
    EXPECT_EQ(lint("# check=skip=all\n" + body).size(), 0u);
    const LintReport report = lint_dockerfile("# check=error=true\n" + body, "Dockerfile", default_options());
    EXPECT_TRUE(report.error_on_warnings);
    EXPECT_EQ(lint_violation_message(report), "lint violation found for rules: FromAsCasing, MaintainerDeprecated");
    // The build arg replaces the directive, as BuildKit's BUILDKIT_DOCKERFILE_CHECK does.
    LintOptions options = default_options();
    options.build_args["BUILDKIT_DOCKERFILE_CHECK"] = "skip=all";
    EXPECT_TRUE(lint("# check=error=true\n" + body, options).empty());
}

TEST(LintTest, BadCheckDirectiveNamesTheLine) {
    try {
        lint("# check=bogus=1\nFROM alpine\n");
        FAIL() << "no error";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.line(), 1);
        EXPECT_NE(std::string(error.what()).find("invalid check option \"bogus\""), std::string::npos) << error.what();
    }
    EXPECT_THROW(lint("# check=error=maybe\nFROM alpine\n"), ParseError);
}

TEST(LintTest, OnlyTheTargetsStagesAreDispatchedForABuild) {
    const std::string text = "FROM alpine AS unused\nWORKDIR rel\nFROM alpine\nCMD [\"x\"]\n";
    LintOptions options = default_options();
    EXPECT_EQ(messages(text, "WorkdirRelativePath", options).size(), 1u);
    options.all_stages = false;
    EXPECT_TRUE(messages(text, "WorkdirRelativePath", options).empty());
    options.target = "unused";
    EXPECT_EQ(messages(text, "WorkdirRelativePath", options).size(), 1u);
}

TEST(LintTest, ReportFormats) {
    const std::string text = "FROM alpine as builder\nRUN true\n";
    const LintReport report = lint_dockerfile(text, "Dockerfile", default_options());
    EXPECT_EQ(format_check_report(report, text),
              "Check complete, 1 warning has been found!\n"
              "\nWARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n"
              "'as' and 'FROM' keywords' casing do not match\n"
              "Dockerfile:1\n"
              "--------------------\n"
              "   1 | >>> FROM alpine as builder\n"
              "--------------------\n");
    EXPECT_EQ(format_build_warnings(report),
              " 1 warning found (use --check to expand):\n"
              " - FromAsCasing: 'as' and 'FROM' keywords' casing do not match (Dockerfile:1)\n");
    EXPECT_EQ(format_check_report(LintReport{}, text), "Check complete, no warnings found.\n");
}

// Every real Dockerfile lints without an unexpected exception, and known-bad ones get their rule.
TEST(LintTest, Corpus) {
    namespace fs = std::filesystem;
    // file → a rule it breaks and the line (looked at by hand).
    const std::map<std::string, std::pair<std::string, int>> known_bad = {
        {"docker__awesome-compose__flask-redis__Dockerfile", {"FromAsCasing", 15}},
        {"containers__buildah__tests__bud__cache-stages__Dockerfile.3", {"StageNameCasing", 5}},
        {"osscontainertools__kaniko__integration__dockerfiles__Dockerfile_test_metadata", {"MultipleInstructionsDisallowed", 2}},
        {"docker-library__python__3.12__slim-bookworm__Dockerfile", {"SecretsUsedInArgOrEnv", 27}},
        {"tonistiigi__xx__src__sdk-extras__Dockerfile", {"FromPlatformFlagConstDisallowed", 5}},
        {"docker-library__ruby__3.4__alpine3.22__Dockerfile", {"LegacyKeyValueFormat", 14}}};
    std::size_t found_bad = 0;
    std::map<std::string, std::size_t> rule_counts;
    std::size_t linted = 0;
    for (const auto& entry : fs::directory_iterator(test::shared_dir() / "corpus")) {
        const std::string name = entry.path().filename().string();
        if (name == "INDEX.tsv" || name == "SOURCES.tsv" || name.rfind("README", 0) == 0) continue;
        try {
            const auto bad = known_bad.find(name);
            for (const LintWarning& warning : lint(test::read_file(entry.path()))) {
                ++rule_counts[warning.rule];
                if (bad != known_bad.end() && warning.rule == bad->second.first && warning.start_line == bad->second.second)
                    ++found_bad;
            }
            ++linted;
        } catch (const ParseError&) {
            // The deliberate failures of corpus_test: rejected with a location, like the parser.
        }
    }
    EXPECT_GE(linted, 1479u - 20u);
    EXPECT_EQ(found_bad, known_bad.size());
    for (const char* rule : {"FromAsCasing", "JSONArgsRecommended", "LegacyKeyValueFormat", "UndefinedVar",
                             "MaintainerDeprecated", "SecretsUsedInArgOrEnv"})
        EXPECT_GT(rule_counts[rule], 0u) << rule;
}

}  // namespace
}  // namespace cbuild::parser
