#pragma once
// Docker's client config file as `docker login` / `logout` and every Docker client use it:
// finding the login for a registry, and writing or removing one.
//
// Where: $DOCKER_CONFIG/config.json, else ~/.docker/config.json. The parts we read (every other
// key is kept, in its order, when we write):
//   {
//     "auths": {"KEY": {"auth": base64("USER:PASSWORD"), "identitytoken": "…"}, …},
//     "credsStore": "NAME",           // every registry through docker-credential-NAME
//     "credHelpers": {"KEY": "NAME"}  // this registry through docker-credential-NAME
//   }
// KEY is the registry host ("localhost:5000", "ghcr.io"); an `auths` key may also be written
// "https://HOST", "http://HOST" or "https://HOST/v1/". Docker Hub's KEY is always
// "https://index.docker.io/v1/" (for docker.io, index.docker.io and registry-1.docker.io).
//
// Credential helpers (the docker-credential-helpers protocol): the program
// `docker-credential-NAME` on PATH is run with one argument, and
//   get    reads KEY on stdin, writes {"ServerURL": KEY, "Username": U, "Secret": S} on stdout;
//          Username "<token>" means Secret is an identity token;
//   store  reads {"ServerURL": KEY, "Username": U, "Secret": S} on stdin;
//   erase  reads KEY on stdin.
// A non-zero exit status with "credentials not found" in its output means there is no login
// for KEY; any other non-zero status is an error.
//
// Secrets never appear in an error message: errors name the file, the key and the helper.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace cbuild::registry {

// $DOCKER_CONFIG/config.json when DOCKER_CONFIG is set, else ~/.docker/config.json ($HOME, or
// the user's home directory from the password database).
std::filesystem::path default_docker_config_path();

// The config key for `registry_host` (as Reference::registry_host() gives it):
// "https://index.docker.io/v1/" for Docker Hub, else the host itself.
std::string docker_config_key(std::string_view registry_host);

// The login config.json (or its helper) holds for one registry.
struct DockerLogin {
    std::string username{};
    std::string password{};
    // An OAuth2 refresh token (`identitytoken`, or a helper's "<token>" user), for the token
    // server's POST flow; empty when there is none.
    std::string identity_token{};

    friend bool operator==(const DockerLogin&, const DockerLogin&) = default;
};

// Whether remove_login found a login to remove.
enum class LoginRemoved { yes, no };

// One config.json, read afresh by every call (so a `docker login` in between is seen). A
// missing file is an empty config; the methods that write create it (and its directory).
class DockerConfig {
public:
    explicit DockerConfig(std::filesystem::path config_json = default_docker_config_path());

    const std::filesystem::path& path() const { return m_path; }

    // The login for `registry_host`: through credHelpers[KEY] when set, else through credsStore
    // when set, else from `auths` (as docker, a configured helper is the only source: a stale
    // `auth` beside it is ignored); nullopt when there is none. Throws cbuild::Error naming the file when it is unreadable or
    // malformed, and naming the helper when it cannot be run or fails.
    std::optional<DockerLogin> find(const std::string& registry_host) const;

    // Records a login as `docker login` does: through the configured helper (`store`, and an
    // empty `auths` entry for KEY), else as base64 `auth` in `auths[KEY]`; an `identitytoken`
    // KEY had is replaced by the password (other registries' entries are kept as they are). The file is replaced
    // atomically (temporary file, fsync, rename) with mode 0600, keeping all its other keys.
    // Throws cbuild::Error naming the file or the helper; the file is then unchanged.
    void store_login(const std::string& registry_host, const std::string& username,
                     const std::string& password) const;

    // Forgets the login as `docker logout` does: `erase` through the configured helper and the
    // `auths` entry (under any of its key spellings) from the file. Errors as store_login.
    LoginRemoved remove_login(const std::string& registry_host) const;

private:
    std::filesystem::path m_path;
};

}  // namespace cbuild::registry
