// `cbuild bake` end to end: testdata/compose/bake's services FROM the suite's busybox image in
// a real registry, built in parallel on one store, tagged, and pushed back to the registry.

#include <gtest/gtest.h>

#include <map>
#include <regex>
#include <sstream>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::shell_quote;
using test::write_file;

class BakeTest : public test::BusyboxBuildTest {
protected:
    void SetUp() override {
        test::BusyboxBuildTest::SetUp();
        if (IsSkipped() || HasFatalFailure()) return;
        std::filesystem::copy(test::source_dir() / "testdata" / "compose" / "bake", m_context,
                              std::filesystem::copy_options::recursive);
        write_file(m_context / ".env", "REGISTRY=" + s_registry->host() + "\n");
    }

    // How many lines of `output` are exactly `[SERVICE] text`, or a step's output line
    // `[SERVICE] #N SECONDS text`, for any service.
    static int printed_lines(const std::string& output, const std::string& text) {
        const std::regex line("\\[[a-z0-9_-]+\\] (#[0-9]+ [0-9.]+ )?" + text);
        std::istringstream lines(output);
        int count = 0;
        for (std::string each; std::getline(lines, each);)
            if (std::regex_match(each, line)) ++count;
        return count;
    }
};

TEST_F(BakeTest, BuildsEveryServiceOnceSharingTheCommonStage) {
    const auto baked = cbuild("bake --jobs 2");
    ASSERT_EQ(baked.status, 0) << baked.output;
    // Both targets need `shared`; its RUN ran for one of them and the other took the result.
    EXPECT_EQ(printed_lines(baked.output, "shared-stage-ran"), 1) << baked.output;
    EXPECT_NE(baked.output.find("[db] skipped: no `build:` section"), std::string::npos) << baked.output;

    const std::string registry = s_registry->host();
    const auto images = cbuild("images");
    ASSERT_EQ(images.status, 0) << images.output;
    EXPECT_NE(images.output.find(registry + "/bake/one"), std::string::npos) << images.output;
    EXPECT_NE(images.output.find(registry + "/bake/two"), std::string::npos) << images.output;
    // `two` has no image:, so compose's default name `<project>-<service>` comes first.
    EXPECT_NE(images.output.find("context-two"), std::string::npos) << images.output;
    EXPECT_EQ(config(registry + "/bake/one:1")["config"]["Labels"]["org.example.service"], "one");
    EXPECT_EQ(manifest(registry + "/bake/two:1"), manifest("context-two:latest"));
    // The two images share the `shared` stage's layer.
    EXPECT_EQ(manifest(registry + "/bake/one:1")["layers"][1], manifest(registry + "/bake/two:1")["layers"][1]);
}

TEST_F(BakeTest, PushesTheNamedTagsToTheRegistry) {
    const auto baked = cbuild("bake --push one two");
    ASSERT_EQ(baked.status, 0) << baked.output;
    EXPECT_EQ(baked.output.find("[db]"), std::string::npos) << "db was not asked for:\n" << baked.output;
    const std::string registry = s_registry->host();
    EXPECT_NE(baked.output.find("[one] pushed " + registry + "/bake/one:1"), std::string::npos) << baked.output;
    EXPECT_NE(baked.output.find("[two] pushed " + registry + "/bake/two:1"), std::string::npos) << baked.output;
    if (!test::have_program("skopeo")) {
        if (test::in_ci()) FAIL() << "skopeo is not installed";
        GTEST_SKIP() << "skopeo is not installed";
    }
    for (const std::string name : {"one", "two"}) {
        const std::string reference = registry + "/bake/" + name + ":1";
        const auto inspected = test::run_command("skopeo inspect --raw --tls-verify=false docker://" + reference);
        ASSERT_EQ(inspected.status, 0) << inspected.output;
        EXPECT_EQ(nlohmann::json::parse(inspected.output), manifest(reference)) << reference;
    }
}

TEST_F(BakeTest, PullFetchesEachBaseImageOnce) {
    const auto baked = cbuild("bake --pull");
    ASSERT_EQ(baked.status, 0) << baked.output;
    const std::string pulling = "pulling " + s_registry->host() + "/library/busybox:test";
    const std::size_t first = baked.output.find(pulling);
    EXPECT_NE(first, std::string::npos) << baked.output;
    EXPECT_EQ(baked.output.find(pulling, first + 1), std::string::npos) << "pulled twice:\n" << baked.output;
}

TEST_F(BakeTest, DockerfileInlineAndImageNameFromTheEnvironmentFile) {
    write_file(m_context / "inline.yml", "name: Inline\n"
                                         "services:\n"
                                         "  app:\n"
                                         "    build:\n"
                                         "      dockerfile_inline: |\n"
                                         "        FROM ${REGISTRY}/library/busybox:test\n"
                                         "        RUN echo inline > /inline\n");
    const auto baked = cbuild("bake -f inline.yml");
    ASSERT_EQ(baked.status, 0) << baked.output;
    EXPECT_EQ(manifest("inline-app:latest")["layers"].size(), 2u);
}

TEST_F(BakeTest, UnknownServicesAreNamed) {
    const auto baked = cbuild("bake one nope other");
    EXPECT_EQ(baked.status, 2) << baked.output;
    EXPECT_NE(baked.output.find("no such service in compose.yaml: nope, other"), std::string::npos) << baked.output;
}

TEST_F(BakeTest, YamlErrorNamesTheFileAndLine) {
    write_file(m_context / "broken.yml", "services:\n  a:\n    build: .\n  b: [\n");
    const auto baked = cbuild("bake -f broken.yml");
    EXPECT_EQ(baked.status, 1) << baked.output;
    EXPECT_NE(baked.output.find("broken.yml:"), std::string::npos) << baked.output;
}

TEST_F(BakeTest, AFailingServiceFailsBakeAndTheOthersFinish) {
    write_file(m_context / "Dockerfile.fails", "ARG BASE\nFROM ${BASE}\nRUN echo about-to-fail && exit 3\n");
    write_file(m_context / "fails.yml", "services:\n"
                                        "  broken:\n"
                                        "    build:\n"
                                        "      dockerfile: Dockerfile.fails\n"
                                        "      args: [\"BASE=${REGISTRY}/library/busybox:test\"]\n"
                                        "  fine:\n"
                                        "    build:\n"
                                        "      target: two\n"
                                        "      args: [\"BASE=${REGISTRY}/library/busybox:test\"]\n");
    const auto baked = cbuild("bake -f fails.yml --jobs 1");
    EXPECT_EQ(baked.status, 1) << baked.output;
    EXPECT_NE(baked.output.find("service `broken`: "), std::string::npos) << baked.output;
    EXPECT_NE(baked.output.find("Dockerfile.fails:3"), std::string::npos) << baked.output;
    EXPECT_NE(baked.output.find("1 of 2 services failed: broken"), std::string::npos) << baked.output;
    // `fine` was built all the same.
    const auto images = cbuild("images");
    EXPECT_NE(images.output.find("context-fine"), std::string::npos) << images.output;
}

TEST_F(BakeTest, PlainProgressShowsEachServicesStepsUnderItsName) {
    const auto baked = cbuild("bake --progress plain one two");
    ASSERT_EQ(baked.status, 0) << baked.output;
    for (const std::string service : {"one", "two"}) {
        EXPECT_NE(baked.output.find("[" + service + "] #1 "), std::string::npos) << baked.output;
        EXPECT_NE(baked.output.find("[" + service + "] writing image sha256:"), std::string::npos) << baked.output;
    }
    // Every line but bake's own (the count, the automatic GC) belongs to a service.
    std::istringstream lines(baked.output);
    for (std::string line; std::getline(lines, line);) {
        if (line == "built 2 services" || line.starts_with("automatic GC")) continue;
        EXPECT_TRUE(line.starts_with("[one] ") || line.starts_with("[two] ")) << line;
    }
}

TEST_F(BakeTest, RawjsonProgressTagsEachEventWithItsService) {
    const auto baked = cbuild("bake --progress rawjson --no-cache one two");
    ASSERT_EQ(baked.status, 0) << baked.output;
    std::map<std::string, int> events;
    std::istringstream lines(baked.output);
    for (std::string line; std::getline(lines, line);) {
        if (!line.starts_with("{")) continue;
        const nlohmann::json event = nlohmann::json::parse(line);
        ASSERT_TRUE(event.contains("service")) << line;
        EXPECT_TRUE(event.contains("kind")) << line;
        ++events[event["service"].get<std::string>()];
    }
    EXPECT_GT(events["one"], 0) << baked.output;
    EXPECT_GT(events["two"], 0) << baked.output;
    EXPECT_EQ(events.size(), 2u) << baked.output;
}

TEST_F(BakeTest, QuietProgressPrintsNothingOnSuccess) {
    const auto baked = cbuild("bake --progress quiet one two");
    ASSERT_EQ(baked.status, 0) << baked.output;
    EXPECT_EQ(baked.output, "");
}

TEST_F(BakeTest, BadProgressModeIsAUsageError) {
    const auto baked = cbuild("bake --progress fancy");
    EXPECT_EQ(baked.status, 2) << baked.output;
    EXPECT_NE(baked.output.find("fancy"), std::string::npos) << baked.output;
}

TEST_F(BakeTest, AutomaticGcRunsAfterTheServicesAreBuilt) {
    const std::filesystem::path stamp = store() / "cache" / "last-gc";
    std::filesystem::remove(stamp);
    const auto baked = cbuild("bake one two");
    ASSERT_EQ(baked.status, 0) << baked.output;
    EXPECT_TRUE(std::filesystem::exists(stamp)) << "no automatic GC after bake:\n" << baked.output;
    // What the services built is named, so GC kept it.
    EXPECT_FALSE(manifest(s_registry->host() + "/bake/one:1").empty());
    EXPECT_FALSE(manifest(s_registry->host() + "/bake/two:1").empty());
}

}  // namespace
}  // namespace cbuild
