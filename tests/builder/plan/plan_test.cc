// ARG/ENV scoping, stage selection and dependencies, as BuildKit's dockerfile2llb does them.

#include "builder/plan/plan.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace cbuild::builder {
namespace {

class PlanTest : public testing::Test {
protected:
    PlanTest() {
        m_request.build_platform = Platform::parse("linux/amd64");
        m_request.target_platform = Platform::parse("linux/arm64");
    }

    Plan plan(const std::string& text) {
        return make_plan(parser::parse_dockerfile(text, "Dockerfile"), m_request);
    }

    // The value of label `key` set by the LABEL step `step` of the target stage.
    static std::string label(const Plan& plan, std::size_t step, const std::string& key) {
        const auto& labels = std::get<parser::LabelInstruction>(plan.stages[plan.target].steps.at(step).instruction).labels;
        for (const parser::KeyValue& kv : labels)
            if (kv.key == key) return kv.value;
        return "<missing>";
    }

    BuildRequest m_request;
};

TEST_F(PlanTest, GlobalArgExpandsInFrom) {
    const Plan p = plan("ARG VERSION=3.20\nFROM alpine:${VERSION}\n");
    ASSERT_EQ(p.stages[0].base.kind, StageBase::Kind::image);
    EXPECT_EQ(p.stages[0].base.image->to_string(), "docker.io/library/alpine:3.20");
}

TEST_F(PlanTest, BuildArgOverridesGlobalDefault) {
    m_request.build_args["VERSION"] = "3.19";
    const Plan p = plan("ARG VERSION=3.20\nFROM alpine:$VERSION\n");
    EXPECT_EQ(p.stages[0].base.image->tag(), "3.19");
    EXPECT_TRUE(p.unused_build_args.empty());
}

TEST_F(PlanTest, GlobalArgIsInvisibleInStageUntilRedeclared) {
    const Plan p = plan("ARG V=global\nFROM scratch\nLABEL a=\"[$V]\"\nARG V\nLABEL b=\"[$V]\"\n");
    EXPECT_EQ(label(p, 0, "a"), "[]");
    EXPECT_EQ(label(p, 2, "b"), "[global]");
}

TEST_F(PlanTest, EnvWinsOverArgOfTheSameName) {
    const Plan p = plan("FROM scratch\nARG X=from-arg\nENV X=from-env\nLABEL x=$X\n");
    EXPECT_EQ(label(p, 2, "x"), "from-env");
}

TEST_F(PlanTest, AnInstructionSeesTheEnvironmentFromBeforeIt) {
    const Plan p = plan("FROM scratch\nENV a=old\nENV a=new b=$a\nLABEL b=$b a=$a\n");
    EXPECT_EQ(label(p, 2, "b"), "old");
    EXPECT_EQ(label(p, 2, "a"), "new");
}

TEST_F(PlanTest, ArgDefaultSeesEarlierEnvAndBuildArgWins) {
    m_request.build_args["GIVEN"] = "cli";
    const Plan p = plan("FROM scratch\nENV HOME=/root\nARG CACHE=$HOME/.cache GIVEN=default\nLABEL c=$CACHE g=$GIVEN\n");
    EXPECT_EQ(label(p, 2, "c"), "/root/.cache");
    EXPECT_EQ(label(p, 2, "g"), "cli");
}

TEST_F(PlanTest, PlatformArgsArePredefinedForFromAndDeclaredInStages) {
    const Plan p = plan("FROM --platform=$BUILDPLATFORM golang:1.22 AS b\nLABEL before=\"[$TARGETARCH]\"\n"
                        "ARG TARGETARCH\nLABEL after=$TARGETARCH\n");
    EXPECT_EQ(p.stages[0].base.platform, "linux/amd64");
    EXPECT_EQ(label(p, 0, "before"), "[]");
    EXPECT_EQ(label(p, 2, "after"), "arm64");
}

TEST_F(PlanTest, RunSeesDeclaredArgsAndProxyArgsAsEnvironment) {
    m_request.build_args["HTTP_PROXY"] = "http://proxy:3128";
    m_request.build_args["UNUSED"] = "x";
    const Plan p = plan("FROM scratch\nARG A=1\nRUN echo $A\n");
    const PlannedStep& run = p.stages[0].steps[1];
    EXPECT_EQ(run.build_arg_environment, (std::vector<std::string>{"A=1", "HTTP_PROXY=http://proxy:3128"}));
    EXPECT_EQ(p.unused_build_args, std::vector<std::string>{"UNUSED"});
    ASSERT_EQ(p.warnings.size(), 1u);
    EXPECT_NE(p.warnings[0].short_text.find("UNUSED"), std::string::npos);
}

TEST_F(PlanTest, RunCommandIsNotExpandedByThePlanner) {
    const Plan p = plan("FROM scratch\nARG A=1\nRUN echo $A\n");
    EXPECT_EQ(std::get<parser::RunInstruction>(p.stages[0].steps[1].instruction).command.arguments,
              std::vector<std::string>{"echo $A"});
}

TEST_F(PlanTest, OnlyStagesTheTargetNeedsArePlanned) {
    const Plan p = plan("FROM scratch AS unused\nLABEL x=\"${NOPE:?must not be expanded}\"\n"
                        "FROM scratch AS base\nENV FROM_BASE=yes\n"
                        "FROM alpine AS tools\n"
                        "FROM base\nCOPY --from=tools /bin/sh /sh\nLABEL inherited=$FROM_BASE\n");
    EXPECT_FALSE(p.stages[0].needed);
    EXPECT_TRUE(p.stages[1].needed);
    EXPECT_TRUE(p.stages[2].needed);
    EXPECT_EQ(p.target, 3u);
    EXPECT_EQ(p.build_order, (std::vector<std::size_t>{1, 2, 3}));
    EXPECT_EQ(p.stages[3].base.kind, StageBase::Kind::stage);
    EXPECT_EQ(p.stages[3].steps[0].stage_inputs, std::vector<std::size_t>{2});
    EXPECT_EQ(label(p, 1, "inherited"), "yes");
}

TEST_F(PlanTest, ExpansionErrorInANeededStageNamesTheLine) {
    try {
        plan("FROM scratch\n\nLABEL x=\"${NOPE:?is required}\"\n");
        FAIL() << "must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.line(), 3);
        EXPECT_NE(std::string(error.what()).find("NOPE: is required"), std::string::npos) << error.what();
    }
}

TEST_F(PlanTest, TargetSelectsAStageByName) {
    m_request.target = "Base";
    const Plan p = plan("FROM scratch AS base\nFROM base AS final\n");
    EXPECT_EQ(p.target, 0u);
    EXPECT_FALSE(p.stages[1].needed);
    m_request.target = "missing";
    EXPECT_THROW(plan("FROM scratch AS base\n"), Error);
}

TEST_F(PlanTest, CopyFromIndexImageAndFutureStage) {
    const Plan p = plan("FROM scratch\nFROM scratch\nCOPY --from=0 /a /a\nCOPY --from=nginx:1.27 /b /b\n");
    EXPECT_EQ(p.stages[1].steps[0].stage_inputs, std::vector<std::size_t>{0});
    ASSERT_EQ(p.stages[1].steps[1].image_inputs.size(), 1u);
    EXPECT_EQ(p.stages[1].steps[1].image_inputs[0].to_string(), "docker.io/library/nginx:1.27");
    EXPECT_THROW(plan("FROM scratch AS a\nCOPY --from=1 /a /a\nFROM a\n"), ParseError);
}

TEST_F(PlanTest, RunMountFromAStageIsADependency) {
    const Plan p = plan("FROM scratch AS src\nFROM alpine\nRUN --mount=type=bind,from=src,target=/s ls /s\n");
    EXPECT_TRUE(p.stages[0].needed);
    EXPECT_EQ(p.stages[1].steps[0].stage_inputs, std::vector<std::size_t>{0});
}

TEST_F(PlanTest, CircularStagesAreAnError) {
    EXPECT_THROW(plan("FROM b AS a\nFROM a AS b\n"), ParseError);
    EXPECT_THROW(plan("FROM scratch AS a\nCOPY --from=a /x /x\n"), ParseError);
}

TEST_F(PlanTest, InvalidImageReferenceNamesTheFromLine) {
    try {
        plan("ARG TAG=Bad:Tag:x\nFROM alpine:$TAG\n");
        FAIL() << "must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.line(), 2);
    }
}

TEST_F(PlanTest, BaseImageEnvironmentIsInScope) {
    m_request.image_environment = [](const registry::Reference& image, const std::string&) {
        return image.path() == "library/golang" ? std::vector<std::string>{"GOPATH=/go"} : std::vector<std::string>{};
    };
    const Plan p = plan("FROM golang\nLABEL gopath=$GOPATH\n");
    EXPECT_EQ(label(p, 0, "gopath"), "/go");
}

TEST_F(PlanTest, DescribeListsNeededStagesAndExpandedSteps) {
    const std::string text = describe(plan("ARG V=1\nFROM scratch AS skipped\nFROM alpine:3.$V\nENV D=/app\nWORKDIR $D\n"));
    EXPECT_NE(text.find("image docker.io/library/alpine:3.1"), std::string::npos) << text;
    EXPECT_NE(text.find("WORKDIR /app"), std::string::npos) << text;
    EXPECT_NE(text.find("not needed by the target: stage 0 \"skipped\""), std::string::npos) << text;
}

TEST_F(PlanTest, HeredocBodiesAreChompedAndExpandedWithQuotesAsText) {
    const Plan p = plan("FROM scratch\nENV NAME=world\nCOPY <<-EOF <<'RAW' /dst/\n\thello '$NAME' \\$NAME\n\tEOF\nkeep $NAME\nRAW\n");
    const auto& files = std::get<parser::CopyInstruction>(p.stages[0].steps[1].instruction).files.source_contents;
    ASSERT_EQ(files.size(), 2u);
    EXPECT_EQ(files[0].content(), "hello 'world' $NAME\n");
    EXPECT_EQ(files[1].content(), "keep $NAME\n");
}

TEST_F(PlanTest, ArgStepsRecordTheValueEachNameTook) {
    m_request.build_args["B"] = "cli";
    const Plan p = plan("ARG G=global\nFROM scratch\nARG A=1 B=2 G NONE\n");
    const auto& resolved = p.stages[0].steps[0].resolved_args;
    ASSERT_EQ(resolved.size(), 4u);
    EXPECT_EQ(resolved[0].value, "1");
    EXPECT_EQ(resolved[1].value, "cli");
    EXPECT_EQ(resolved[2].value, "global");
    EXPECT_FALSE(resolved[3].value.has_value());
}

TEST(PlatformTest, ParsesAndNormalises) {
    EXPECT_EQ(Platform::parse("linux/aarch64").to_string(), "linux/arm64");
    EXPECT_EQ(Platform::parse("linux/arm64/v8").to_string(), "linux/arm64");
    EXPECT_EQ(Platform::parse("linux/arm").to_string(), "linux/arm/v7");
    EXPECT_EQ(Platform::parse("Linux/AMD64").to_string(), "linux/amd64");
    EXPECT_THROW(Platform::parse("linux"), UsageError);
    EXPECT_THROW(Platform::parse("linux//v7"), UsageError);
    EXPECT_FALSE(Platform::host().architecture.empty());
}

}  // namespace
}  // namespace cbuild::builder
