#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "registry/client.h"
#include "registry/internal/wire.h"

namespace cbuild::registry {

std::optional<Credential> StaticCredentials::get(const std::string& registry_host) const {
    const auto found = m_by_host.find(registry_host);
    if (found == m_by_host.end()) return std::nullopt;
    return found->second;
}

std::optional<Credential> DockerConfigCredentials::get(const std::string& registry_host) const {
    std::ifstream in(m_path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    const auto config = nlohmann::json::parse(text.str(), nullptr, false);
    // The message names the file but never quotes it: it holds secrets.
    if (config.is_discarded() || !config.is_object())
        throw Error("`" + m_path.string() + "`: not a valid docker config.json");
    const auto auths = config.find("auths");
    if (auths == config.end() || !auths->is_object()) return std::nullopt;
    std::vector<std::string> keys = {registry_host, "https://" + registry_host, "http://" + registry_host,
                                     "https://" + registry_host + "/v1/", "https://" + registry_host + "/v2/"};
    if (registry_host == "registry-1.docker.io" || registry_host == "docker.io")
        keys.insert(keys.begin(), "https://index.docker.io/v1/");
    for (const auto& key : keys) {
        const auto entry = auths->find(key);
        if (entry == auths->end() || !entry->is_object()) continue;
        const auto auth = entry->find("auth");
        if (auth == entry->end() || !auth->is_string() || auth->get<std::string>().empty()) continue;
        const auto decoded = internal::base64_decode(auth->get<std::string>());
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon == std::string::npos)
            throw Error("`" + m_path.string() + "`: the `auth` of `" + key + "` is not base64 of user:password");
        return Credential{.username = decoded->substr(0, colon), .password = decoded->substr(colon + 1)};
    }
    return std::nullopt;
}

}  // namespace cbuild::registry
