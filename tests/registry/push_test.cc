// Pushes to the real distribution registry (Debian's docker-registry) over plain HTTP and with
// htpasswd basic auth, behind the fault proxy (tests/support/fault_proxy.h) that logs each
// request; the results are read back with skopeo and with the client.

#include <gtest/gtest.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "registry/client.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
using test::RegistryServer;

using test::in_ci;

// An image written into a directory: its manifest and the files of its blobs.
struct LocalImage {
    ImageToPush image;
    std::map<std::string, fs::path> files;  // digest → file

    BlobLookup lookup(std::optional<Reference> mount_from = std::nullopt) const {
        return [this, mount_from](const Descriptor& descriptor) -> std::optional<BlobSource> {
            const auto found = files.find(descriptor.digest.to_string());
            if (found == files.end()) return std::nullopt;
            BlobSource source = BlobSource::file(found->second);
            source.mount_from = mount_from;
            return source;
        };
    }
};

class PushTest : public ::testing::Test {
protected:
    std::unique_ptr<RegistryServer> start(RegistryServer::Options options = {}) {
        if (auto missing = RegistryServer::missing_tool(options)) {
            if (in_ci()) ADD_FAILURE() << "missing " << *missing << " (scripts/install-deps installs it)";
            return nullptr;
        }
        if (!test::have_program("skopeo")) {
            if (in_ci()) ADD_FAILURE() << "missing skopeo (scripts/install-deps installs it)";
            return nullptr;
        }
        auto server = std::make_unique<RegistryServer>(options);
        proxy = std::make_unique<test::FaultProxy>(test::FaultProxy::Options{.upstream_host = server->host()});
        return server;
    }

    // A one-layer image written by OciLayoutWriter (a real gzip tar), ready to push.
    LocalImage layout_image(const std::string& name, const std::string& content) {
        const fs::path dir = m_dir.path() / name;
        test::OciLayoutWriter layout(dir);
        const test::LayoutBlob manifest = layout.add_image(content);
        LocalImage local;
        local.image.media_type = manifest.media_type;
        local.image.manifest = test::read_file(dir / "blobs/sha256" / Digest::parse(manifest.digest).hex());
        const ImageManifest parsed = parse_manifest(local.image.manifest);
        local.image.blobs = parsed.layers;
        local.image.blobs.push_back(parsed.config);
        for (const auto& blob : local.image.blobs)
            local.files[blob.digest.to_string()] = dir / "blobs/sha256" / blob.digest.hex();
        return local;
    }

    // A hand-built image whose one layer is `layer_size` bytes of a pattern (not a real tar:
    // the registry never looks inside).
    LocalImage large_image(std::size_t layer_size) {
        const fs::path dir = m_dir.path() / "large";
        fs::create_directories(dir);
        std::string layer(layer_size, '\0');
        for (std::size_t i = 0; i < layer_size; ++i) layer[i] = static_cast<char>((i * 7919 + i / 4093) & 0xff);
        const Descriptor layer_descriptor{.media_type = "application/vnd.oci.image.layer.v1.tar",
                                          .digest = sha256_of(layer),
                                          .size = static_cast<std::int64_t>(layer.size())};
        const std::string config = R"({"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[")" +
                                   layer_descriptor.digest.to_string() + R"("]},"config":{}})";
        const Descriptor config_descriptor{.media_type = k_oci_config, .digest = sha256_of(config),
                                           .size = static_cast<std::int64_t>(config.size())};
        LocalImage local;
        for (const auto& [descriptor, bytes] : {std::pair(layer_descriptor, layer), std::pair(config_descriptor, config)}) {
            const fs::path file = dir / descriptor.digest.hex();
            test::write_file(file, bytes);
            local.files[descriptor.digest.to_string()] = file;
        }
        nlohmann::json manifest = {
            {"schemaVersion", 2},
            {"mediaType", k_oci_manifest},
            {"config", {{"mediaType", k_oci_config}, {"digest", config_descriptor.digest.to_string()},
                        {"size", config_descriptor.size}}},
            {"layers", nlohmann::json::array({{{"mediaType", layer_descriptor.media_type},
                                               {"digest", layer_descriptor.digest.to_string()},
                                               {"size", layer_descriptor.size}}})}};
        local.image = {.media_type = k_oci_manifest, .manifest = manifest.dump(),
                       .blobs = {config_descriptor, layer_descriptor}};
        return local;
    }

    Reference via_proxy(const std::string& rest) const { return Reference::parse(proxy->host() + "/" + rest); }

    static ClientOptions fast_options() {
        ClientOptions options;
        options.retry = {.attempts = 2, .initial_delay = std::chrono::milliseconds(10),
                         .max_delay = std::chrono::milliseconds(20), .max_retry_after = std::chrono::milliseconds(20)};
        return options;
    }

    // Every file under blobs/ of an OCI layout hashes to its name.
    static void expect_layout_verifies(const fs::path& layout) {
        std::size_t blobs = 0;
        for (const auto& entry : fs::directory_iterator(layout / "blobs/sha256")) {
            EXPECT_EQ(sha256_of(test::read_file(entry.path())).hex(), entry.path().filename().string());
            ++blobs;
        }
        EXPECT_EQ(blobs, 3u);  // manifest, config, layer
    }

    // "METHOD TARGET [CONTENT-RANGE]" of every request the proxy forwarded, in order.
    std::vector<std::string> log() const {
        std::vector<std::string> lines;
        for (const auto& request : proxy->log())
            lines.push_back(request.method + " " + request.target +
                            (request.content_range.empty() ? "" : " " + request.content_range));
        return lines;
    }
    // How many of them start with `prefix`.
    std::size_t count(const std::string& prefix) const {
        std::size_t n = 0;
        for (const auto& line : log()) n += line.rfind(prefix, 0) == 0;
        return n;
    }

    test::TempDir m_dir;
    std::unique_ptr<test::FaultProxy> proxy;
};

#define START_OR_SKIP(server, ...)                                  \
    auto server = start(__VA_ARGS__);                               \
    if (!server) GTEST_SKIP() << "docker-registry or skopeo is missing"

TEST_F(PushTest, ImageOverPlainHttpIsReadBySkopeoAndASecondPushSkipsBlobs) {
    START_OR_SKIP(server);
    const LocalImage local = layout_image("one", "pushed by cbuild\n");
    Client client(fast_options());
    const PushedImage pushed =
        client.push_image({via_proxy("app/hello:v1"), via_proxy("app/hello:v2")}, local.image, local.lookup(), 4);
    EXPECT_EQ(pushed.digest, sha256_of(local.image.manifest));
    EXPECT_EQ(pushed.uploaded, 2u);
    EXPECT_EQ(count("PUT /v2/app/hello/manifests/"), 2u);

    const auto inspect = test::run_command("skopeo inspect --tls-verify=false docker://" + server->host() +
                                           "/app/hello:v2");
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    EXPECT_EQ(nlohmann::json::parse(inspect.output).at("Digest"), pushed.digest.to_string());
    const fs::path copy = m_dir.path() / "copy";
    const auto copied = test::run_command("skopeo copy --src-tls-verify=false docker://" + server->host() +
                                          "/app/hello:v1 oci:" + copy.string() + ":v1");
    ASSERT_EQ(copied.status, 0) << copied.output;
    expect_layout_verifies(copy);
    EXPECT_TRUE(fs::exists(copy / "blobs/sha256" / pushed.digest.hex()));

    const std::size_t patches_before = count("PATCH ") + count("PUT /v2/app/hello/blobs/");
    const PushedImage again = client.push_image({via_proxy("app/hello:v3")}, local.image, local.lookup(), 2);
    EXPECT_EQ(again.existed, 2u);
    EXPECT_EQ(again.uploaded, 0u);
    EXPECT_EQ(count("PATCH ") + count("PUT /v2/app/hello/blobs/"), patches_before);
    EXPECT_EQ(count("POST "), 2u);  // uploads started by the first push only
}

TEST_F(PushTest, CrossRepositoryMount) {
    START_OR_SKIP(server);
    const LocalImage local = layout_image("mount", "mounted\n");
    Client client(fast_options());
    client.push_image({via_proxy("team/base:v1")}, local.image, local.lookup());
    const PushedImage pushed = client.push_image({via_proxy("team/app:v1")}, local.image,
                                                 local.lookup(via_proxy("team/base")));
    EXPECT_EQ(pushed.mounted, 2u);
    EXPECT_EQ(pushed.uploaded, 0u);
    EXPECT_EQ(count("POST /v2/team/app/blobs/uploads/?mount="), 2u);
    EXPECT_EQ(count("PUT /v2/team/app/blobs/"), 0u);
    for (const auto& blob : local.image.blobs) EXPECT_TRUE(client.blob_exists(via_proxy("team/app"), blob.digest));
    EXPECT_EQ(client.fetch_manifest(via_proxy("team/app:v1")).digest, pushed.digest);
}

TEST_F(PushTest, LargeBlobGoesUpInPatchChunks) {
    START_OR_SKIP(server);
    const LocalImage local = large_image(40 << 20);
    ClientOptions options = fast_options();
    options.monolithic_upload_limit = 1 << 20;
    options.upload_chunk_size = 8 << 20;
    Client client(options);
    client.push_image({via_proxy("big/blob:v1")}, local.image, local.lookup(), 2);
    std::vector<std::string> patches;
    for (const auto& line : log())
        if (line.rfind("PATCH ", 0) == 0) patches.push_back(line.substr(line.rfind(' ') + 1));
    ASSERT_EQ(patches.size(), 5u) << testing::PrintToString(log());
    EXPECT_EQ(patches[0], "0-8388607");
    EXPECT_EQ(patches[4], "33554432-41943039");
    // The registry's copy is whole: fetch it back and let the client verify digest and size.
    struct Counter : ByteSink {
        using ByteSink::write;
        void write(std::span<const std::byte> bytes) override { size += bytes.size(); }
        std::size_t size = 0;
    } counter;
    const Descriptor& layer = local.image.blobs[1];
    client.fetch_blob(via_proxy("big/blob"), layer, counter);
    EXPECT_EQ(counter.size, std::size_t{40} << 20);
}

TEST_F(PushTest, UploadCutMidPatchStillCompletes) {
    START_OR_SKIP(server);
    const LocalImage local = large_image(12 << 20);
    ClientOptions options = fast_options();
    options.retry.attempts = 4;
    options.monolithic_upload_limit = 1 << 20;
    options.upload_chunk_size = 4 << 20;
    Client client(options);
    // The second PATCH reaches the registry half-sent, then both connections close.
    proxy->add_rule({.fault = test::Fault::cut_request_body, .method = "PATCH", .path_contains = "/v2/cut/blob/",
                     .skip = 1, .times = 1, .bytes = 2 << 20});
    const PushedImage pushed = client.push_image({via_proxy("cut/blob:v1")}, local.image, local.lookup(), 1);
    EXPECT_EQ(pushed.uploaded, 2u);
    // After the cut the client asked the registry where the upload stood. Distribution 2.8
    // cancels an upload whose stored size no longer matches its signed `_state`, so here the
    // answer is 404 and the client starts that blob over (fault_test resumes one for real).
    EXPECT_EQ(count("GET /v2/cut/blob/blobs/uploads/"), 1u) << testing::PrintToString(log());
    EXPECT_EQ(client.fetch_manifest(via_proxy("cut/blob:v1")).digest, pushed.digest);
    struct Hasher : ByteSink {
        using ByteSink::write;
        void write(std::span<const std::byte> bytes) override { size += bytes.size(); }
        std::size_t size = 0;
    } sink;
    client.fetch_blob(via_proxy("cut/blob"), local.image.blobs[1], sink);  // digest verified while streaming
    EXPECT_EQ(sink.size, std::size_t{12} << 20);
}

TEST_F(PushTest, BasicAuthPushAndWrongPassword) {
    const std::string password = "s3cret-Pa55";
    START_OR_SKIP(server, RegistryServer::Options{.username = "alice", .password = password});
    const LocalImage local = layout_image("auth", "private\n");
    auto credentials = [&](const std::string& secret) {
        ClientOptions options = fast_options();
        options.credentials = std::make_shared<StaticCredentials>(std::map<std::string, Credential>{
            {proxy->host(), Credential{.username = "alice", .password = secret}}});
        return options;
    };
    Client client(credentials(password));
    EXPECT_NO_THROW(client.ping(proxy->host()));
    const PushedImage pushed = client.push_image({via_proxy("private/app:v1")}, local.image, local.lookup());
    const auto inspect = test::run_command("skopeo inspect --tls-verify=false --creds alice:" + password +
                                           " docker://" + server->host() + "/private/app:v1");
    ASSERT_EQ(inspect.status, 0) << inspect.output;
    EXPECT_EQ(nlohmann::json::parse(inspect.output).at("Digest"), pushed.digest.to_string());

    const std::string wrong_password = "wrong-Pa55word";
    Client wrong(credentials(wrong_password));
    try {
        wrong.push_image({via_proxy("private/other:v1")}, local.image, local.lookup());
        FAIL() << "expected an auth error";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_EQ(error.status(), 401);
        EXPECT_NE(message.find("private/other@sha256:"), std::string::npos) << message;
        EXPECT_NE(message.find("unauthorized"), std::string::npos) << message;
        EXPECT_EQ(message.find(wrong_password), std::string::npos) << message;
    }
    try {
        wrong.ping(proxy->host());
        FAIL() << "expected an auth error";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("unauthorized"), std::string::npos) << error.what();
    }
    EXPECT_EQ(count("PUT /v2/private/other/"), 0u);
}

TEST_F(PushTest, ManifestIsNeverPutWhenABlobIsMissing) {
    START_OR_SKIP(server);
    LocalImage local = layout_image("missing", "incomplete\n");
    const std::string layer = local.image.blobs[0].digest.to_string();
    local.files.erase(layer);  // no local source, and the registry does not have it
    Client client(fast_options());
    try {
        client.push_image({via_proxy("app/missing:v1")}, local.image, local.lookup());
        FAIL() << "expected a missing blob";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find(layer), std::string::npos) << error.what();
    }
    // A manifest naming a blob that is not in the push list is refused before any request.
    ImageToPush unlisted = local.image;
    unlisted.blobs.pop_back();
    EXPECT_THROW(client.push_image({via_proxy("app/missing:v2")}, unlisted, local.lookup()), RegistryError);
    EXPECT_EQ(count("PUT /v2/app/missing/manifests/"), 0u);
    try {
        client.fetch_manifest(via_proxy("app/missing:v1"));
        FAIL() << "the manifest must not exist";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 404);
    }
}

}  // namespace
}  // namespace cbuild::registry
