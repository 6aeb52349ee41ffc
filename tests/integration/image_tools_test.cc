// Our images read and run by tools nobody here wrote: skopeo (the store and both tarballs),
// umoci (unpacks the store into a runtime bundle) and runc (runs Debian's static busybox that
// the image COPYs in). Also the exporters and the image commands.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/image_checker.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild {
namespace {

using test::run_cbuild;
using test::run_command;
using test::shell_quote;
using test::write_file;

constexpr const char* k_busybox = "/bin/busybox";

// CI has every tool (scripts/install-deps installs them); elsewhere a missing one skips.
#define REQUIRE_PROGRAM(program)                                                              \
    do {                                                                                      \
        if (!test::have_program(program)) {                                                   \
            if (test::in_ci()) FAIL() << program << " is not installed";                  \
            GTEST_SKIP() << program << " is not installed (scripts/install-deps installs it)"; \
        }                                                                                     \
    } while (0)

class ImageToolsTest : public testing::Test {
protected:
    ImageToolsTest() : m_context(m_dir.path() / "context"), m_store(m_dir.path() / "store") {
        write_file(m_context / "hello.txt", "hello from cbuild\n");
        write_file(m_context / "Dockerfile",
                   "FROM scratch\n"
                   "COPY busybox /bin/busybox\n"
                   "COPY hello.txt /greeting/\n"
                   "WORKDIR /app\n"
                   "LABEL org.opencontainers.image.title=hello\n"
                   "ENTRYPOINT [\"/bin/busybox\"]\n"
                   "CMD [\"cat\", \"/greeting/hello.txt\"]\n");
        if (std::filesystem::exists(k_busybox))
            std::filesystem::copy_file(k_busybox, m_context / "busybox");
        else
            write_file(m_context / "busybox", "#!/bin/sh\n");
    }

    test::CommandResult cbuild(const std::string& args) {
        return run_cbuild("--root " + shell_quote(m_store.string()) + " " + args, m_context);
    }

    test::TempDir m_dir;
    std::filesystem::path m_context;
    std::filesystem::path m_store;
};

TEST_F(ImageToolsTest, SkopeoReadsTheStoreAndUmociUnpacksWhatRuncRuns) {
    REQUIRE_PROGRAM("skopeo");
    REQUIRE_PROGRAM("umoci");
    REQUIRE_PROGRAM("runc");
    if (!std::filesystem::exists(k_busybox)) FAIL() << "busybox-static is not installed";
    const auto built = cbuild("-t repo/hello:0.1 .");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::string digest = test::manifest_digest_in_layout(m_store, "repo/hello:0.1");
    EXPECT_TRUE(test::check_image(m_store, digest).empty());

    const auto inspected = run_command("skopeo inspect " + shell_quote("oci:" + m_store.string() + ":repo/hello:0.1"));
    ASSERT_EQ(inspected.status, 0) << inspected.output;
    const nlohmann::json info = nlohmann::json::parse(inspected.output);
    EXPECT_EQ(info["Digest"], digest);
    EXPECT_EQ(info["Labels"]["org.opencontainers.image.title"], "hello");
    EXPECT_EQ(info["Layers"].size(), 3u);

    const std::filesystem::path bundle = m_dir.path() / "bundle";
    const auto unpacked =
        run_command("umoci unpack --image " + shell_quote(m_store.string() + ":repo/hello:0.1") + " " + shell_quote(bundle.string()));
    ASSERT_EQ(unpacked.status, 0) << unpacked.output;
    EXPECT_EQ(test::read_file(bundle / "rootfs" / "greeting" / "hello.txt"), "hello from cbuild\n");
    EXPECT_TRUE(std::filesystem::is_directory(bundle / "rootfs" / "app"));
    EXPECT_EQ(test::read_file(bundle / "rootfs" / "bin" / "busybox"), test::read_file(k_busybox));

    // umoci writes a runtime config for a terminal; runc here has none.
    nlohmann::json runtime = nlohmann::json::parse(test::read_file(bundle / "config.json"));
    runtime["process"]["terminal"] = false;
    write_file(bundle / "config.json", runtime.dump());
    const std::string id = "cbuild-test-" + std::to_string(getpid());
    const auto ran = run_command("runc run " + id, bundle);
    EXPECT_EQ(ran.status, 0) << ran.output;
    EXPECT_EQ(ran.output, "hello from cbuild\n");
}

TEST_F(ImageToolsTest, OciTarballIsReadBySkopeo) {
    REQUIRE_PROGRAM("skopeo");
    const auto built = cbuild("-t demo:1 -o type=oci,dest=demo.tar .");
    ASSERT_EQ(built.status, 0) << built.output;
    const auto inspected = run_command("skopeo inspect oci-archive:demo.tar", m_context);
    ASSERT_EQ(inspected.status, 0) << inspected.output;
    EXPECT_EQ(nlohmann::json::parse(inspected.output)["Labels"]["org.opencontainers.image.title"], "hello");
    const std::filesystem::path layout = m_dir.path() / "layout";
    std::filesystem::create_directories(layout);
    ASSERT_EQ(run_command("tar -xf " + shell_quote((m_context / "demo.tar").string()), layout).status, 0);
    EXPECT_TRUE(test::check_image(layout, test::manifest_digest_in_layout(layout, "1")).empty());
    EXPECT_EQ(cbuild("images").output.find("demo"), std::string::npos) << "an exported image is not tagged in the store";
}

TEST_F(ImageToolsTest, DockerTarballHasWhatDockerLoadReads) {
    REQUIRE_PROGRAM("skopeo");
    const auto built = cbuild("-t demo:1 -t other/name:2 -o type=docker,dest=docker.tar --compression zstd .");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::filesystem::path unpacked = m_dir.path() / "docker";
    std::filesystem::create_directories(unpacked);
    ASSERT_EQ(run_command("tar -xf " + shell_quote((m_context / "docker.tar").string()), unpacked).status, 0);
    const nlohmann::json manifest = nlohmann::json::parse(test::read_file(unpacked / "manifest.json"));
    ASSERT_EQ(manifest.size(), 1u);
    EXPECT_EQ(manifest[0]["RepoTags"], nlohmann::json({"demo:1", "other/name:2"}));
    EXPECT_EQ(manifest[0]["Layers"].size(), 3u);
    for (const auto& layer : manifest[0]["Layers"]) EXPECT_TRUE(std::filesystem::exists(unpacked / layer.get<std::string>()));
    EXPECT_TRUE(nlohmann::json::parse(test::read_file(unpacked / "repositories")).contains("demo"));
    const auto inspected = run_command("skopeo inspect docker-archive:docker.tar", m_context);
    EXPECT_EQ(inspected.status, 0) << inspected.output;
    EXPECT_TRUE(test::check_image(unpacked, test::manifest_digest_in_layout(unpacked, "")).empty());
}

TEST_F(ImageToolsTest, LocalAndTarExportTheRootFilesystem) {
    ASSERT_EQ(cbuild("-o type=local,dest=rootfs .").status, 0);
    EXPECT_EQ(test::read_file(m_context / "rootfs" / "greeting" / "hello.txt"), "hello from cbuild\n");
    EXPECT_TRUE(std::filesystem::is_directory(m_context / "rootfs" / "app"));
    ASSERT_EQ(cbuild("-o type=tar,dest=fs.tar .").status, 0);
    const auto listed = run_command("tar -tvf fs.tar", m_context);
    EXPECT_NE(listed.output.find("greeting/hello.txt"), std::string::npos) << listed.output;
    EXPECT_NE(listed.output.find("bin/busybox"), std::string::npos) << listed.output;
}

TEST_F(ImageToolsTest, ImageCommandsListInspectTagAndRemove) {
    ASSERT_EQ(cbuild("-t first:1 --iidfile iid --metadata-file meta.json .").status, 0);
    const nlohmann::json metadata = nlohmann::json::parse(test::read_file(m_context / "meta.json"));
    EXPECT_EQ(metadata["containerimage.config.digest"], test::read_file(m_context / "iid"));
    EXPECT_EQ(metadata["image.name"], "first:1");
    ASSERT_EQ(cbuild("tag first:1 second:2").status, 0);
    const auto listed = cbuild("images");
    EXPECT_NE(listed.output.find("first"), std::string::npos) << listed.output;
    EXPECT_NE(listed.output.find("second"), std::string::npos) << listed.output;
    const nlohmann::json inspected = nlohmann::json::parse(cbuild("inspect second:2").output);
    EXPECT_EQ(inspected["Digest"], metadata["containerimage.digest"]);
    ASSERT_EQ(cbuild("rm first:1").status, 0);
    EXPECT_EQ(cbuild("images").output.find("first"), std::string::npos);
    EXPECT_EQ(cbuild("inspect first:1").status, 1);
    EXPECT_EQ(cbuild("rm first:1").status, 1);
}

TEST_F(ImageToolsTest, HostileTarInAddStaysInsideTheImage) {
    // Members that try to leave the root: `..`, an absolute path, a symlink out followed by a
    // file written through it, a hardlink to a host path.
    const auto made = run_command(
        "python3 - <<'PY'\n"
        "import io, tarfile\n"
        "t = tarfile.open('hostile.tar', 'w')\n"
        "def add(name, data=b'evil', **kw):\n"
        "    info = tarfile.TarInfo(name)\n"
        "    for k, v in kw.items(): setattr(info, k, v)\n"
        "    if info.type == tarfile.REGTYPE: info.size = len(data); t.addfile(info, io.BytesIO(data))\n"
        "    else: t.addfile(info)\n"
        "add('../../../../tmp/cbuild-escape-dotdot')\n"
        "add('/tmp/cbuild-escape-absolute')\n"
        "add('link', type=tarfile.SYMTYPE, linkname='/tmp')\n"
        "add('link/cbuild-escape-symlink')\n"
        "add('hard', type=tarfile.LNKTYPE, linkname='../../../../etc/passwd')\n"
        "t.close()\n"
        "PY",
        m_context);
    ASSERT_EQ(made.status, 0) << made.output;
    write_file(m_context / "Dockerfile", "FROM scratch\nADD hostile.tar /unpacked/\n");
    const auto result = cbuild("-o type=local,dest=rootfs .");
    for (const char* escape : {"/tmp/cbuild-escape-dotdot", "/tmp/cbuild-escape-absolute", "/tmp/cbuild-escape-symlink"})
        EXPECT_FALSE(std::filesystem::exists(escape)) << escape << " was written on the host";
    if (result.status == 0) {
        for (const auto& entry : std::filesystem::recursive_directory_iterator(m_context / "rootfs")) {
            const std::string path = std::filesystem::relative(entry.path(), m_context / "rootfs").string();
            EXPECT_EQ(path.find(".."), std::string::npos) << path;
        }
    } else {
        EXPECT_NE(result.output.find("Dockerfile:2\n"), std::string::npos) << result.output;
    }
}

}  // namespace
}  // namespace cbuild
