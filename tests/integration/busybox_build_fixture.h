#pragma once
// A fixture for builds FROM a busybox base image the suite makes itself and pushes to a real
// registry (one registry and one base per test process), with helpers to read the results
// back from the store.

#include <gtest/gtest.h>

#include <unistd.h>

#include <nlohmann/json.hpp>

#include "tests/support/busybox_image.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/image_checker.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::test {

// One registry and one busybox base image for the whole suite; each test builds in its own
// context with the suite's store (so the base is pulled and unpacked once).
class BusyboxBuildTest : public testing::Test {
protected:
    static void SetUpTestSuite() {
        s_skip_reason.clear();
        if (geteuid() != 0) {
            s_skip_reason = "RUN tests need root (namespaces, overlayfs)";
            return;
        }
        if (const auto missing = test::RegistryServer::missing_tool({})) {
            s_skip_reason = *missing + " is not installed";
            return;
        }
        s_dir = new test::TempDir();
        if (const auto why = test::write_busybox_rootfs(s_dir->path() / "base" / "rootfs")) {
            s_skip_reason = *why;
            return;
        }
        s_registry = new test::RegistryServer(test::RegistryServer::Options{});
        test::write_file(s_dir->path() / "base" / "Dockerfile", "FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n");
        s_base = s_registry->host() + "/library/busybox:test";
        const auto pushed = test::run_cbuild("--root " + test::shell_quote((s_dir->path() / "base-store").string()) + " -t " +
                                           s_base + " --push .",
                                       s_dir->path() / "base");
        if (pushed.status != 0) s_skip_reason = "could not push the base image: " + pushed.output;
    }
    static void TearDownTestSuite() {
        delete s_registry;
        s_registry = nullptr;
        delete s_dir;
        s_dir = nullptr;
    }

    void SetUp() override {
        if (!s_skip_reason.empty()) {
            if (test::in_ci()) FAIL() << s_skip_reason;
            GTEST_SKIP() << s_skip_reason;
        }
        m_context = m_dir.path() / "context";
        std::filesystem::create_directories(m_context);
    }

    static std::filesystem::path store() { return s_dir->path() / "store"; }

    test::CommandResult cbuild(const std::string& args) {
        return test::run_cbuild("--root " + test::shell_quote(store().string()) + " " + args, m_context);
    }

    // Builds `dockerfile` (its FROM lines say BASE for the busybox image) and returns the output.
    test::CommandResult build(std::string dockerfile, const std::string& args) {
        for (std::size_t at; (at = dockerfile.find("BASE")) != std::string::npos;) dockerfile.replace(at, 4, s_base);
        test::write_file(m_context / "Dockerfile", dockerfile);
        return cbuild(args + " .");
    }

    nlohmann::json manifest(const std::string& tag) {
        const std::string digest = test::manifest_digest_in_layout(store(), tag);
        return nlohmann::json::parse(test::read_file(blob(digest)));
    }
    std::filesystem::path blob(const std::string& digest) {
        return store() / "blobs" / "sha256" / digest.substr(digest.find(':') + 1);
    }
    nlohmann::json config(const std::string& tag) {
        return nlohmann::json::parse(test::read_file(blob(manifest(tag)["config"]["digest"])));
    }
    // `tar -tv` of the image's last layer: one line per member, numeric owners.
    std::string last_layer_listing(const std::string& tag) {
        const std::string layer = manifest(tag)["layers"].back()["digest"];
        const auto listed = test::run_command("tar --numeric-owner -tvzf " + test::shell_quote(blob(layer).string()));
        EXPECT_EQ(listed.status, 0) << listed.output;
        return listed.output;
    }
    // Every layer of the image, decompressed, concatenated.
    std::string all_layer_bytes(const std::string& tag) {
        std::string bytes;
        const nlohmann::json image = manifest(tag);
        for (const auto& layer : image["layers"]) {
            const auto unpacked = test::run_command("zcat " + test::shell_quote(blob(layer["digest"]).string()));
            bytes += unpacked.output;
        }
        return bytes;
    }

    static inline test::TempDir* s_dir = nullptr;
    static inline test::RegistryServer* s_registry = nullptr;
    static inline std::string s_base;
    static inline std::string s_skip_reason;
    test::TempDir m_dir;
    std::filesystem::path m_context;
};

}  // namespace cbuild::test
