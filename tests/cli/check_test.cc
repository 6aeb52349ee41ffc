// `cbuild build --check` as `docker build --check` behaves: the report, its exit status, the
// check directive, and the same warnings printed once by a build, which fails only on error=true.

#include <gtest/gtest.h>

#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::write_file;

std::size_t count(const std::string& text, const std::string& part) {
    std::size_t n = 0;
    for (std::size_t at = text.find(part); at != std::string::npos; at = text.find(part, at + 1)) ++n;
    return n;
}

class CheckTest : public testing::Test {
protected:
    test::TempDir m_dir;
};

TEST_F(CheckTest, WarningsAreReportedWithRuleUrlAndLineAndExitOne) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch as base\nMAINTAINER me\nFROM base\nCMD echo hi\n");
    const auto result = run_cbuild("build --check .", m_dir.path());
    EXPECT_EQ(result.status, 1) << result.output;
    EXPECT_NE(result.output.find("Check complete, 3 warnings have been found!"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("WARNING: FromAsCasing - https://docs.docker.com/go/dockerfile/rule/from-as-casing/\n"
                                 "'as' and 'FROM' keywords' casing do not match\n./Dockerfile:1\n"),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("./Dockerfile:2"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("JSONArgsRecommended"), std::string::npos) << result.output;
    EXPECT_EQ(count(result.output, "MaintainerDeprecated"), 1u) << "each warning once: " << result.output;
}

TEST_F(CheckTest, CleanFileAndSkippedRulesExitZero) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch AS base\nFROM base\nCMD [\"x\"]\n");
    const auto clean = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(clean.status, 0) << clean.output;
    EXPECT_NE(clean.output.find("Check complete, no warnings found."), std::string::npos) << clean.output;
    write_file(m_dir.path() / "Dockerfile", "# check=skip=FromAsCasing,MaintainerDeprecated\nFROM scratch as base\nMAINTAINER me\n");
    const auto skipped = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(skipped.status, 0) << skipped.output;
}

TEST_F(CheckTest, BadCheckDirectiveIsAnErrorAtItsLine) {
    write_file(m_dir.path() / "Dockerfile", "# check=nonsense\nFROM scratch\n");
    const auto result = run_cbuild("--check .", m_dir.path());
    EXPECT_EQ(result.status, 1) << result.output;
    EXPECT_NE(result.output.find("Dockerfile:1:"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("invalid check option"), std::string::npos) << result.output;
}

TEST_F(CheckTest, ABuildPrintsTheWarningsAndFailsOnlyWithErrorTrue) {
    write_file(m_dir.path() / "Dockerfile", "FROM scratch\nWORKDIR app\nLABEL a b\n");
    const auto built = run_cbuild("--root store -t lint:1 .", m_dir.path());
    EXPECT_EQ(built.status, 0) << built.output;
    EXPECT_NE(built.output.find("2 warnings found"), std::string::npos) << built.output;
    EXPECT_EQ(count(built.output, "WorkdirRelativePath: Relative workdir \"app\""), 1u) << built.output;
    EXPECT_NE(built.output.find("LegacyKeyValueFormat"), std::string::npos) << built.output;

    write_file(m_dir.path() / "Dockerfile", "# check=error=true\nFROM scratch\nWORKDIR app\n");
    const auto failed = run_cbuild("--root store -t lint:2 .", m_dir.path());
    EXPECT_EQ(failed.status, 1) << failed.output;
    EXPECT_NE(failed.output.find("lint violation found for rules: WorkdirRelativePath"), std::string::npos)
        << failed.output;
    EXPECT_NE(run_cbuild("--root store inspect lint:2", m_dir.path()).status, 0) << "nothing was built or tagged";
}

}  // namespace
}  // namespace cbuild
