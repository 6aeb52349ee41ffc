#include "cli/compose_file.h"

#include <gtest/gtest.h>

#include <fstream>

#include "common/error.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cli {
namespace {

const std::filesystem::path k_file = "/src/My_App/compose.yaml";

ComposeProject parse(std::string_view text, const ComposeEnvironment& environment = {}) {
    return parse_compose(text, k_file, environment);
}

// The ParseError parse_compose throws for `text`.
ParseError parse_error(std::string_view text, const ComposeEnvironment& environment = {}) {
    try {
        parse(text, environment);
    } catch (const ParseError& error) {
        return error;
    }
    ADD_FAILURE() << "no ParseError for:\n" << text;
    return ParseError("", 0, 0, "", "");
}

TEST(ComposeFileTest, BuildAsAStringIsTheContext) {
    const ComposeProject project = parse("services:\n  web:\n    build: ./web\n");
    ASSERT_EQ(project.services.size(), 1u);
    const ComposeService& web = project.services[0];
    ASSERT_TRUE(web.build);
    EXPECT_EQ(web.build->context, "/src/My_App/web");
    EXPECT_EQ(web.build->dockerfile, "/src/My_App/web/Dockerfile");
    EXPECT_EQ(web.build->line, 3);
    // No image: compose's default name, the project being the directory's name lower-cased.
    EXPECT_EQ(project.name, "my_app");
    EXPECT_EQ(web.build->tags, std::vector<std::string>{"my_app-web"});
}

TEST(ComposeFileTest, BuildAsAMapResolvesTheDockerfileAgainstTheContext) {
    const ComposeProject project = parse(R"(services:
  api:
    image: registry.test/api:1
    build:
      context: ../api
      dockerfile: docker/Dockerfile.prod
      target: runtime
      tags: [registry.test/api:latest, registry.test/api:1]
      cache_from: ["type=local,src=/tmp/cache"]
      cache_to:
        - type=local,dest=/tmp/cache
      platforms: [linux/amd64]
      network: default
      pull: true
)");
    const ComposeBuild& build = *project.services.at(0).build;
    EXPECT_EQ(build.context, "/src/api");
    EXPECT_EQ(build.dockerfile, "/src/api/docker/Dockerfile.prod");
    EXPECT_EQ(build.target, "runtime");
    // image: first, and not twice.
    EXPECT_EQ(build.tags, (std::vector<std::string>{"registry.test/api:1", "registry.test/api:latest"}));
    EXPECT_EQ(build.cache_from, std::vector<std::string>{"type=local,src=/tmp/cache"});
    EXPECT_EQ(build.cache_to, std::vector<std::string>{"type=local,dest=/tmp/cache"});
    EXPECT_EQ(build.platforms, std::vector<std::string>{"linux/amd64"});
    EXPECT_EQ(build.network, "default");
    EXPECT_TRUE(build.pull);
    EXPECT_FALSE(build.no_cache);
}

TEST(ComposeFileTest, ArgsAsAMapOrAListWithBareNamesFromTheEnvironment) {
    const ComposeEnvironment environment = {{"FROM_ENV", "env-value"}};
    const ComposeProject listed = parse(R"(services:
  a:
    build:
      args:
        - ONE=1
        - EMPTY=
        - FROM_ENV
        - UNSET_ONE
)", environment);
    EXPECT_EQ(listed.services[0].build->args,
              (std::map<std::string, std::string>{{"ONE", "1"}, {"EMPTY", ""}, {"FROM_ENV", "env-value"}}));
    const ComposeProject mapped = parse(R"(services:
  a:
    build:
      args:
        ONE: 1
        FROM_ENV:
        UNSET_ONE:
)", environment);
    EXPECT_EQ(mapped.services[0].build->args,
              (std::map<std::string, std::string>{{"ONE", "1"}, {"FROM_ENV", "env-value"}}));
}

TEST(ComposeFileTest, LabelsAsAMapOrAList) {
    const ComposeProject project = parse(R"(services:
  a:
    build:
      labels: {com.example.team: core}
  b:
    build:
      labels: ["com.example.team=edge", "flag"]
)");
    EXPECT_EQ(project.services[0].build->labels, (std::map<std::string, std::string>{{"com.example.team", "core"}}));
    EXPECT_EQ(project.services[1].build->labels,
              (std::map<std::string, std::string>{{"com.example.team", "edge"}, {"flag", ""}}));
}

TEST(ComposeFileTest, InterpolatesValuesFromTheEnvironment) {
    const ComposeEnvironment environment = {{"TAG", "1.2"}, {"EMPTY", ""}, {"REGISTRY", "registry.test"}};
    const ComposeProject project = parse(R"(services:
  a:
    image: ${REGISTRY}/a:$TAG
    build:
      context: ${CONTEXT:-sub}
      args:
        PRICE: $$5
        FALLBACK: ${EMPTY:-used}
        KEPT: ${EMPTY-not-used}
        NESTED: ${MISSING:-${TAG}}
        ALT: ${TAG:+has-tag}
)", environment);
    const ComposeService& a = project.services[0];
    EXPECT_EQ(a.image, "registry.test/a:1.2");
    EXPECT_EQ(a.build->context, "/src/My_App/sub");
    EXPECT_EQ(a.build->args, (std::map<std::string, std::string>{{"PRICE", "$5"},
                                                                 {"FALLBACK", "used"},
                                                                 {"KEPT", ""},
                                                                 {"NESTED", "1.2"},
                                                                 {"ALT", "has-tag"}}));
    EXPECT_EQ(a.build->tags.front(), "registry.test/a:1.2");
}

TEST(ComposeFileTest, InterpolationForms) {
    const ComposeEnvironment environment = {{"A", "x"}};
    EXPECT_EQ(interpolate("$A-${A}-$$A-$1-$", environment), "x-x-$A-$1-$");
    EXPECT_EQ(interpolate("${B:-d}${B-e}${B:+f}${A+g}", environment), "deg");
    EXPECT_THROW(interpolate("${A", environment), Error);
    EXPECT_THROW(interpolate("${B:?B is needed}", environment), Error);
    EXPECT_THROW(interpolate("${1A}", environment), Error);
}

TEST(ComposeFileTest, RequiredVariableErrorNamesTheLine) {
    const ParseError error = parse_error("services:\n  a:\n    build:\n      target: ${STAGE:?set STAGE}\n");
    EXPECT_EQ(error.file(), k_file.string());
    EXPECT_EQ(error.line(), 4);
    EXPECT_NE(error.message().find("set STAGE"), std::string::npos) << error.message();
}

TEST(ComposeFileTest, SecretsReferToTopLevelFilesAndVariables) {
    const ComposeProject project = parse(R"(services:
  a:
    build:
      secrets:
        - token
        - source: key
          target: ssh_key
secrets:
  token:
    environment: API_TOKEN
  key:
    file: ./secrets/key
)");
    const std::map<std::string, ComposeSecret>& secrets = project.services[0].build->secrets;
    ASSERT_EQ(secrets.size(), 2u);
    EXPECT_EQ(secrets.at("token").env, "API_TOKEN");
    EXPECT_EQ(secrets.at("ssh_key").file, "/src/My_App/secrets/key");
}

TEST(ComposeFileTest, UndefinedSecretIsAnErrorAtItsLine) {
    const ParseError error = parse_error("services:\n  a:\n    build:\n      secrets:\n        - nope\n");
    EXPECT_EQ(error.line(), 5);
    EXPECT_NE(error.message().find("`nope`"), std::string::npos) << error.message();
}

TEST(ComposeFileTest, ImageOnlyServiceHasNoBuild) {
    const ComposeProject project = parse("services:\n  db:\n    image: postgres:16\n  web:\n    build: .\n");
    ASSERT_EQ(project.services.size(), 2u);
    EXPECT_EQ(project.services[0].name, "db");
    EXPECT_FALSE(project.services[0].build);
    EXPECT_EQ(project.services[0].image, "postgres:16");
    EXPECT_TRUE(project.services[1].build);
}

TEST(ComposeFileTest, DockerfileInline) {
    const ComposeProject project = parse("services:\n  a:\n    build:\n      dockerfile_inline: |\n        FROM scratch\n");
    EXPECT_EQ(project.services[0].build->dockerfile_inline, "FROM scratch\n");
    EXPECT_TRUE(project.services[0].build->dockerfile.empty());
    const ParseError both = parse_error(
        "services:\n  a:\n    build:\n      dockerfile: D\n      dockerfile_inline: FROM scratch\n");
    EXPECT_EQ(both.line(), 5);
}

TEST(ComposeFileTest, MergeKeysAndExtensionFieldsAreHonoured) {
    const ComposeProject project = parse(R"(x-build: &common
  context: shared
  args: {MODE: release}
services:
  a:
    build:
      <<: *common
      target: a
)");
    const ComposeBuild& build = *project.services[0].build;
    EXPECT_EQ(build.context, "/src/My_App/shared");
    EXPECT_EQ(build.args.at("MODE"), "release");
    EXPECT_EQ(build.target, "a");
}

TEST(ComposeFileTest, ProjectNameFromTheFileOrTheEnvironment) {
    EXPECT_EQ(parse("name: Shop\nservices:\n  a:\n    build: .\n").services[0].build->tags.front(), "shop-a");
    EXPECT_EQ(parse("name: Shop\nservices:\n  a:\n    build: .\n", {{"COMPOSE_PROJECT_NAME", "Other"}}).name, "other");
    EXPECT_EQ(normalize_project_name("_My App.v2"), "myappv2");
}

TEST(ComposeFileTest, YamlErrorNamesFileAndLine) {
    const ParseError error = parse_error("services:\n  a:\n    build: .\n   bad: [\n");
    EXPECT_EQ(error.file(), k_file.string());
    EXPECT_GE(error.line(), 4);
}

TEST(ComposeFileTest, WrongShapesAreErrorsAtTheirLines) {
    EXPECT_EQ(parse_error("services:\n  a:\n    build:\n      args: 3\n").line(), 4);
    EXPECT_EQ(parse_error("services:\n  a:\n    build:\n      ssh: [default]\n").line(), 4);
    EXPECT_EQ(parse_error("services:\n  a:\n    build:\n      pull: maybe\n").line(), 4);
    EXPECT_EQ(parse_error("services:\n  a:\n    build:\n      context: git@host:repo.git\n").line(), 4);
    EXPECT_EQ(parse_error("version: '3'\n").line(), 1);
    EXPECT_EQ(parse_error("services:\n  a: 1\n").line(), 2);
}

TEST(ComposeFileTest, DotEnvFormat) {
    const ComposeEnvironment values = parse_dot_env(
        "# comment\n\nA=1\nexport B = two words # note\nC='lit $X'\nD=\"a\\nb\"\nE=\n", ".env");
    EXPECT_EQ(values, (ComposeEnvironment{{"A", "1"}, {"B", "two words"}, {"C", "lit $X"}, {"D", "a\nb"}, {"E", ""}}));
    try {
        parse_dot_env("A=1\nnot a pair\n", "/p/.env");
        FAIL() << "no error";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.file(), "/p/.env");
        EXPECT_EQ(error.line(), 2);
    }
    EXPECT_THROW(parse_dot_env("A=\"open\n", ".env"), ParseError);
}

TEST(ComposeFileTest, LoadReadsDotEnvAndTheEnvironmentWins) {
    test::TempDir dir;
    std::ofstream(dir.path() / ".env") << "BAKE_TEST_TAG=from-dotenv\nBAKE_TEST_OTHER=dotenv\n";
    std::ofstream(dir.path() / "compose.yml")
        << "services:\n  a:\n    image: x/a:${BAKE_TEST_TAG}\n    build:\n      args: [\"V=${BAKE_TEST_OTHER}\"]\n";
    ::setenv("BAKE_TEST_OTHER", "from-shell", 1);
    const ComposeProject project = load_compose_file(*find_compose_file(dir.path()));
    ::unsetenv("BAKE_TEST_OTHER");
    EXPECT_EQ(project.services[0].image, "x/a:from-dotenv");
    EXPECT_EQ(project.services[0].build->args.at("V"), "from-shell");
    EXPECT_FALSE(find_compose_file(dir.path() / "missing"));
    EXPECT_THROW(load_compose_file(dir.path() / "missing.yml"), IoError);
}

TEST(ComposeFileTest, DefaultFileNamesInComposeOrder) {
    test::TempDir dir;
    std::ofstream(dir.path() / "docker-compose.yml") << "services: {}\n";
    EXPECT_EQ(find_compose_file(dir.path()), dir.path() / "docker-compose.yml");
    std::ofstream(dir.path() / "compose.yml") << "services: {}\n";
    EXPECT_EQ(find_compose_file(dir.path()), dir.path() / "compose.yml");
    std::ofstream(dir.path() / "compose.yaml") << "services: {}\n";
    EXPECT_EQ(find_compose_file(dir.path()), dir.path() / "compose.yaml");
}

}  // namespace
}  // namespace cbuild::cli
