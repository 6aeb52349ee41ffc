#pragma once
// What the sandbox tests share: a busybox image (with accounts in /etc) and a bare one (bin/
// only), a private TMPDIR so that leftover workspaces can be counted, and a check after every
// test that no mount and no temp dir was left behind.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "builder/sandbox/sandbox.h"
#include "tests/support/busybox_image.h"
#include "tests/support/ci.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {

namespace fs = std::filesystem;

class SandboxTest : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        s_suite = std::make_unique<test::TempDir>();
        s_image = s_suite->path() / "image";
        s_bare = s_suite->path() / "bare";
        s_setup_problem = test::write_busybox_rootfs(s_image);
        if (!s_setup_problem) test::write_busybox_rootfs(s_bare);
        for (const char* extra : {"etc", "old", "home", "root", "tmp"}) fs::remove_all(s_bare / extra);
        s_tmp = s_suite->path() / "tmp";
        fs::create_directories(s_tmp);
        const char* old = std::getenv("TMPDIR");
        if (old) s_old_tmpdir = old;
        setenv("TMPDIR", s_tmp.c_str(), 1);
    }

    static void TearDownTestSuite() {
        if (s_old_tmpdir) setenv("TMPDIR", s_old_tmpdir->c_str(), 1);
        else unsetenv("TMPDIR");
        s_suite.reset();
    }

    void SetUp() override {
        if (geteuid() != 0) {
            if (test::in_ci()) FAIL() << "the sandbox tests need root (CI runs as root)";
            GTEST_SKIP() << "the sandbox tests need root";
        }
        if (s_setup_problem) {
            if (test::in_ci()) FAIL() << *s_setup_problem;
            GTEST_SKIP() << *s_setup_problem;
        }
        m_mounts_before = our_mounts();
        m_dir = s_suite->path() / ("case-" + std::to_string(++s_cases));
        fs::create_directories(upper());
        fs::create_directories(work());
    }

    void TearDown() override {
        if (m_dir.empty()) return;
        EXPECT_EQ(our_mounts(), m_mounts_before) << "a mount was left behind";
        EXPECT_TRUE(fs::is_empty(s_tmp)) << "a sandbox workspace was left in " << s_tmp;
        fs::remove_all(m_dir);
    }

    // A spec running `args` on the image (or the bare image), PATH=/bin.
    SandboxSpec spec(std::vector<std::string> args, bool bare = false) const {
        SandboxSpec out;
        out.lowers = {bare ? s_bare : s_image};
        out.upper = upper();
        out.work = work();
        out.args = std::move(args);
        out.env = {"PATH=/bin"};
        return out;
    }

    SandboxSpec shell(const std::string& script, bool bare = false) const { return spec({"/bin/sh", "-c", script}, bare); }

    fs::path upper() const { return m_dir / "upper"; }
    fs::path work() const { return m_dir / "work"; }
    const fs::path& dir() const { return m_dir; }
    static const fs::path& image() { return s_image; }

    // Everything under `root`, relative, sorted.
    static std::vector<std::string> tree(const fs::path& root) {
        std::vector<std::string> out;
        for (const auto& entry : fs::recursive_directory_iterator(root))
            out.push_back(entry.path().lexically_relative(root).string());
        std::sort(out.begin(), out.end());
        return out;
    }

private:
    // Mount points of this test's own making: a sandbox workspace or anything under the suite dir.
    static std::vector<std::string> our_mounts() {
        std::ifstream in("/proc/self/mountinfo");
        std::vector<std::string> out;
        for (std::string line; std::getline(in, line);)
            if (line.find("cbuild-sandbox-") != std::string::npos || line.find(s_suite->path().string()) != std::string::npos)
                out.push_back(line);
        return out;
    }

    fs::path m_dir;  // this test's: upper, work, whatever else it needs
    std::vector<std::string> m_mounts_before;
    static inline int s_cases = 0;

    static inline std::unique_ptr<test::TempDir> s_suite;
    static inline fs::path s_image, s_bare, s_tmp;
    static inline std::optional<std::string> s_setup_problem, s_old_tmpdir;
};

}  // namespace cbuild::builder
