// Pulls from the real distribution registry (Debian's docker-registry) over plain HTTP, HTTPS
// with a generated CA, and htpasswd basic auth; images are seeded with skopeo.

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "registry/client.h"
#include "tests/support/ci.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
using test::RegistryServer;

using test::StringSink;

using test::in_ci;

class PullTest : public ::testing::Test {
protected:
    // Starts a registry, or returns null after skipping (failing under CI=true) when a tool is missing.
    std::unique_ptr<RegistryServer> start(RegistryServer::Options options = {}) {
        if (auto missing = RegistryServer::missing_tool(options)) {
            if (in_ci()) ADD_FAILURE() << "missing " << *missing << " (scripts/install-deps installs it)";
            return nullptr;
        }
        return std::make_unique<RegistryServer>(options);
    }

    // Pushes a one-layer image as REPO:TAG; returns its manifest blob.
    test::LayoutBlob seed(const RegistryServer& server, const std::string& repo_tag, const std::string& content) {
        test::OciLayoutWriter layout(m_dir.path() / "layout");
        const auto manifest = layout.add_image(content);
        layer = layout.last_layer();
        layout.tag(manifest, "seed");
        server.push_layout(m_dir.path() / "layout", "seed", repo_tag);
        return manifest;
    }

    Reference ref(const RegistryServer& server, const std::string& rest) {
        return Reference::parse(server.host() + "/" + rest);
    }

    static ClientOptions fast_options() {
        ClientOptions options;
        options.retry = {.attempts = 2, .initial_delay = std::chrono::milliseconds(10),
                         .max_delay = std::chrono::milliseconds(20), .max_retry_after = std::chrono::milliseconds(20)};
        return options;
    }

    test::TempDir m_dir;
    test::LayoutBlob layer;
};

#define START_OR_SKIP(server, ...)                                  \
    auto server = start(__VA_ARGS__);                               \
    if (!server) GTEST_SKIP() << "docker-registry or skopeo is missing"

TEST_F(PullTest, ManifestByTagAndByDigestOverPlainHttp) {
    START_OR_SKIP(server);
    const auto manifest = seed(*server, "app/hello:v1", "hello\n");
    Client client(fast_options());
    const FetchedManifest by_tag = client.fetch_manifest(ref(*server, "app/hello:v1"));
    EXPECT_EQ(by_tag.media_type, k_oci_manifest);
    EXPECT_EQ(by_tag.digest.to_string(), manifest.digest);
    EXPECT_EQ(static_cast<long long>(by_tag.bytes.size()), manifest.size);
    const FetchedManifest by_digest = client.fetch_manifest(ref(*server, "app/hello@" + manifest.digest));
    EXPECT_EQ(by_digest.bytes, by_tag.bytes);
    EXPECT_EQ(parse_manifest(by_tag.bytes).layers.at(0).digest.to_string(), layer.digest);
}

TEST_F(PullTest, BlobIsStreamedAndVerified) {
    START_OR_SKIP(server);
    seed(*server, "app/hello:v1", "streamed content\n");
    Client client(fast_options());
    const Reference repository = ref(*server, "app/hello");
    StringSink sink;
    client.fetch_blob(repository, Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sha256_of(sink.bytes()).to_string(), layer.digest);
    EXPECT_TRUE(client.blob_exists(repository, Digest::parse(layer.digest)));
    EXPECT_FALSE(client.blob_exists(repository, sha256_of("not there")));
}

TEST_F(PullTest, TamperedBlobIsADigestMismatch) {
    START_OR_SKIP(server);
    seed(*server, "app/hello:v1", "original content\n");
    const fs::path data = server->blob_path(Digest::parse(layer.digest).hex());
    ASSERT_TRUE(fs::exists(data));
    std::string bytes = test::read_file(data);
    bytes[bytes.size() / 2] ^= 0x55;  // same size, different content
    std::ofstream(data, std::ios::binary | std::ios::trunc) << bytes;
    Client client(fast_options());
    StringSink sink;
    try {
        client.fetch_blob(ref(*server, "app/hello"), Digest::parse(layer.digest), layer.size, sink);
        FAIL() << "expected a digest mismatch";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("does not match its digest"), std::string::npos) << error.what();
        EXPECT_NE(std::string(error.what()).find(layer.digest), std::string::npos) << error.what();
        EXPECT_FALSE(error.temporary());
    }
}

TEST_F(PullTest, WrongSizeIsAnError) {
    START_OR_SKIP(server);
    seed(*server, "app/hello:v1", "sized\n");
    Client client(fast_options());
    StringSink sink;
    EXPECT_THROW(client.fetch_blob(ref(*server, "app/hello"), Digest::parse(layer.digest), layer.size - 1, sink),
                 RegistryError);
}

TEST_F(PullTest, MissingRepositoryAndTagAreClearErrors) {
    START_OR_SKIP(server);
    seed(*server, "app/hello:v1", "x\n");
    Client client(fast_options());
    try {
        client.fetch_manifest(ref(*server, "app/hello:nope"));
        FAIL() << "expected an error";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 404);
        EXPECT_EQ(error.codes(), std::vector<std::string>{"MANIFEST_UNKNOWN"});
        EXPECT_NE(std::string(error.what()).find("app/hello:nope`"), std::string::npos) << error.what();
        EXPECT_FALSE(error.temporary());
    }
    try {
        client.fetch_manifest(ref(*server, "no/such:v1"));
        FAIL() << "expected an error";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 404);
        // distribution 2.8 answers MANIFEST_UNKNOWN here; the spec also allows NAME_UNKNOWN.
        ASSERT_EQ(error.codes().size(), 1u);
        EXPECT_TRUE(error.codes()[0] == "NAME_UNKNOWN" || error.codes()[0] == "MANIFEST_UNKNOWN") << error.what();
        EXPECT_NE(std::string(error.what()).find("no/such:v1`"), std::string::npos) << error.what();
    }
}

TEST_F(PullTest, IndexResolvesToThePlatform) {
    START_OR_SKIP(server);
    test::OciLayoutWriter layout(m_dir.path() / "multi");
    const auto amd64 = layout.add_image("amd64\n", "amd64");
    const auto arm64 = layout.add_image("arm64\n", "arm64", "v8");
    const auto index = layout.add_index({{amd64, "amd64"}, {arm64, "arm64/v8"}});
    layout.tag(index, "multi");
    server->push_layout(m_dir.path() / "multi", "multi", "app/multi:v1", /*all=*/true);

    Client client(fast_options());
    const Reference reference = ref(*server, "app/multi:v1");
    EXPECT_EQ(client.fetch_manifest(reference).media_type, k_oci_index);
    // arm64 without a variant means v8 (Docker's default).
    const auto for_arm = client.fetch_manifest_for(reference, Platform{.architecture = "arm64", .os = "linux"});
    EXPECT_EQ(for_arm.digest.to_string(), arm64.digest);
    const auto for_amd = client.fetch_manifest_for(reference, Platform{.architecture = "amd64", .os = "linux"});
    EXPECT_EQ(for_amd.digest.to_string(), amd64.digest);
    try {
        client.fetch_manifest_for(reference, Platform{.architecture = "s390x", .os = "linux"});
        FAIL() << "expected no platform";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("linux/s390x"), std::string::npos) << error.what();
    }
}

TEST_F(PullTest, HttpsWithCaFromCertsDir) {
    START_OR_SKIP(server, RegistryServer::Options{.tls = true});
    const auto manifest = seed(*server, "secure/app:v1", "tls\n");
    const fs::path certs = m_dir.path() / "certs.d";
    fs::create_directories(certs / server->host());
    fs::copy_file(server->ca_cert(), certs / server->host() / "ca.crt");

    ClientOptions options = fast_options();
    options.certs_dir = certs;
    Client client(options);
    EXPECT_EQ(client.fetch_manifest(ref(*server, "secure/app:v1")).digest.to_string(), manifest.digest);

    // The same certs.d entry without the CA: the server's certificate is not trusted.
    fs::remove(certs / server->host() / "ca.crt");
    Client untrusting(options);
    EXPECT_THROW(untrusting.fetch_manifest(ref(*server, "secure/app:v1")), RegistryError);

    // Listed as insecure: TLS without verification.
    ClientOptions insecure = fast_options();
    insecure.certs_dir = m_dir.path() / "empty";
    insecure.insecure_registries = {server->host()};
    Client insecure_client(insecure);
    EXPECT_EQ(insecure_client.fetch_manifest(ref(*server, "secure/app:v1")).digest.to_string(), manifest.digest);
}

TEST_F(PullTest, BasicAuth) {
    const std::string password = "s3cret-Pa55";
    START_OR_SKIP(server, RegistryServer::Options{.username = "alice", .password = password});
    const auto manifest = seed(*server, "private/app:v1", "auth\n");

    ClientOptions right = fast_options();
    right.credentials = std::make_shared<StaticCredentials>(
        std::map<std::string, Credential>{{server->host(), Credential{.username = "alice", .password = password}}});
    Client client(right);
    EXPECT_EQ(client.fetch_manifest(ref(*server, "private/app:v1")).digest.to_string(), manifest.digest);
    StringSink sink;
    client.fetch_blob(ref(*server, "private/app"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(static_cast<long long>(sink.bytes().size()), layer.size);

    const std::string wrong_password = "wrong-Pa55word";
    ClientOptions wrong = fast_options();
    wrong.credentials = std::make_shared<StaticCredentials>(
        std::map<std::string, Credential>{{server->host(), Credential{.username = "alice", .password = wrong_password}}});
    Client wrong_client(wrong);
    try {
        wrong_client.fetch_manifest(ref(*server, "private/app:v1"));
        FAIL() << "expected an auth error";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_EQ(error.status(), 401);
        EXPECT_NE(message.find("private/app:v1`"), std::string::npos) << message;
        EXPECT_NE(message.find("unauthorized"), std::string::npos) << message;
        EXPECT_EQ(message.find(wrong_password), std::string::npos) << message;
        EXPECT_FALSE(error.temporary());
    }

    Client anonymous(fast_options());
    try {
        anonymous.fetch_manifest(ref(*server, "private/app:v1"));
        FAIL() << "expected an auth error";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("no credentials"), std::string::npos) << error.what();
    }
}

}  // namespace
}  // namespace cbuild::registry
