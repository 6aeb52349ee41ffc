#include "registry/client.h"

namespace cbuild::registry {

Platform normalize_platform(Platform platform) {
    // Docker's (containerd platforms.Normalize) defaults: the variant an image without one is
    // assumed to be built for.
    if (platform.architecture == "aarch64") platform.architecture = "arm64";
    if (platform.architecture == "x86_64" || platform.architecture == "x86-64") platform.architecture = "amd64";
    if (platform.architecture == "arm64" && platform.variant.empty()) platform.variant = "v8";
    if (platform.architecture == "arm" && platform.variant.empty()) platform.variant = "v7";
    if (platform.architecture == "amd64" && platform.variant == "v1") platform.variant.clear();
    return platform;
}

Platform host_platform() {
    Platform platform{.os = "linux"};
#if defined(__x86_64__)
    platform.architecture = "amd64";
#elif defined(__aarch64__)
    platform.architecture = "arm64";
#elif defined(__arm__)
    platform.architecture = "arm";
#elif defined(__i386__)
    platform.architecture = "386";
#elif defined(__powerpc64__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    platform.architecture = "ppc64le";
#elif defined(__s390x__)
    platform.architecture = "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
    platform.architecture = "riscv64";
#else
    platform.architecture = "unknown";
#endif
    return normalize_platform(platform);
}

std::optional<Descriptor> select_platform(const ImageIndex& index, const Platform& wanted) {
    const Platform target = normalize_platform(wanted);
    for (const auto& manifest : index.manifests) {
        if (!manifest.platform) continue;
        const Platform candidate = normalize_platform(*manifest.platform);
        if (candidate.os == target.os && candidate.architecture == target.architecture &&
            candidate.variant == target.variant)
            return manifest;
    }
    return std::nullopt;
}

}  // namespace cbuild::registry
