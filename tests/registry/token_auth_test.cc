// Bearer token auth against the real distribution registry in `auth: token` mode, with the
// test token issuer signing real RS256 JWTs (x5c header) that the registry verifies: anonymous
// pull, push only with the right password (as Docker Hub and Harbor behave).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>

#include "registry/client.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/registry_server.h"
#include "tests/support/temp_dir.h"
#include "tests/support/token_issuer.h"

namespace cbuild::registry {
namespace {

using test::RegistryServer;
using test::TokenIssuer;

using test::StringSink;

using test::in_ci;

class TokenAuthTest : public ::testing::Test {
protected:
    // The issuer for `username`/`password` and a registry trusting it (or trusting
    // `trusted_cert` instead); false after a missing-tool skip (a failure under CI=true).
    bool start(const std::string& username, const std::string& password,
               std::optional<std::filesystem::path> trusted_cert = std::nullopt) {
        return start_issuer(TokenIssuer::Options{.username = username, .password = password}, trusted_cert);
    }

    bool start_issuer(const TokenIssuer::Options& issuer_options,
                      std::optional<std::filesystem::path> trusted_cert = std::nullopt) {
        RegistryServer::Options options{.username = issuer_options.username, .password = issuer_options.password};
        issuer = std::make_unique<TokenIssuer>(issuer_options);
        options.token = issuer->registry_config();
        if (trusted_cert) options.token->root_cert_bundle = *trusted_cert;
        if (auto missing = RegistryServer::missing_tool(options)) {
            if (in_ci()) ADD_FAILURE() << "missing " << *missing << " (scripts/install-deps installs it)";
            return false;
        }
        server = std::make_unique<RegistryServer>(options);
        return true;
    }

    // Writes a one-layer image into a fresh layout; returns its manifest.
    test::LayoutBlob image(const std::string& content) {
        test::OciLayoutWriter layout(layout_dir());
        const auto manifest = layout.add_image(content);
        layer = layout.last_layer();
        layout.tag(manifest, "seed");
        return manifest;
    }

    std::filesystem::path layout_dir() const { return m_dir.path() / "layout"; }

    Reference ref(const std::string& rest) const { return Reference::parse(server->host() + "/" + rest); }

    ClientOptions options_for(const std::optional<Credential>& credential) const {
        ClientOptions options;
        options.retry = {.attempts = 2, .initial_delay = std::chrono::milliseconds(10),
                         .max_delay = std::chrono::milliseconds(20), .max_retry_after = std::chrono::milliseconds(20)};
        if (credential)
            options.credentials =
                std::make_shared<StaticCredentials>(std::map<std::string, Credential>{{server->host(), *credential}});
        return options;
    }

    // The image image() wrote, as push_image takes it.
    ImageToPush image_to_push(const test::LayoutBlob& manifest) const {
        ImageToPush push{.media_type = manifest.media_type,
                         .manifest = test::read_file(blob_file(manifest.digest)),
                         .blobs = {}};
        const ImageManifest parsed = parse_manifest(push.manifest);
        push.blobs = parsed.layers;
        push.blobs.push_back(parsed.config);
        return push;
    }
    BlobLookup layout_lookup() const {
        return [this](const Descriptor& descriptor) -> std::optional<BlobSource> {
            return BlobSource::file(blob_file(descriptor.digest.to_string()));
        };
    }
    std::filesystem::path blob_file(const std::string& digest) const {
        return layout_dir() / "blobs/sha256" / Digest::parse(digest).hex();
    }

    // A docker config.json whose login for the registry is `entry`; the client reading it.
    ClientOptions options_from_config(const nlohmann::json& config) const {
        test::write_file(m_dir.path() / "docker/config.json", config.dump());
        ClientOptions options = options_for(std::nullopt);
        options.credentials = std::make_shared<DockerConfigCredentials>(m_dir.path() / "docker/config.json");
        return options;
    }

    test::TempDir m_dir;
    test::LayoutBlob layer;
    std::unique_ptr<TokenIssuer> issuer;
    std::unique_ptr<RegistryServer> server;
};

#define START_OR_SKIP(...) \
    if (!start(__VA_ARGS__)) GTEST_SKIP() << "docker-registry or skopeo is missing"

#define START_ISSUER_OR_SKIP(...) \
    if (!start_issuer(__VA_ARGS__)) GTEST_SKIP() << "docker-registry or skopeo is missing"

TEST_F(TokenAuthTest, AnonymousPullFetchesOneTokenPerScope) {
    START_OR_SKIP("alice", "s3cret-Pa55");
    const auto manifest = image("anonymous\n");
    server->push_layout(layout_dir(), "seed", "app/hello:v1");
    const std::size_t before = issuer->requests().size();

    Client client(options_for(std::nullopt));
    EXPECT_EQ(client.fetch_manifest(ref("app/hello:v1")).digest.to_string(), manifest.digest);
    StringSink sink;
    client.fetch_blob(ref("app/hello"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sha256_of(sink.bytes()).to_string(), layer.digest);
    EXPECT_TRUE(client.blob_exists(ref("app/hello"), Digest::parse(layer.digest)));

    // Three requests to the registry, one token: it is cached for the scope.
    const auto requests = issuer->requests();
    ASSERT_EQ(requests.size(), before + 1);
    EXPECT_EQ(requests.back().username, "");
    EXPECT_EQ(requests.back().status, 200);
    EXPECT_EQ(requests.back().scopes, std::vector<std::string>{"repository:app/hello:pull"});
    EXPECT_EQ(requests.back().granted, std::vector<std::string>{"repository:app/hello:pull"});

    // Another repository is another scope, so another token.
    server->push_layout(layout_dir(), "seed", "app/other:v1");
    const int other_before = issuer->requests_for("repository:app/other:pull");
    client.fetch_manifest(ref("app/other:v1"));
    client.fetch_manifest(ref("app/other:v1"));
    EXPECT_EQ(issuer->requests_for("repository:app/other:pull"), other_before + 1);
}

TEST_F(TokenAuthTest, RightPasswordPulls) {
    START_OR_SKIP("alice", "s3cret-Pa55");
    const auto manifest = image("with a password\n");
    server->push_layout(layout_dir(), "seed", "private/app:v1");
    Client client(options_for(Credential{.username = "alice", .password = "s3cret-Pa55"}));
    EXPECT_EQ(client.fetch_manifest(ref("private/app:v1")).digest.to_string(), manifest.digest);
    ASSERT_FALSE(issuer->requests().empty());
    EXPECT_EQ(issuer->requests().back().username, "alice");
    EXPECT_EQ(issuer->requests().back().status, 200);
}

TEST_F(TokenAuthTest, WrongPasswordFailsNamingTheReference) {
    START_OR_SKIP("alice", "s3cret-Pa55");
    image("wrong password\n");
    server->push_layout(layout_dir(), "seed", "private/app:v1");
    const std::string wrong_password = "not-the-Pa55word";
    Client client(options_for(Credential{.username = "alice", .password = wrong_password}));
    try {
        client.fetch_manifest(ref("private/app:v1"));
        FAIL() << "expected an auth error";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_EQ(error.status(), 401);
        EXPECT_NE(message.find("private/app:v1`"), std::string::npos) << message;
        EXPECT_EQ(message.find(wrong_password), std::string::npos) << message;
        EXPECT_FALSE(error.temporary());
    }
    ASSERT_FALSE(issuer->requests().empty());
    EXPECT_EQ(issuer->requests().back().status, 401);
}

TEST_F(TokenAuthTest, PushNeedsThePassword) {
    START_OR_SKIP("alice", "s3cret-Pa55");
    const auto manifest = image("push\n");
    try {
        server->push_layout_as(std::nullopt, layout_dir(), "seed", "app/pushed:v1");
        FAIL() << "an anonymous push was accepted";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_TRUE(message.find("denied") != std::string::npos || message.find("unauthorized") != std::string::npos)
            << message;
    }
    // The anonymous attempt got a pull-only token.
    const auto requests = issuer->requests();
    EXPECT_TRUE(std::any_of(requests.begin(), requests.end(), [](const TokenIssuer::Request& request) {
        return request.username.empty() &&
               std::find(request.granted.begin(), request.granted.end(), "repository:app/pushed:pull") !=
                   request.granted.end();
    }));
    Client client(options_for(std::nullopt));
    EXPECT_THROW(client.fetch_manifest(ref("app/pushed:v1")), RegistryError);

    server->push_layout_as("alice:s3cret-Pa55", layout_dir(), "seed", "app/pushed:v1");
    EXPECT_EQ(client.fetch_manifest(ref("app/pushed:v1")).digest.to_string(), manifest.digest);
}

TEST_F(TokenAuthTest, HarborRobotAccountKeepsItsDollar) {
    const std::string robot = "robot$ci";
    START_OR_SKIP(robot, "Robot-Secret-1");
    const auto manifest = image("robot\n");
    server->push_layout_as(robot + ":Robot-Secret-1", layout_dir(), "seed", "project/app:v1");
    Client client(options_for(Credential{.username = robot, .password = "Robot-Secret-1"}));
    EXPECT_EQ(client.fetch_manifest(ref("project/app:v1")).digest.to_string(), manifest.digest);
    ASSERT_FALSE(issuer->requests().empty());
    const auto last = issuer->requests().back();
    EXPECT_EQ(last.username, robot);
    EXPECT_EQ(last.status, 200);
    // The issuer compares the whole name: "robot" alone (a lost `$ci`) is refused.
    Client truncated(options_for(Credential{.username = "robot", .password = "Robot-Secret-1"}));
    EXPECT_THROW(truncated.fetch_manifest(ref("project/app:v1")), RegistryError);
}

TEST_F(TokenAuthTest, TokenFromAnUntrustedKeyIsRefused) {
    TokenIssuer other(TokenIssuer::Options{});
    START_OR_SKIP("alice", "s3cret-Pa55", other.registry_config().root_cert_bundle);
    Client client(options_for(std::nullopt));
    std::string message;
    try {
        client.fetch_manifest(ref("app/hello:v1"));
        FAIL() << "a token signed by an untrusted key was accepted";
    } catch (const RegistryError& error) {
        message = error.what();
        EXPECT_EQ(error.status(), 401) << message;
    }
    // The token was issued; the registry refused it.
    const auto requests = issuer->requests();
    ASSERT_FALSE(requests.empty()) << message << "; the other issuer answered " << other.requests().size();
    EXPECT_EQ(requests.back().status, 200);
}

constexpr char k_identity_token[] = "refresh-0a1b2c3d-identity";

TEST_F(TokenAuthTest, IdentityTokenInDockerConfigPullsAndPushes) {
    START_ISSUER_OR_SKIP(
        TokenIssuer::Options{.username = "alice", .password = "s3cret-Pa55", .refresh_token = k_identity_token});
    const auto manifest = image("pushed with an identity token\n");
    // No username or password anywhere: only docker's `identitytoken`.
    Client client(options_from_config({{"auths", {{server->host(), {{"identitytoken", k_identity_token}}}}}}));
    const PushedImage pushed = client.push_image({ref("team/app:v1")}, image_to_push(manifest), layout_lookup());
    EXPECT_EQ(pushed.digest.to_string(), manifest.digest);
    EXPECT_EQ(pushed.uploaded, 2u);
    EXPECT_EQ(client.fetch_manifest(ref("team/app:v1")).digest.to_string(), manifest.digest);
    StringSink sink;
    client.fetch_blob(ref("team/app"), Digest::parse(layer.digest), layer.size, sink);
    EXPECT_EQ(sha256_of(sink.bytes()).to_string(), layer.digest);

    const auto requests = issuer->requests();
    ASSERT_FALSE(requests.empty());
    for (const auto& request : requests) {
        EXPECT_EQ(request.method, "POST");
        EXPECT_EQ(request.grant_type, "refresh_token");
        EXPECT_EQ(request.client_id, "cbuild");
        EXPECT_TRUE(request.refresh_token_sent);
        EXPECT_EQ(request.username, "alice");
        EXPECT_EQ(request.status, 200);
    }
    // All scopes in one space-separated `scope` (the registry's challenge adds its own).
    const auto& granted = requests.front().granted;
    EXPECT_NE(std::find(granted.begin(), granted.end(), "repository:team/app:pull,push"), granted.end())
        << testing::PrintToString(granted);
}

TEST_F(TokenAuthTest, IdentityTokenFromACredentialHelper) {
    START_ISSUER_OR_SKIP(
        TokenIssuer::Options{.username = "alice", .password = "s3cret-Pa55", .refresh_token = k_identity_token});
    const auto manifest = image("helper token\n");
    server->push_layout(layout_dir(), "seed", "private/app:v1");
    // docker's convention: the helper answers Username "<token>" and the identity token as Secret.
    const std::filesystem::path bin = m_dir.path() / "bin";
    test::write_file(bin / "docker-credential-tokens",
                     "#!/bin/sh\ncat >/dev/null\nprintf '%s' '{\"ServerURL\":\"" + server->host() +
                         "\",\"Username\":\"<token>\",\"Secret\":\"" + k_identity_token + "\"}'\n");
    std::filesystem::permissions(bin / "docker-credential-tokens", std::filesystem::perms::owner_all);
    const char* path = std::getenv("PATH");
    const std::string old_path = path ? path : "";
    setenv("PATH", (bin.string() + ":" + old_path).c_str(), 1);
    Client client(options_from_config({{"credHelpers", {{server->host(), "tokens"}}}}));
    const std::string digest = client.fetch_manifest(ref("private/app:v1")).digest.to_string();
    setenv("PATH", old_path.c_str(), 1);
    EXPECT_EQ(digest, manifest.digest);
    ASSERT_FALSE(issuer->requests().empty());
    EXPECT_EQ(issuer->requests().back().method, "POST");
    EXPECT_EQ(issuer->requests().back().status, 200);
}

TEST_F(TokenAuthTest, WrongIdentityTokenFailsNamingTheRegistry) {
    START_ISSUER_OR_SKIP(
        TokenIssuer::Options{.username = "alice", .password = "s3cret-Pa55", .refresh_token = k_identity_token});
    image("wrong token\n");
    server->push_layout(layout_dir(), "seed", "private/app:v1");
    const std::string wrong_token = "refresh-not-the-right-one";
    Client client(options_from_config({{"auths", {{server->host(), {{"identitytoken", wrong_token}}}}}}));
    try {
        client.fetch_manifest(ref("private/app:v1"));
        FAIL() << "expected the token server to refuse the identity token";
    } catch (const RegistryError& error) {
        const std::string message = error.what();
        EXPECT_EQ(error.status(), 401);
        EXPECT_FALSE(error.temporary());
        EXPECT_NE(message.find("refused the identity token for `" + server->host() + "`"), std::string::npos)
            << message;
        EXPECT_NE(message.find("private/app:v1`"), std::string::npos) << message;
        EXPECT_EQ(message.find(wrong_token), std::string::npos) << message;
        EXPECT_EQ(message.find(k_identity_token), std::string::npos) << message;
    }
    ASSERT_FALSE(issuer->requests().empty());
    EXPECT_EQ(issuer->requests().back().method, "POST");
    EXPECT_EQ(issuer->requests().back().status, 401);
}

TEST_F(TokenAuthTest, TokenServerWithoutThePostFlowIsAskedWithGet) {
    START_ISSUER_OR_SKIP(TokenIssuer::Options{
        .username = "alice", .password = "s3cret-Pa55", .refresh_token = k_identity_token, .oauth_post = false});
    const auto manifest = image("fallback\n");
    server->push_layout(layout_dir(), "seed", "app/public:v1");
    Client client(options_from_config({{"auths", {{server->host(), {{"identitytoken", k_identity_token}}}}}}));
    // The POST got 404; the GET flow has no password to send, so the pull goes anonymous.
    EXPECT_EQ(client.fetch_manifest(ref("app/public:v1")).digest.to_string(), manifest.digest);
    const auto requests = issuer->requests();
    ASSERT_FALSE(requests.empty());
    EXPECT_EQ(requests.back().method, "GET");
    EXPECT_EQ(requests.back().username, "");
    EXPECT_EQ(requests.back().granted, std::vector<std::string>{"repository:app/public:pull"});
}

}  // namespace
}  // namespace cbuild::registry
