// The image config and history that metadata instructions and WORKDIR produce.

#include <gtest/gtest.h>

#include "builder/solve/internal/stage_image.h"
#include "common/error.h"
#include "parser/dockerfile.h"

namespace cbuild::builder::internal {
namespace {

class MetadataTest : public testing::Test {
protected:
    // Applies every instruction of a one-stage Dockerfile (no variables) to m_image.
    void apply(const std::string& text) {
        const parser::Dockerfile dockerfile = parser::parse_dockerfile("FROM scratch\n" + text, "Dockerfile");
        for (const parser::Instruction& instruction : dockerfile.stages[0].instructions) {
            PlannedStep step{instruction, {}, {}, {}, {}};
            if (const auto* workdir = std::get_if<parser::WorkdirInstruction>(&instruction)) {
                m_created = apply_workdir(m_image, *workdir, m_time);
            } else {
                ASSERT_TRUE(apply_metadata(m_image, step, m_time)) << parser::source_of(instruction).original;
            }
        }
    }
    std::string last_history() const { return m_image.config.history.back().created_by; }

    StageImage m_image;
    BuildTime m_time = build_time(1700000000);
    std::vector<LayerEntry> m_created;
};

TEST_F(MetadataTest, BuildTimeFromSourceDateEpoch) {
    EXPECT_EQ(m_time.rfc3339, "2023-11-14T22:13:20Z");
    EXPECT_EQ(m_time.seconds, 1700000000);
}

TEST_F(MetadataTest, HealthcheckHistoryUsesGoFormatting) {
    apply("HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s --retries=10 CMD [\"true\"]\n");
    EXPECT_EQ(last_history(), "HEALTHCHECK &{[\"CMD\" \"true\"] \"1m30s\" \"500ms\" \"1.5s\" \"0s\" '\\n'}");
    EXPECT_EQ(m_image.config.config.healthcheck->interval, std::chrono::seconds(90));
    apply("HEALTHCHECK --retries=39 CMD true\n");
    EXPECT_NE(last_history().find("'\\''}"), std::string::npos) << last_history();
    apply("HEALTHCHECK --retries=1 CMD true\n");
    EXPECT_NE(last_history().find("'\\x01'}"), std::string::npos) << last_history();
    EXPECT_TRUE(m_image.config.history.back().empty_layer);
    EXPECT_EQ(m_image.config.history.back().comment, "buildkit.dockerfile.v0");
}

TEST_F(MetadataTest, ExposeRangesAndProtocols) {
    apply("EXPOSE 8000-8002 53/UDP\n");
    EXPECT_EQ(m_image.config.config.exposed_ports,
              (std::set<std::string>{"53/udp", "8000/tcp", "8001/tcp", "8002/tcp"}));
    EXPECT_EQ(last_history(), "EXPOSE map[53/udp:{} 8000/tcp:{} 8001/tcp:{} 8002/tcp:{}]");
    EXPECT_THROW(apply("EXPOSE 70000\n"), Error);
    EXPECT_THROW(apply("EXPOSE 80/xyz\n"), Error);
}

TEST_F(MetadataTest, StopSignalsAreChecked) {
    apply("STOPSIGNAL 9\nSTOPSIGNAL sigkill\nSTOPSIGNAL SIGRTMIN+3\n");
    EXPECT_EQ(m_image.config.config.stop_signal, "SIGRTMIN+3");
    EXPECT_THROW(apply("STOPSIGNAL SIGNOPE\n"), Error);
    EXPECT_THROW(apply("STOPSIGNAL 0\n"), Error);
}

TEST_F(MetadataTest, EnvReplacesInPlaceAndShellFormUsesTheShell) {
    apply("ENV A=1 B=2\nENV A=3\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo $A\n");
    EXPECT_EQ(m_image.config.config.env, (std::vector<std::string>{"A=3", "B=2"}));
    EXPECT_EQ(*m_image.config.config.cmd, (std::vector<std::string>{"/bin/bash", "-c", "echo $A"}));
    EXPECT_TRUE(m_image.config.config.args_escaped);
}

TEST_F(MetadataTest, OnbuildIsStoredWithoutHistory) {
    apply("ONBUILD RUN make\n");
    EXPECT_EQ(m_image.config.config.on_build, std::vector<std::string>{"RUN make"});
    EXPECT_TRUE(m_image.config.history.empty());
}

TEST_F(MetadataTest, WorkdirCreatesOnlyMissingDirectoriesOwnedByTheUser) {
    apply("USER 1000:2000\nWORKDIR /srv/app\nWORKDIR data\n");
    EXPECT_EQ(m_image.config.config.working_dir, "/srv/app/data");
    ASSERT_EQ(m_created.size(), 1u) << "only srv/app/data is new by the second WORKDIR";
    EXPECT_EQ(m_created[0].path, "srv/app/data");
    EXPECT_EQ(m_created[0].uid, 1000u);
    EXPECT_EQ(m_created[0].gid, 2000u);
    EXPECT_EQ(m_created[0].mode, 0755u);
    EXPECT_EQ(m_created[0].mtime_seconds, 1700000000);
    EXPECT_FALSE(m_image.config.history.back().empty_layer);
    apply("WORKDIR /srv/app\n");
    EXPECT_TRUE(m_created.empty());
    EXPECT_FALSE(m_image.config.history.back().empty_layer) << "BuildKit commits an empty layer";
    apply("WORKDIR /\n");
    EXPECT_TRUE(m_image.config.history.back().empty_layer);
}

TEST_F(MetadataTest, WorkdirWithAnUnknownUserNameFails) {
    EXPECT_THROW(apply("USER nobody\nWORKDIR /x\n"), Error);
}

}  // namespace
}  // namespace cbuild::builder::internal
