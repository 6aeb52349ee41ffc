// Bearer token auth against the real distribution registry in `auth: token` mode, with the
// test token issuer signing real RS256 JWTs (x5c header) that the registry verifies: anonymous
// pull, push only with the right password (as Docker Hub and Harbor behave).

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include "registry/client.h"
#include "tests/support/ci.h"
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
        RegistryServer::Options options{.username = username, .password = password};
        issuer = std::make_unique<TokenIssuer>(TokenIssuer::Options{.username = username, .password = password});
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

    test::TempDir m_dir;
    test::LayoutBlob layer;
    std::unique_ptr<TokenIssuer> issuer;
    std::unique_ptr<RegistryServer> server;
};

#define START_OR_SKIP(...) \
    if (!start(__VA_ARGS__)) GTEST_SKIP() << "docker-registry or skopeo is missing"

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

}  // namespace
}  // namespace cbuild::registry
