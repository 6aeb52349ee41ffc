#include <sys/utsname.h>

#include <cctype>

#include "builder/plan/plan.h"
#include "common/error.h"

namespace cbuild::builder {

namespace {

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// containerd's platforms.Normalize for the architectures people name.
void normalise(Platform& platform) {
    std::string& arch = platform.architecture;
    std::string& variant = platform.variant;
    if (arch == "x86_64" || arch == "x86-64") arch = "amd64";
    else if (arch == "i386") arch = "386";
    else if (arch == "aarch64") arch = "arm64";
    else if (arch == "armhf") arch = "arm", variant = variant.empty() ? "v7" : variant;
    else if (arch == "armel") arch = "arm", variant = variant.empty() ? "v6" : variant;
    if (arch == "arm64" && (variant == "8" || variant == "v8")) variant.clear();
    if (arch == "arm" && variant.empty()) variant = "v7";
    if (arch == "arm" && (variant == "5" || variant == "6" || variant == "7" || variant == "8"))
        variant = "v" + variant;
    if (arch == "amd64" && variant == "v1") variant.clear();
}

}  // namespace

Platform Platform::parse(std::string_view text) {
    Platform platform;
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t slash = text.find('/', start);
        parts.push_back(lowercase(text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start)));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    for (const std::string& part : parts) {
        if (part.empty())
            throw UsageError("invalid platform `" + std::string(text) + "`: expected os/arch[/variant]");
    }
    if (parts.size() < 2 || parts.size() > 3)
        throw UsageError("invalid platform `" + std::string(text) + "`: expected os/arch[/variant]");
    platform.os = parts[0];
    platform.architecture = parts[1];
    if (parts.size() == 3) platform.variant = parts[2];
    normalise(platform);
    return platform;
}

Platform Platform::host() {
    utsname name{};
    Platform platform{"linux", "amd64", ""};
    if (uname(&name) == 0) {
        platform.architecture = name.machine;
        normalise(platform);
    }
    return platform;
}

std::string Platform::to_string() const {
    return os + "/" + architecture + (variant.empty() ? "" : "/" + variant);
}

}  // namespace cbuild::builder
