// The registry client against the real distribution registry (htpasswd auth) behind the fault
// proxy (tests/support/fault_proxy.h): a blob cut mid-body resumed with Range, 500s and a 429
// retried, an upload cut mid-PATCH resumed from the registry's offset, a redirect to another
// host that never sees the credentials, a corrupted blob and an oversized manifest refused.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "registry/client.h"
#include "registry/internal/wire.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
using test::Fault;
using test::FaultProxy;
using test::FaultRule;
using test::ProxiedRequest;
using test::RegistryServer;
using test::StringSink;

constexpr char k_user[] = "alice";
constexpr char k_password[] = "fault-Pa55word";

// Bytes that gzip cannot shrink (xorshift), so a layer holding them is about as large.
std::string incompressible(std::size_t size, std::uint64_t seed) {
    std::string bytes(size, '\0');
    for (char& byte : bytes) {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        byte = static_cast<char>(seed & 0xff);
    }
    return bytes;
}

class FaultTest : public ::testing::Test {
protected:
    void SetUp() override {
        const RegistryServer::Options options{.username = k_user, .password = k_password};
        if (auto missing = RegistryServer::missing_tool(options)) {
            if (test::in_ci()) FAIL() << "missing " << *missing << " (scripts/install-deps installs it)";
            GTEST_SKIP() << "missing " << *missing;
        }
        server = std::make_unique<RegistryServer>(options);
        proxy = std::make_unique<FaultProxy>(FaultProxy::Options{
            .upstream_host = server->host(),
            .upstream_authorization = "Basic " + internal::base64_encode(std::string(k_user) + ":" + k_password)});
    }

    // Seeds REPO:TAG with a one-layer image whose layer is about `layer_size` bytes.
    test::LayoutBlob seed(const std::string& repo_tag, std::size_t layer_size) {
        const fs::path dir = m_dir.path() / ("layout-" + std::to_string(m_layouts++));
        test::OciLayoutWriter layout(dir);
        const auto manifest = layout.add_image(incompressible(layer_size, 0x9e3779b97f4a7c15ULL + layer_size));
        layer = layout.last_layer();
        layer_bytes = test::read_file(dir / "blobs/sha256" / Digest::parse(layer.digest).hex());
        layout.tag(manifest, "seed");
        server->push_layout(dir, "seed", repo_tag);
        return manifest;
    }

    ClientOptions options() const {
        ClientOptions options;
        options.retry = {.attempts = 4, .initial_delay = std::chrono::milliseconds(10),
                         .max_delay = std::chrono::milliseconds(40), .max_retry_after = std::chrono::seconds(2)};
        options.credentials = std::make_shared<StaticCredentials>(std::map<std::string, Credential>{
            {proxy->host(), Credential{.username = k_user, .password = k_password}}});
        return options;
    }

    // A client that has already logged in (Basic is cached per host), so the rules below see
    // no 401 challenges.
    std::unique_ptr<Client> client(ClientOptions client_options) const {
        auto client = std::make_unique<Client>(std::move(client_options));
        client->ping(proxy->host());
        return client;
    }

    Reference via_proxy(const std::string& rest) const { return Reference::parse(proxy->host() + "/" + rest); }

    std::string layer_path(const std::string& repository) const { return "/v2/" + repository + "/blobs/" + layer.digest; }

    void expect_pull_fails_leaving_nothing(const std::string& repository, const test::LayoutBlob& manifest,
                                           const std::string& expected);

    test::TempDir m_dir;
    int m_layouts = 0;
    test::LayoutBlob layer;
    std::string layer_bytes;
    std::unique_ptr<RegistryServer> server;
    std::unique_ptr<FaultProxy> proxy;
};

TEST_F(FaultTest, BlobCutMidBodyIsResumedWithRange) {
    seed("app/cut:v1", 600 << 10);
    ASSERT_GT(layer.size, 300000);
    // Cut twice: after 100000 bytes of the first answer, and 100000 bytes into the resumed one.
    proxy->add_rule({.fault = Fault::cut_response_body, .method = "GET", .path_contains = layer_path("app/cut"),
                     .times = 2, .bytes = 100000});
    const auto client = this->client(options());
    StringSink sink;
    client->fetch_blob(via_proxy("app/cut"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sink.bytes(), layer_bytes);

    const auto gets = proxy->requests("GET", layer_path("app/cut"));
    std::vector<std::pair<std::string, long>> seen;
    for (const auto& request : gets) seen.emplace_back(request.range, request.status);
    const std::vector<std::pair<std::string, long>> expected = {
        {"", 200}, {"bytes=100000-", 206}, {"bytes=200000-", 206}};
    ASSERT_EQ(seen, expected) << testing::PrintToString(seen);
    EXPECT_EQ(gets[0].response_body_bytes, 100000u);
    EXPECT_EQ(gets[1].response_body_bytes, 100000u);
    EXPECT_EQ(gets[2].response_body_bytes, static_cast<std::uint64_t>(layer.size) - 200000);
}

TEST_F(FaultTest, BlobCutMoreOftenThanTheAttemptsIsATemporaryError) {
    seed("app/flaky:v1", 200 << 10);
    proxy->add_rule({.fault = Fault::cut_response_body, .method = "GET", .path_contains = layer_path("app/flaky"),
                     .times = -1, .bytes = 1000});
    const auto client = this->client(options());
    StringSink sink;
    try {
        client->fetch_blob(via_proxy("app/flaky"), Digest::parse(layer.digest), layer.size, sink);
        FAIL() << "expected the blob to fail";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_TRUE(error.temporary()) << message;
        EXPECT_NE(message.find("app/flaky@" + layer.digest), std::string::npos) << message;
        EXPECT_NE(message.find("giving up after 4 failures"), std::string::npos) << message;
        EXPECT_EQ(message.find(k_password), std::string::npos) << message;
    }
    // Four answers were cut, each 1000 bytes further on: nothing was received twice.
    EXPECT_EQ(sink.bytes(), layer_bytes.substr(0, 4000));
}

TEST_F(FaultTest, ServerErrorsOnTheFirstTwoTriesAreRetried) {
    const auto manifest = seed("app/five:v1", 1000);
    proxy->add_rule({.fault = Fault::answer_status, .method = "GET", .path_contains = "/v2/app/five/manifests/",
                     .times = 2, .status = 500});
    proxy->add_rule({.fault = Fault::answer_status, .method = "GET", .path_contains = layer_path("app/five"),
                     .times = 2, .status = 503});
    const auto client = this->client(options());
    EXPECT_EQ(client->fetch_manifest(via_proxy("app/five:v1")).digest.to_string(), manifest.digest);
    StringSink sink;
    client->fetch_blob(via_proxy("app/five"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sink.bytes(), layer_bytes);

    std::vector<long> manifest_statuses, blob_statuses;
    for (const auto& request : proxy->requests("GET", "/v2/app/five/manifests/")) manifest_statuses.push_back(request.status);
    for (const auto& request : proxy->requests("GET", layer_path("app/five"))) blob_statuses.push_back(request.status);
    EXPECT_EQ(manifest_statuses, (std::vector<long>{500, 500, 200}));
    EXPECT_EQ(blob_statuses, (std::vector<long>{503, 503, 200}));
}

TEST_F(FaultTest, TooManyRequestsWithRetryAfterIsRetried) {
    const auto manifest = seed("app/busy:v1", 1000);
    proxy->add_rule({.fault = Fault::answer_status, .method = "GET", .path_contains = "/v2/app/busy/manifests/",
                     .times = 1, .status = 429, .retry_after_seconds = 1});
    const auto client = this->client(options());
    EXPECT_EQ(client->fetch_manifest(via_proxy("app/busy:v1")).digest.to_string(), manifest.digest);
    const auto gets = proxy->requests("GET", "/v2/app/busy/manifests/");
    ASSERT_EQ(gets.size(), 2u);
    EXPECT_EQ(gets[0].status, 429);
    EXPECT_EQ(gets[0].fault, Fault::answer_status);
    EXPECT_EQ(gets[1].status, 200);

    // Answered 429 every time: a temporary error with the registry's code, after the attempts.
    proxy->add_rule({.fault = Fault::answer_status, .method = "GET", .path_contains = "/v2/app/busy/manifests/",
                     .times = -1, .status = 429, .retry_after_seconds = 0});
    try {
        client->fetch_manifest(via_proxy("app/busy:v1"));
        FAIL() << "expected too many requests";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 429);
        EXPECT_TRUE(error.temporary());
        EXPECT_EQ(error.codes(), std::vector<std::string>{"TOOMANYREQUESTS"});
        EXPECT_NE(std::string(error.what()).find("app/busy:v1`"), std::string::npos) << error.what();
    }
}

TEST_F(FaultTest, RedirectTargetNeverSeesTheCredentials) {
    seed("app/moved:v1", 50000);
    proxy->add_rule({.fault = Fault::redirect, .method = "GET", .path_contains = layer_path("app/moved"), .times = -1});
    const auto client = this->client(options());
    StringSink sink;
    client->fetch_blob(via_proxy("app/moved"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sink.bytes(), layer_bytes);

    std::size_t served = 0;
    for (const auto& request : proxy->log()) {
        if (request.listener != ProxiedRequest::Listener::redirect) continue;
        ++served;
        EXPECT_FALSE(request.authorization) << request.method << " " << request.target;
        EXPECT_EQ(request.status, 200);
        EXPECT_EQ(request.target, layer_path("app/moved"));
    }
    EXPECT_EQ(served, 1u);
    // The registry itself got the credentials, for the request it redirected.
    const auto redirected = proxy->requests("GET", layer_path("app/moved"));
    ASSERT_FALSE(redirected.empty());
    EXPECT_TRUE(redirected.back().authorization);
    EXPECT_EQ(redirected.back().status, 307);
}

TEST_F(FaultTest, RedirectedBlobCutMidBodyResumesThroughTheRegistry) {
    seed("app/far:v1", 300 << 10);
    proxy->add_rule({.fault = Fault::cut_response_body, .method = "GET", .path_contains = layer_path("app/far"),
                     .times = 1, .bytes = 50000});
    proxy->add_rule({.fault = Fault::redirect, .method = "GET", .path_contains = layer_path("app/far"), .times = -1});
    const auto client = this->client(options());
    StringSink sink;
    client->fetch_blob(via_proxy("app/far"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sink.bytes(), layer_bytes);
    std::vector<std::string> redirect_ranges;
    for (const auto& request : proxy->log())
        if (request.listener == ProxiedRequest::Listener::redirect) {
            redirect_ranges.push_back(request.range);
            EXPECT_FALSE(request.authorization);
        }
    // The cut came from the registry (before any redirect); the resumed GET was redirected with
    // its Range, and the storage host answered it.
    EXPECT_EQ(redirect_ranges, std::vector<std::string>{"bytes=50000-"});
}

TEST_F(FaultTest, CorruptedBlobIsADigestMismatchNamingTheReference) {
    seed("app/bad:v1", 20000);
    proxy->add_rule({.fault = Fault::corrupt_response_body, .method = "GET", .path_contains = layer_path("app/bad"),
                     .times = -1, .bytes = 12345});
    const auto client = this->client(options());
    StringSink sink;
    try {
        client->fetch_blob(via_proxy("app/bad"), Digest::parse(layer.digest), layer.size, sink);
        FAIL() << "expected a digest mismatch";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("`" + proxy->host() + "/app/bad@" + layer.digest + "`"), std::string::npos) << message;
        EXPECT_NE(message.find("does not match its digest"), std::string::npos) << message;
        EXPECT_FALSE(error.temporary());
    }
    // Not retried: the registry's bytes are what they are.
    const auto gets = proxy->requests("GET", layer_path("app/bad"));
    ASSERT_EQ(gets.size(), 1u);
    EXPECT_EQ(gets[0].fault, Fault::corrupt_response_body);
}

// `cbuild pull` of `repository`:v1 through the proxy, which must fail with `expected` in its
// output and leave nothing of the image in the store.
void FaultTest::expect_pull_fails_leaving_nothing(const std::string& repository, const test::LayoutBlob& manifest,
                                                  const std::string& expected) {
    const fs::path config = m_dir.path() / "docker";
    test::write_file(config / "config.json",
                     nlohmann::json{{"auths",
                                     {{proxy->host(),
                                       {{"auth", internal::base64_encode(std::string(k_user) + ":" + k_password)}}}}}}
                         .dump());
    const fs::path store = m_dir.path() / "store";
    const auto pulled = test::run_command("DOCKER_CONFIG=" + test::shell_quote(config.string()) + " " +
                                          test::shell_quote(test::cbuild_binary().string()) + " --root " +
                                          test::shell_quote(store.string()) + " pull " + proxy->host() + "/" +
                                          repository + ":v1");
    EXPECT_EQ(pulled.status, 1) << pulled.output;
    EXPECT_NE(pulled.output.find("`" + proxy->host() + "/" + repository + "@" + layer.digest + "`"), std::string::npos)
        << pulled.output;
    EXPECT_NE(pulled.output.find(expected), std::string::npos) << pulled.output;
    EXPECT_EQ(pulled.output.find(k_password), std::string::npos) << pulled.output;
    // No blob of the layer, no manifest, no tag, no half-written file anywhere in the store.
    std::vector<std::string> files;
    if (fs::exists(store))
        for (const auto& entry : fs::recursive_directory_iterator(store))
            if (entry.is_regular_file()) files.push_back(fs::relative(entry.path(), store).string());
    for (const auto& file : files) {
        EXPECT_EQ(file.find(Digest::parse(layer.digest).hex()), std::string::npos) << file;
        EXPECT_EQ(file.find(Digest::parse(manifest.digest).hex()), std::string::npos) << file;
        // The layout's own files (cache/content_store.h), and nothing under ingest/.
        EXPECT_TRUE(file == "index.json" || file == "index.lock" || file == "oci-layout" ||
                    file.starts_with("blobs/sha256/"))
            << "left behind: " << file;
    }
    if (fs::exists(store / "index.json")) {
        EXPECT_EQ(test::read_file(store / "index.json").find(repository), std::string::npos);
    }
}

TEST_F(FaultTest, CorruptedBlobLeavesNothingInTheStore) {
    const auto manifest = seed("app/store:v1", 20000);
    proxy->add_rule({.fault = Fault::corrupt_response_body, .method = "GET", .path_contains = layer_path("app/store"),
                     .times = -1, .bytes = 100});
    expect_pull_fails_leaving_nothing("app/store", manifest, "does not match its digest");
}

TEST_F(FaultTest, BlobCutOnEveryAttemptLeavesNothingInTheStore) {
    const auto manifest = seed("app/gone:v1", 200 << 10);
    proxy->add_rule({.fault = Fault::cut_response_body, .method = "GET", .path_contains = layer_path("app/gone"),
                     .times = -1, .bytes = 30000});
    expect_pull_fails_leaving_nothing("app/gone", manifest, "giving up after");
}

TEST_F(FaultTest, ManifestOverFourMebibytesIsRefused) {
    seed("app/huge:v1", 1000);
    proxy->add_rule({.fault = Fault::replace_response_body, .method = "GET", .path_contains = "/v2/app/huge/manifests/",
                     .times = -1, .body = std::string(k_max_manifest_size + 1, ' ')});
    const auto client = this->client(options());
    try {
        client->fetch_manifest(via_proxy("app/huge:v1"));
        FAIL() << "expected an oversized manifest";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("`" + proxy->host() + "/app/huge:v1`"), std::string::npos) << message;
        EXPECT_NE(message.find("larger than the 4 MiB limit"), std::string::npos) << message;
        EXPECT_FALSE(error.temporary());
    }
    const auto gets = proxy->requests("GET", "/v2/app/huge/manifests/");
    ASSERT_FALSE(gets.empty());
    EXPECT_EQ(gets.back().fault, Fault::replace_response_body);

    // Nor is one pushed: refused before any request.
    const std::size_t before = proxy->log().size();
    try {
        client->push_manifest(via_proxy("app/huge:v2"), k_oci_manifest, std::string(k_max_manifest_size + 1, ' '));
        FAIL() << "expected an oversized manifest";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("larger than the 4 MiB limit"), std::string::npos) << error.what();
    }
    EXPECT_EQ(proxy->log().size(), before);
}

// A 12 MiB blob pushed in 4 MiB PATCH chunks through the proxy.
struct ChunkedPush {
    std::string blob;
    Descriptor descriptor;

    explicit ChunkedPush(std::uint64_t seed)
        : blob(incompressible(12 << 20, seed)),
          descriptor{.media_type = "application/octet-stream", .digest = sha256_of(blob),
                     .size = static_cast<std::int64_t>(blob.size())} {}
};

TEST_F(FaultTest, UploadCutMidPatchResumesFromTheRegistrysOffset) {
    const ChunkedPush push(42);
    // The second PATCH is cut while the client is sending it, before any of its bytes reach the
    // registry: the registry still holds the first chunk, as its signed upload state says.
    proxy->add_rule({.fault = Fault::cut_request_body, .method = "PATCH", .path_contains = "/v2/app/up/blobs/uploads/",
                     .skip = 1, .times = 1, .bytes = 0});
    ClientOptions client_options = options();
    client_options.monolithic_upload_limit = 1 << 20;
    client_options.upload_chunk_size = 4 << 20;
    const auto client = this->client(client_options);
    EXPECT_EQ(client->push_blob(via_proxy("app/up"), push.descriptor, BlobSource::bytes(push.blob)),
              BlobPush::uploaded);

    const auto patches = proxy->requests("PATCH", "/v2/app/up/blobs/uploads/");
    std::vector<std::string> ranges;
    for (const auto& patch : patches) ranges.push_back(patch.content_range);
    ASSERT_EQ(ranges, (std::vector<std::string>{"0-4194303", "4194304-8388607", "4194304-8388607",
                                                "8388608-12582911"}));
    EXPECT_EQ(patches[1].fault, Fault::cut_request_body);
    EXPECT_EQ(patches[1].status, 0);  // the client never got an answer
    // After the cut the client asked the registry where the upload stood, and went on from there.
    const auto asked = proxy->requests("GET", "/v2/app/up/blobs/uploads/");
    ASSERT_EQ(asked.size(), 1u);
    EXPECT_EQ(asked[0].status, 204);
    // The first chunk went up once; everything from the registry's offset on, once more.
    EXPECT_EQ(patches[0].request_body_bytes, 4u << 20);
    EXPECT_EQ(patches[2].request_body_bytes + patches[3].request_body_bytes, 8u << 20);
    EXPECT_EQ(proxy->requests("POST", "/v2/app/up/blobs/uploads/").size(), 1u) << "the upload was not restarted";

    StringSink sink;
    client->fetch_blob(via_proxy("app/up"), push.descriptor, sink);
    EXPECT_EQ(sink.bytes(), push.blob);
}

TEST_F(FaultTest, UploadCutAfterTheRegistryStoredPartOfAPatchStartsOver) {
    const ChunkedPush push(43);
    // 3 MiB of the first 4 MiB PATCH reach the registry. Distribution 2.8 then refuses the
    // upload (its stored size no longer matches the signed `_state` the client holds) and
    // cancels it: the client has to start a new one.
    proxy->add_rule({.fault = Fault::cut_request_body, .method = "PATCH", .path_contains = "/v2/app/over/blobs/uploads/",
                     .times = 1, .bytes = 3 << 20});
    ClientOptions client_options = options();
    client_options.monolithic_upload_limit = 1 << 20;
    client_options.upload_chunk_size = 4 << 20;
    const auto client = this->client(client_options);
    EXPECT_EQ(client->push_blob(via_proxy("app/over"), push.descriptor, BlobSource::bytes(push.blob)),
              BlobPush::uploaded);
    const auto patches = proxy->requests("PATCH", "/v2/app/over/blobs/uploads/");
    ASSERT_FALSE(patches.empty());
    EXPECT_EQ(patches[0].request_body_bytes, 3u << 20);
    const auto asked = proxy->requests("GET", "/v2/app/over/blobs/uploads/");
    ASSERT_EQ(asked.size(), 1u);
    EXPECT_EQ(asked[0].status, 404);
    EXPECT_EQ(proxy->requests("POST", "/v2/app/over/blobs/uploads/").size(), 2u);
    StringSink sink;
    client->fetch_blob(via_proxy("app/over"), push.descriptor, sink);
    EXPECT_EQ(sink.bytes(), push.blob);
}

}  // namespace
}  // namespace cbuild::registry
