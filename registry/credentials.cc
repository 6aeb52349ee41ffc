// Where credentials come from (fixed values, docker's config.json and its credential helpers)
// and where `login` puts them.

#include <pwd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <vector>

#include "common/atomic_file.h"
#include "registry/client.h"
#include "registry/docker_config.h"
#include "registry/internal/docker_config_helper.h"
#include "registry/internal/wire.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
// Ordered, so that rewriting the file keeps its keys where the user (or docker) put them.
using Json = nlohmann::ordered_json;

constexpr char k_docker_hub_key[] = "https://index.docker.io/v1/";

bool is_docker_hub(std::string_view host) {
    return host == "docker.io" || host == "index.docker.io" || host == "registry-1.docker.io" || host == k_docker_hub_key;
}

// The spellings an `auths` key may have for `host`, the canonical one first.
std::vector<std::string> auths_keys(const std::string& host) {
    std::vector<std::string> keys = {host, "https://" + host, "http://" + host, "https://" + host + "/v1/",
                                     "https://" + host + "/v2/"};
    if (is_docker_hub(host)) keys.insert(keys.begin(), k_docker_hub_key);
    return keys;
}

// Errors name the file but never quote it: it holds secrets.
[[noreturn]] void malformed(const fs::path& path, const std::string& what) {
    throw Error("`" + path.string() + "`: " + what);
}

std::string trimmed(std::string text) {
    const auto end = text.find_last_not_of(" \t\r\n");
    text.erase(end == std::string::npos ? 0 : end + 1);
    return text.substr(std::min(text.size(), text.find_first_not_of(" \t\r\n")));
}

// The file's object; an empty one when the file does not exist or is blank.
Json read_config(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        const int error = errno;
        std::error_code ignored;
        if (!fs::exists(path, ignored)) return Json::object();
        throw IoError(path.string(), "open", error);
    }
    std::stringstream text;
    text << in.rdbuf();
    if (in.bad()) throw IoError(path.string(), "read", errno);
    if (trimmed(text.str()).empty()) return Json::object();
    Json config = Json::parse(text.str(), nullptr, false);
    if (config.is_discarded() || !config.is_object()) malformed(path, "not a valid docker config.json");
    for (const char* field : {"auths", "credHelpers"})
        if (config.contains(field) && !config[field].is_object() && !config[field].is_null())
            malformed(path, std::string("`") + field + "` is not an object");
    if (config.contains("credsStore") && !config["credsStore"].is_string() && !config["credsStore"].is_null())
        malformed(path, "`credsStore` is not a helper name");
    return config;
}

void write_config(const fs::path& path, const Json& config) {
    std::error_code error;
    // Docker writes through a symlinked config.json to its target; so do we.
    fs::path target = path;
    if (fs::is_symlink(fs::symlink_status(path, error))) {
        target = fs::weakly_canonical(path, error);
        if (error) throw IoError(path.string(), "resolve symlink", error.value());
    }
    error.clear();
    const fs::path dir = target.parent_path().empty() ? fs::path(".") : target.parent_path();
    if (!fs::exists(dir, error)) {
        if (!fs::create_directories(dir, error) && error) throw IoError(dir.string(), "mkdir", error.value());
        fs::permissions(dir, fs::perms::owner_all, error);  // docker's ~/.docker is 0700
    }
    write_file_atomically(target, config.dump(1, '\t') + "\n", 0600);
}

// The helper configured for `host`: credHelpers[KEY] (or [HOST]), else credsStore.
std::optional<std::string> helper_for(const Json& config, const std::string& host, const fs::path& path) {
    if (const auto helpers = config.find("credHelpers"); helpers != config.end() && helpers->is_object()) {
        for (const std::string& key : {docker_config_key(host), host}) {
            const auto helper = helpers->find(key);
            if (helper == helpers->end()) continue;
            if (!helper->is_string() || helper->get<std::string>().empty())
                malformed(path, "`credHelpers` of `" + key + "` is not a helper name");
            return helper->get<std::string>();
        }
    }
    if (const auto store = config.find("credsStore"); store != config.end() && store->is_string() &&
                                                       !store->get<std::string>().empty())
        return store->get<std::string>();
    return std::nullopt;
}

[[noreturn]] void helper_failed(const std::string& helper, const std::string& action, const std::string& key,
                                const fs::path& path, const std::string& output) {
    throw Error("credential helper `docker-credential-" + helper + "` (from `" + path.string() + "`) failed to " +
                action + " `" + key + "`" + (trimmed(output).empty() ? "" : ": " + trimmed(output)));
}

std::optional<DockerLogin> login_from_helper(const std::string& helper, const std::string& key, const fs::path& path) {
    const auto result = internal::run_credential_helper(helper, "get", key);
    if (result.exit_status != 0) {
        if (internal::is_credentials_not_found(result.output)) return std::nullopt;
        helper_failed(helper, "get", key, path, result.output);
    }
    const auto answer = nlohmann::json::parse(result.output, nullptr, false);
    const auto text = [&](const char* field) -> std::string {
        const auto found = answer.is_object() ? answer.find(field) : answer.end();
        return found != answer.end() && found->is_string() ? found->get<std::string>() : std::string();
    };
    if (!answer.is_object())
        throw Error("credential helper `docker-credential-" + helper + "` answered `get` for `" + key +
                    "` with something other than {ServerURL, Username, Secret}");
    const std::string username = text("Username");
    const std::string secret = text("Secret");
    if (username.empty() && secret.empty()) return std::nullopt;
    if (username == "<token>") return DockerLogin{.identity_token = secret};
    return DockerLogin{.username = username, .password = secret};
}

std::optional<DockerLogin> login_from_auths(const Json& config, const std::string& host, const fs::path& path) {
    const auto auths = config.find("auths");
    if (auths == config.end() || !auths->is_object()) return std::nullopt;
    for (const auto& key : auths_keys(host)) {
        const auto entry = auths->find(key);
        if (entry == auths->end() || !entry->is_object()) continue;
        DockerLogin login;
        if (const auto auth = entry->find("auth"); auth != entry->end() && auth->is_string() &&
                                                   !auth->get<std::string>().empty()) {
            const auto decoded = internal::base64_decode(auth->get<std::string>());
            const auto colon = decoded ? decoded->find(':') : std::string::npos;
            if (colon == std::string::npos)
                malformed(path, "the `auth` of `" + key + "` is not base64 of user:password");
            login.username = decoded->substr(0, colon);
            login.password = decoded->substr(colon + 1);
        }
        if (const auto token = entry->find("identitytoken"); token != entry->end() && token->is_string())
            login.identity_token = token->get<std::string>();
        if (login == DockerLogin{}) continue;
        return login;
    }
    return std::nullopt;
}

}  // namespace

std::optional<Credential> StaticCredentials::get(const std::string& registry_host) const {
    const auto found = m_by_host.find(registry_host);
    if (found == m_by_host.end()) return std::nullopt;
    return found->second;
}

// A login with neither a password nor an identity token is no credential: it would only
// earn a 401.
std::optional<Credential> DockerConfigCredentials::get(const std::string& registry_host) const {
    const auto login = DockerConfig(m_path).find(registry_host);
    if (!login || (login->password.empty() && login->identity_token.empty())) return std::nullopt;
    return Credential{
        .username = login->username, .password = login->password, .identity_token = login->identity_token};
}

fs::path default_docker_config_path() {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) return fs::path(dir) / "config.json";
    std::string home;
    if (const char* variable = std::getenv("HOME"); variable && *variable) {
        home = variable;
    } else {
        std::vector<char> buffer(16384);
        passwd entry{};
        passwd* found = nullptr;
        if (getpwuid_r(getuid(), &entry, buffer.data(), buffer.size(), &found) == 0 && found && found->pw_dir)
            home = found->pw_dir;
    }
    if (home.empty()) throw Error("no home directory for ~/.docker/config.json: set HOME or DOCKER_CONFIG");
    return fs::path(home) / ".docker" / "config.json";
}

std::string docker_config_key(std::string_view registry_host) {
    return is_docker_hub(registry_host) ? k_docker_hub_key : std::string(registry_host);
}

DockerConfig::DockerConfig(fs::path config_json) : m_path(std::move(config_json)) {}

std::optional<DockerLogin> DockerConfig::find(const std::string& registry_host) const {
    const Json config = read_config(m_path);
    // As docker: a configured helper is the only source for its registries.
    if (const auto helper = helper_for(config, registry_host, m_path))
        return login_from_helper(*helper, docker_config_key(registry_host), m_path);
    return login_from_auths(config, registry_host, m_path);
}

void DockerConfig::store_login(const std::string& registry_host, const std::string& username,
                               const std::string& password) const {
    Json config = read_config(m_path);
    const std::string key = docker_config_key(registry_host);
    if (!config.contains("auths") || !config["auths"].is_object()) config["auths"] = Json::object();
    Json entry = config["auths"].contains(key) && config["auths"][key].is_object() ? config["auths"][key] : Json::object();
    entry.erase("identitytoken");
    if (const auto helper = helper_for(config, registry_host, m_path)) {
        const Json input = {{"ServerURL", key}, {"Username", username}, {"Secret", password}};
        const auto result = internal::run_credential_helper(*helper, "store", input.dump());
        if (result.exit_status != 0) helper_failed(*helper, "store the login for", key, m_path, result.output);
        entry.erase("auth");  // the secret lives in the helper now
    } else {
        entry["auth"] = internal::base64_encode(username + ":" + password);
    }
    config["auths"][key] = entry;
    write_config(m_path, config);
}

LoginRemoved DockerConfig::remove_login(const std::string& registry_host) const {
    Json config = read_config(m_path);
    const std::string key = docker_config_key(registry_host);
    bool removed = false;
    if (const auto helper = helper_for(config, registry_host, m_path)) {
        const auto result = internal::run_credential_helper(*helper, "erase", key);
        if (result.exit_status == 0)
            removed = true;
        else if (!internal::is_credentials_not_found(result.output))
            helper_failed(*helper, "erase the login for", key, m_path, result.output);
    }
    bool file_changed = false;
    if (config.contains("auths") && config["auths"].is_object())
        for (const auto& spelling : auths_keys(registry_host)) file_changed |= config["auths"].erase(spelling) > 0;
    if (file_changed) write_config(m_path, config);
    return removed || file_changed ? LoginRemoved::yes : LoginRemoved::no;
}

}  // namespace cbuild::registry
