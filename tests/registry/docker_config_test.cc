// docker's config.json: lookups in `auths`, through credential helpers (a fake helper script
// the test writes, run for real over the helper protocol), and login/logout writing.

#include "registry/docker_config.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "registry/client.h"
#include "registry/internal/wire.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::ordered_json;

// A credential helper keeping each login in a file named after the md5 of its server URL.
constexpr char k_fake_helper[] = R"sh(#!/bin/sh
store=STORE
echo "$1" >> "$store/calls"
input=$(cat)
case "$1" in
  get|erase) key=$input ;;
  store) key=$(printf '%s' "$input" | sed -n 's/.*"ServerURL":"\([^"]*\)".*/\1/p') ;;
  *) echo "unknown action $1"; exit 1 ;;
esac
file="$store/$(printf '%s' "$key" | md5sum | cut -c1-32)"
case "$1" in
  get) if [ -f "$file" ]; then cat "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
  store) printf '%s' "$input" > "$file" ;;
  erase) if [ -f "$file" ]; then rm "$file"; else echo "credentials not found in native keychain"; exit 1; fi ;;
esac
)sh";

class DockerConfigTest : public ::testing::Test {
protected:
    void SetUp() override {
        const char* path = std::getenv("PATH");
        m_old_path = path ? path : "";
        fs::create_directories(bin());
        fs::create_directories(store());
        std::string script = k_fake_helper;
        script.replace(script.find("STORE"), 5, test::shell_quote(store().string()));
        install_helper("fake", script);
        install_helper("broken", "#!/bin/sh\ncat >/dev/null\necho 'the keychain is locked'\nexit 3\n");
        setenv("PATH", (bin().string() + ":" + m_old_path).c_str(), 1);
    }
    void TearDown() override { setenv("PATH", m_old_path.c_str(), 1); }

    void install_helper(const std::string& name, const std::string& script) {
        test::write_file(bin() / ("docker-credential-" + name), script);
        fs::permissions(bin() / ("docker-credential-" + name), fs::perms::owner_all);
    }

    // What the fake helper holds for `server_url`, as `get` would answer.
    void seed_helper(const std::string& server_url, const std::string& username, const std::string& secret) {
        const auto result = test::run_command("printf '%s' " + test::shell_quote(server_url) + " | md5sum | cut -c1-32");
        ASSERT_EQ(result.status, 0);
        test::write_file(store() / result.output.substr(0, 32),
                         Json{{"ServerURL", server_url}, {"Username", username}, {"Secret", secret}}.dump());
    }
    std::string helper_calls() const { return fs::exists(store() / "calls") ? test::read_file(store() / "calls") : ""; }

    fs::path bin() const { return m_dir.path() / "bin"; }
    fs::path store() const { return m_dir.path() / "store"; }
    fs::path config_path() const { return m_dir.path() / "docker" / "config.json"; }
    void write_config(const Json& config) { test::write_file(config_path(), config.dump()); }
    Json read_config() const { return Json::parse(test::read_file(config_path())); }
    static std::string auth(const std::string& user_password) { return internal::base64_encode(user_password); }

    test::TempDir m_dir;
    std::string m_old_path;
};

TEST_F(DockerConfigTest, DefaultPathIsDockerConfigThenHome) {
    const char* old_config = std::getenv("DOCKER_CONFIG");
    const std::string saved = old_config ? old_config : "";
    setenv("DOCKER_CONFIG", "/somewhere/docker", 1);
    EXPECT_EQ(default_docker_config_path(), fs::path("/somewhere/docker/config.json"));
    unsetenv("DOCKER_CONFIG");
    EXPECT_EQ(default_docker_config_path(), fs::path(std::getenv("HOME")) / ".docker/config.json");
    if (old_config) setenv("DOCKER_CONFIG", saved.c_str(), 1);
}

TEST_F(DockerConfigTest, DockerHubHasOneKey) {
    for (const char* host : {"docker.io", "index.docker.io", "registry-1.docker.io"})
        EXPECT_EQ(docker_config_key(host), "https://index.docker.io/v1/") << host;
    EXPECT_EQ(docker_config_key("localhost:5000"), "localhost:5000");
    EXPECT_EQ(docker_config_key("ghcr.io"), "ghcr.io");

    write_config({{"auths", {{"https://index.docker.io/v1/", {{"auth", auth("hub:pw")}}}}}});
    const auto login = DockerConfig(config_path()).find("registry-1.docker.io");
    ASSERT_TRUE(login);
    EXPECT_EQ(login->username, "hub");
    EXPECT_EQ(login->password, "pw");
    EXPECT_FALSE(DockerConfig(config_path()).find("ghcr.io"));
}

TEST_F(DockerConfigTest, AuthsUnderEveryKeySpellingWithIdentityToken) {
    write_config({{"auths",
                   {{"https://ghcr.io", {{"auth", auth("robot$ci:to:ken")}}},
                    {"https://quay.io/v1/", {{"auth", auth("bob:")}, {"identitytoken", "refresh-me"}}},
                    {"empty.io", Json::object()}}}});
    const DockerConfig config(config_path());
    EXPECT_EQ(config.find("ghcr.io"), (DockerLogin{.username = "robot$ci", .password = "to:ken"}));
    EXPECT_EQ(config.find("quay.io"), (DockerLogin{.username = "bob", .identity_token = "refresh-me"}));
    EXPECT_FALSE(config.find("empty.io"));

    // The client's provider hands the identity token on (for the OAuth2 refresh flow), and an
    // entry with neither a password nor a token is no credential.
    const DockerConfigCredentials credentials(config_path());
    EXPECT_EQ(credentials.get("ghcr.io")->password, "to:ken");
    EXPECT_EQ(credentials.get("ghcr.io")->identity_token, "");
    const auto token = credentials.get("quay.io");
    ASSERT_TRUE(token);
    EXPECT_EQ(token->username, "bob");
    EXPECT_EQ(token->password, "");
    EXPECT_EQ(token->identity_token, "refresh-me");
    write_config({{"auths", {{"user.io", {{"auth", auth("user-only:")}}}}}});
    EXPECT_FALSE(credentials.get("user.io"));
}

TEST_F(DockerConfigTest, MissingOrBlankFileHasNoLogins) {
    EXPECT_FALSE(DockerConfig(config_path()).find("ghcr.io"));
    test::write_file(config_path(), "\n");
    EXPECT_FALSE(DockerConfig(config_path()).find("ghcr.io"));
}

TEST_F(DockerConfigTest, MalformedFileErrorsNameTheFileNotTheSecret) {
    test::write_file(config_path(), "{\"auths\": {");
    try {
        DockerConfig(config_path()).find("ghcr.io");
        FAIL() << "expected an error";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find(config_path().string()), std::string::npos) << error.what();
    }
    write_config({{"auths", {{"ghcr.io", {{"auth", "c2VjcmV0LXdpdGhvdXQtY29sb24="}}}}}});  // "secret-without-colon"
    try {
        DockerConfig(config_path()).find("ghcr.io");
        FAIL() << "expected an error";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find(config_path().string()), std::string::npos) << message;
        EXPECT_NE(message.find("`ghcr.io`"), std::string::npos) << message;
        EXPECT_EQ(message.find("c2VjcmV0"), std::string::npos) << message;
        EXPECT_EQ(message.find("secret-without-colon"), std::string::npos) << message;
    }
    write_config({{"auths", Json::array()}});
    EXPECT_THROW(DockerConfig(config_path()).find("ghcr.io"), Error);
}

TEST_F(DockerConfigTest, CredHelperForOneRegistry) {
    write_config({{"credHelpers", {{"localhost:5000", "fake"}}}, {"auths", {{"ghcr.io", {{"auth", auth("a:b")}}}}}});
    seed_helper("localhost:5000", "robot$ci", "helper-secret");
    const DockerConfig config(config_path());
    EXPECT_EQ(config.find("localhost:5000"), (DockerLogin{.username = "robot$ci", .password = "helper-secret"}));
    EXPECT_EQ(helper_calls(), "get\n");
    // Other registries still come from `auths`, without asking the helper.
    EXPECT_EQ(config.find("ghcr.io")->username, "a");
    EXPECT_EQ(helper_calls(), "get\n");
    EXPECT_EQ(DockerConfigCredentials(config_path()).get("localhost:5000")->password, "helper-secret");
}

TEST_F(DockerConfigTest, CredsStoreIsTheOnlySourceWhenSet) {
    write_config({{"credsStore", "fake"}, {"auths", {{"ghcr.io", {{"auth", auth("stale:login")}}}}}});
    seed_helper("https://index.docker.io/v1/", "hub", "hub-secret");
    seed_helper("quay.io", "<token>", "identity");
    const DockerConfig config(config_path());
    EXPECT_EQ(config.find("docker.io"), (DockerLogin{.username = "hub", .password = "hub-secret"}));
    EXPECT_EQ(config.find("quay.io"), (DockerLogin{.identity_token = "identity"}));
    // "credentials not found": no login (docker ignores the stale `auth` beside a store).
    EXPECT_FALSE(config.find("ghcr.io"));
    EXPECT_EQ(helper_calls(), "get\nget\nget\n");
    // The helper's "<token>" user is docker's way of handing over an identity token.
    const auto token = DockerConfigCredentials(config_path()).get("quay.io");
    ASSERT_TRUE(token);
    EXPECT_EQ(token->username, "");
    EXPECT_EQ(token->identity_token, "identity");
}

TEST_F(DockerConfigTest, HelperFailuresNameTheHelper) {
    write_config({{"credHelpers", {{"ghcr.io", "broken"}, {"quay.io", "absent"}}}});
    try {
        DockerConfig(config_path()).find("ghcr.io");
        FAIL() << "expected an error";
    } catch (const Error& error) {
        const std::string message = error.what();
        EXPECT_NE(message.find("docker-credential-broken"), std::string::npos) << message;
        EXPECT_NE(message.find("`ghcr.io`"), std::string::npos) << message;
        EXPECT_NE(message.find("the keychain is locked"), std::string::npos) << message;
    }
    try {
        DockerConfig(config_path()).find("quay.io");
        FAIL() << "expected an error";
    } catch (const Error& error) {
        EXPECT_NE(std::string(error.what()).find("`docker-credential-absent` is not on PATH"), std::string::npos)
            << error.what();
    }
}

TEST_F(DockerConfigTest, StoreLoginWritesBase64AuthAndKeepsEveryOtherKey) {
    write_config({{"psFormat", "table {{.ID}}"},
                  {"auths", {{"other.io", {{"auth", auth("o:p")}, {"email", "o@example.com"}}}}},
                  {"proxies", {{"default", {{"httpProxy", "http://proxy:3128"}}}}}});
    const DockerConfig config(config_path());
    config.store_login("localhost:5000", "robot$ci", "pa:ss$word");
    const Json written = read_config();
    EXPECT_EQ(written.begin().key(), "psFormat");  // the order is kept too
    EXPECT_EQ(written["psFormat"], "table {{.ID}}");
    EXPECT_EQ(written["proxies"]["default"]["httpProxy"], "http://proxy:3128");
    EXPECT_EQ(written["auths"]["other.io"]["email"], "o@example.com");
    EXPECT_EQ(written["auths"]["localhost:5000"]["auth"], auth("robot$ci:pa:ss$word"));
    EXPECT_EQ(config.find("localhost:5000"), (DockerLogin{.username = "robot$ci", .password = "pa:ss$word"}));
    EXPECT_EQ(fs::status(config_path()).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
    // No temporary file is left beside it.
    EXPECT_EQ(std::distance(fs::directory_iterator(config_path().parent_path()), fs::directory_iterator()), 1);
}

TEST_F(DockerConfigTest, StoreLoginCreatesTheFileAndUsesTheDockerHubKey) {
    const DockerConfig config(m_dir.path() / "new" / "config.json");
    config.store_login("registry-1.docker.io", "hub", "pw");
    const Json written = Json::parse(test::read_file(config.path()));
    EXPECT_EQ(written["auths"]["https://index.docker.io/v1/"]["auth"], auth("hub:pw"));
    EXPECT_EQ(written["auths"].size(), 1u);
}

TEST_F(DockerConfigTest, StoreLoginWritesThroughASymlink) {
    test::write_file(m_dir.path() / "dotfiles" / "docker.json", R"({"detachKeys": "ctrl-x"})");
    fs::create_directories(config_path().parent_path());
    fs::create_symlink(m_dir.path() / "dotfiles" / "docker.json", config_path());
    DockerConfig(config_path()).store_login("ghcr.io", "u", "p");
    EXPECT_TRUE(fs::is_symlink(config_path()));
    const Json written = Json::parse(test::read_file(m_dir.path() / "dotfiles" / "docker.json"));
    EXPECT_EQ(written["detachKeys"], "ctrl-x");
    EXPECT_EQ(written["auths"]["ghcr.io"]["auth"], auth("u:p"));
}

TEST_F(DockerConfigTest, StoreLoginRefusesToOverwriteAMalformedFile) {
    test::write_file(config_path(), "{not json");
    EXPECT_THROW(DockerConfig(config_path()).store_login("ghcr.io", "u", "p"), Error);
    EXPECT_EQ(test::read_file(config_path()), "{not json");
}

TEST_F(DockerConfigTest, LoginAndLogoutThroughTheHelper) {
    write_config({{"credsStore", "fake"}, {"currentContext", "default"}});
    const DockerConfig config(config_path());
    config.store_login("localhost:5000", "robot$ci", "helper-pw");
    Json written = read_config();
    EXPECT_EQ(written["auths"]["localhost:5000"], Json::object());  // the secret is in the helper
    EXPECT_EQ(written["currentContext"], "default");
    EXPECT_EQ(config.find("localhost:5000"), (DockerLogin{.username = "robot$ci", .password = "helper-pw"}));

    EXPECT_EQ(config.remove_login("localhost:5000"), LoginRemoved::yes);
    written = read_config();
    EXPECT_FALSE(written["auths"].contains("localhost:5000"));
    EXPECT_EQ(written["currentContext"], "default");
    EXPECT_FALSE(config.find("localhost:5000"));
    EXPECT_EQ(helper_calls(), "store\nget\nerase\nget\n");
    EXPECT_EQ(config.remove_login("localhost:5000"), LoginRemoved::no);
}

TEST_F(DockerConfigTest, LogoutRemovesEverySpellingAndKeepsTheRest) {
    write_config({{"auths",
                   {{"https://ghcr.io", {{"auth", auth("a:b")}}},
                    {"ghcr.io", {{"auth", auth("c:d")}}},
                    {"quay.io", {{"auth", auth("e:f")}}}}},
                  {"experimental", "enabled"}});
    const DockerConfig config(config_path());
    EXPECT_EQ(config.remove_login("ghcr.io"), LoginRemoved::yes);
    const Json written = read_config();
    EXPECT_EQ(written["auths"].size(), 1u);
    EXPECT_EQ(written["auths"]["quay.io"]["auth"], auth("e:f"));
    EXPECT_EQ(written["experimental"], "enabled");
    EXPECT_FALSE(config.find("ghcr.io"));
    EXPECT_EQ(config.remove_login("ghcr.io"), LoginRemoved::no);
}

TEST_F(DockerConfigTest, IdentityTokenSurvivesOtherLoginsAndLogoutRemovesIt) {
    write_config({{"auths", {{"quay.io", {{"auth", auth("bob:")}, {"identitytoken", "refresh-me"}}},
                             {"https://token-only.io", {{"identitytoken", "only-token"}}}}}});
    const DockerConfig config(config_path());
    config.store_login("ghcr.io", "u", "p");
    config.remove_login("other.io");
    Json written = read_config();
    EXPECT_EQ(written["auths"]["quay.io"]["identitytoken"], "refresh-me");
    EXPECT_EQ(written["auths"]["https://token-only.io"]["identitytoken"], "only-token");
    EXPECT_EQ(config.find("quay.io"), (DockerLogin{.username = "bob", .identity_token = "refresh-me"}));

    // A password login to the same registry replaces the token, as docker's does.
    config.store_login("quay.io", "bob", "new-password");
    EXPECT_EQ(config.find("quay.io"), (DockerLogin{.username = "bob", .password = "new-password"}));
    EXPECT_FALSE(read_config()["auths"]["quay.io"].contains("identitytoken"));

    // Logout removes an entry holding only a token, under any spelling of its key.
    EXPECT_EQ(config.remove_login("token-only.io"), LoginRemoved::yes);
    written = read_config();
    EXPECT_FALSE(written["auths"].contains("https://token-only.io"));
    EXPECT_FALSE(config.find("token-only.io"));
    EXPECT_TRUE(written["auths"].contains("ghcr.io"));
}

}  // namespace
}  // namespace cbuild::registry
