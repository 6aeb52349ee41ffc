#include "cli/registry_access.h"

#include <filesystem>

#include "registry/docker_config.h"

namespace cbuild::cli {

registry::ClientOptions client_options(const std::vector<std::string>& insecure) {
    registry::ClientOptions options;
    options.insecure_registries.insert(insecure.begin(), insecure.end());
    const std::filesystem::path config = registry::default_docker_config_path();
    if (std::filesystem::exists(config)) options.credentials = std::make_shared<registry::DockerConfigCredentials>(config);
    return options;
}

}  // namespace cbuild::cli
