// --build-context in the plan: a named context replaces a stage or an image wherever the
// Dockerfile names it (FROM, COPY --from, RUN --mount from=), matched as BuildKit normalises names.

#include <gtest/gtest.h>

#include "builder/plan/plan.h"
#include "common/error.h"

namespace cbuild::builder {
namespace {

class NamedContextTest : public testing::Test {
protected:
    NamedContextTest() {
        m_request.build_platform = Platform::parse("linux/amd64");
        m_request.target_platform = Platform::parse("linux/amd64");
    }

    Plan plan(const std::string& text) { return make_plan(parser::parse_dockerfile(text, "Dockerfile"), m_request); }

    void add_directory(const std::string& name, const std::string& directory) {
        NamedContext context;
        context.directory = directory;
        context.value = directory;
        m_request.named_contexts[*context_name(name)] = context;
    }

    void add_image(const std::string& name, const std::string& reference) {
        NamedContext context;
        context.kind = NamedContext::Kind::image;
        context.image = registry::Reference::parse(reference);
        context.value = "docker-image://" + reference;
        m_request.named_contexts[*context_name(name)] = context;
    }

    BuildRequest m_request;
};

TEST_F(NamedContextTest, NamesAreNormalisedAsBuildKitDoes) {
    EXPECT_EQ(context_name("alpine"), "alpine");
    EXPECT_EQ(context_name("docker.io/library/alpine"), "alpine");
    EXPECT_EQ(context_name("alpine:latest"), "alpine");
    EXPECT_EQ(context_name("alpine:3.19"), "alpine:3.19");
    EXPECT_EQ(context_name("localhost:5000/base"), "localhost:5000/base");
    EXPECT_EQ(context_name("build"), "build");
    EXPECT_EQ(context_name("Not A Name"), std::nullopt);
}

TEST_F(NamedContextTest, DirectoryReplacesAStageUsedByCopyFrom) {
    add_directory("deps", "/tmp/deps");
    const Plan p = plan("FROM busybox AS deps\nRUN false\nFROM scratch\nCOPY --from=deps /a /a\n");
    const PlannedStage& deps = p.stages[0];
    EXPECT_TRUE(deps.needed);
    EXPECT_TRUE(deps.steps.empty());  // the stage is not built
    EXPECT_EQ(deps.base.kind, StageBase::Kind::directory);
    EXPECT_EQ(deps.base.directory, "/tmp/deps");
    EXPECT_EQ(deps.base.context, "deps");
    ASSERT_EQ(p.stages[1].steps.size(), 1u);
    EXPECT_EQ(p.stages[1].steps[0].stage_inputs, std::vector<std::size_t>{0});
    EXPECT_EQ(p.build_order, (std::vector<std::size_t>{0, 1}));
}

TEST_F(NamedContextTest, DirectoryAsFromBaseIsAStageOfItsOwn) {
    add_directory("docker.io/library/alpine", "/tmp/rootfs");
    const Plan p = plan("FROM alpine\nRUN true\n");
    ASSERT_EQ(p.stages.size(), 2u);
    const PlannedStage& context = p.stages[1];
    EXPECT_EQ(context.name, "alpine");
    EXPECT_EQ(context.base.kind, StageBase::Kind::directory);
    EXPECT_EQ(context.base.directory, "/tmp/rootfs");
    EXPECT_TRUE(context.steps.empty());
    EXPECT_EQ(p.stages[0].base.kind, StageBase::Kind::stage);
    EXPECT_EQ(p.stages[0].base.stage, 1u);
    EXPECT_EQ(p.build_order, (std::vector<std::size_t>{1, 0}));
    EXPECT_EQ(p.target, 0u);
}

TEST_F(NamedContextTest, ImageContextReplacesABaseImage) {
    add_image("alpine", "localhost:5000/busybox:1");
    std::vector<std::string> asked;
    m_request.image_environment = [&](const registry::Reference& image, const std::string&) {
        asked.push_back(image.to_string());
        return std::vector<std::string>{"FROM_CONTEXT=yes"};
    };
    const Plan p = plan("FROM alpine\nENV X=$FROM_CONTEXT\n");
    ASSERT_EQ(p.stages.size(), 2u);
    EXPECT_EQ(p.stages[1].base.kind, StageBase::Kind::image);
    EXPECT_EQ(p.stages[1].base.image->to_string(), "localhost:5000/busybox:1");
    EXPECT_EQ(asked, std::vector<std::string>{"localhost:5000/busybox:1"});
    // The image's ENV is in scope in the stage built on it.
    const auto& env = std::get<parser::EnvInstruction>(p.stages[0].steps[0].instruction);
    EXPECT_EQ(env.variables.at(0).value, "yes");
}

TEST_F(NamedContextTest, ATaggedNameDoesNotMatchTheUntaggedContext) {
    add_image("alpine", "localhost:5000/busybox:1");
    const Plan p = plan("FROM alpine:3.19\n");
    ASSERT_EQ(p.stages.size(), 1u);
    EXPECT_EQ(p.stages[0].base.image->to_string(), "docker.io/library/alpine:3.19");
}

TEST_F(NamedContextTest, OneStagePerContextWhateverTheSpelling) {
    add_directory("alpine", "/tmp/files");
    const Plan p = plan(
        "FROM scratch\nCOPY --from=alpine /a /a\nCOPY --from=docker.io/library/alpine /b /b\n"
        "RUN --mount=from=alpine,target=/m true\n");
    ASSERT_EQ(p.stages.size(), 2u);
    for (const PlannedStep& step : p.stages[0].steps) EXPECT_EQ(step.stage_inputs, std::vector<std::size_t>{1});
    for (const PlannedStep& step : p.stages[0].steps) EXPECT_TRUE(step.image_inputs.empty());
}

TEST_F(NamedContextTest, ImageReplacesAStageUsedAsBase) {
    add_image("base", "localhost:5000/busybox:1");
    const Plan p = plan("FROM debian AS base\nRUN false\nFROM base\nRUN true\n");
    EXPECT_TRUE(p.stages[0].steps.empty());
    EXPECT_EQ(p.stages[0].base.image->to_string(), "localhost:5000/busybox:1");
    EXPECT_EQ(p.stages[0].base.kind, StageBase::Kind::image);
    EXPECT_EQ(p.stages[0].base.context, "base");
    EXPECT_EQ(p.stages[1].base.kind, StageBase::Kind::stage);
    EXPECT_EQ(p.stages[1].base.stage, 0u);
}

TEST_F(NamedContextTest, UnimportedLayoutIsAnError) {
    NamedContext context;
    context.kind = NamedContext::Kind::oci_layout;
    context.directory = "/tmp/layout";
    context.value = "oci-layout:///tmp/layout";
    m_request.named_contexts["base"] = context;
    EXPECT_THROW(plan("FROM base\n"), Error);
}

TEST_F(NamedContextTest, LabelsGoIntoThePlan) {
    m_request.labels = {{"org.example.a", "1"}};
    EXPECT_EQ(plan("FROM scratch\n").labels, m_request.labels);
}

TEST_F(NamedContextTest, DescribeNamesTheContext) {
    add_directory("alpine", "/tmp/rootfs");
    const std::string text = describe(plan("FROM alpine\n"));
    EXPECT_NE(text.find("directory /tmp/rootfs (--build-context alpine)"), std::string::npos) << text;
}

}  // namespace
}  // namespace cbuild::builder
