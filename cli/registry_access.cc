#include "cli/registry_access.h"

#include <cstdlib>
#include <filesystem>

namespace cbuild::cli {

namespace {

// $DOCKER_CONFIG/config.json, else ~/.docker/config.json (docker's lookup).
std::filesystem::path docker_config_path() {
    if (const char* dir = std::getenv("DOCKER_CONFIG"); dir && *dir) return std::filesystem::path(dir) / "config.json";
    const char* home = std::getenv("HOME");
    return std::filesystem::path(home && *home ? home : "/root") / ".docker" / "config.json";
}

}  // namespace

registry::ClientOptions client_options(const std::vector<std::string>& insecure) {
    registry::ClientOptions options;
    options.insecure_registries.insert(insecure.begin(), insecure.end());
    const std::filesystem::path config = docker_config_path();
    if (std::filesystem::exists(config)) options.credentials = std::make_shared<registry::DockerConfigCredentials>(config);
    return options;
}

}  // namespace cbuild::cli
