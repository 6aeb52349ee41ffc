// `cbuild completion bash|zsh` and every subcommand's --help, run as a user would: the scripts
// are checked by the shells themselves and bash's completion function is called as bash would.

#include <gtest/gtest.h>

#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::run_command;
using test::shell_quote;

class CompletionTest : public testing::Test {
protected:
    void SetUp() override {
        const auto bash = run_cbuild("completion bash > " + shell_quote((m_dir.path() / "cbuild.bash").string()));
        ASSERT_EQ(bash.status, 0) << bash.output;
    }

    // COMPREPLY after bash's completion function ran on `words` with the cursor on the last word.
    std::string complete(const std::string& words) {
        const std::string script = "source ./cbuild.bash; COMP_WORDS=(" + words +
                                   "); COMP_CWORD=$((${#COMP_WORDS[@]} - 1)); _cbuild; echo \"${COMPREPLY[*]}\"";
        const auto result = run_command("bash -c " + shell_quote(script), m_dir.path());
        EXPECT_EQ(result.status, 0) << result.output;
        return result.output;
    }

    test::TempDir m_dir;
};

TEST_F(CompletionTest, BashScriptParses) {
    const auto result = run_command("bash -n cbuild.bash", m_dir.path());
    EXPECT_EQ(result.status, 0) << result.output;
}

TEST_F(CompletionTest, BashCompletesCommandsOptionsAndFiles) {
    EXPECT_EQ(complete("cbuild bu"), "build\n");
    EXPECT_EQ(complete("cbuild build --no-c"), "--no-cache --no-cache-filter\n");
    EXPECT_EQ(complete("cbuild --root /tmp build --che"), "--check\n");
    EXPECT_EQ(complete("cbuild debug pl"), "plan\n");
    EXPECT_EQ(complete("cbuild completion z"), "zsh\n");
    EXPECT_EQ(complete("cbuild prune --keep"), "--keep-storage\n");
    test::write_file(m_dir.path() / "Dockerfile.web", "FROM scratch\n");
    EXPECT_EQ(complete("cbuild build -f Dockerfile."), "Dockerfile.web\n");
    EXPECT_EQ(complete("cbuild build --file Dockerfile.w"), "Dockerfile.web\n");
    EXPECT_EQ(complete("cbuild build --target Dockerfile."), "\n") << "a stage name is no file";
}

TEST_F(CompletionTest, ZshScriptParses) {
    if (!test::have_program("zsh")) {
        if (test::in_ci()) FAIL() << "zsh is missing: scripts/install-deps installs it";
        GTEST_SKIP() << "zsh is not installed";
    }
    const auto zsh = run_cbuild("completion zsh > " + shell_quote((m_dir.path() / "_cbuild").string()));
    ASSERT_EQ(zsh.status, 0) << zsh.output;
    const auto result = run_command("zsh -n _cbuild", m_dir.path());
    EXPECT_EQ(result.status, 0) << result.output;
    EXPECT_NE(test::run_command("grep -c -- --no-cache-filter _cbuild", m_dir.path()).output, "0\n");
}

TEST_F(CompletionTest, UnknownShellIsAUsageError) {
    EXPECT_EQ(run_cbuild("completion fish").status, 2);
    EXPECT_EQ(run_cbuild("completion").status, 2);
}

TEST(HelpTest, EverySubcommandPrintsUsageOptionsAndADescription) {
    for (const char* command : {"build", "bake", "images", "inspect", "tag", "rm", "pull", "push", "login", "logout",
                                "prune", "du", "debug", "debug parse", "debug plan", "completion"}) {
        const auto result = run_cbuild(std::string(command) + " --help");
        EXPECT_EQ(result.status, 0) << command << ": " << result.output;
        EXPECT_EQ(result.output.rfind("Usage: cbuild ", 0), 0u) << command << ": " << result.output;
        EXPECT_NE(result.output.find("\nOptions:\n"), std::string::npos) << command << ": " << result.output;
        EXPECT_NE(result.output.find("--help"), std::string::npos) << command;
        // The one-line description: the first line after the usage block.
        const std::size_t blank = result.output.find("\n\n");
        ASSERT_NE(blank, std::string::npos) << command;
        EXPECT_NE(result.output[blank + 2], ' ') << command << ": " << result.output;
    }
    EXPECT_NE(run_cbuild("--help").output.find("completion"), std::string::npos);
}

}  // namespace
}  // namespace cbuild
