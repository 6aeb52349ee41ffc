#include "cli/build_flags.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/error.h"
#include "common/unique_fd.h"
#include "registry/image.h"

namespace cbuild::cli {

namespace {

constexpr std::size_t k_max_document = 4 << 20;

bool has_blank(std::string_view text) {
    for (const char c : text)
        if (std::isspace(static_cast<unsigned char>(c))) return true;
    return false;
}

std::string trim(std::string_view text) {
    std::size_t start = 0, end = text.size();
    while (start < end && std::isspace(static_cast<unsigned char>(text[start]))) ++start;
    while (end > start && std::isspace(static_cast<unsigned char>(text[end - 1]))) --end;
    return std::string(text.substr(start, end - start));
}

std::int64_t parse_integer(const std::string& text, const std::string& what) {
    std::size_t used = 0;
    try {
        const long long value = std::stoll(text, &used, 10);
        if (used == text.size() && !text.empty() && !std::isspace(static_cast<unsigned char>(text[0]))) return value;
    } catch (const std::exception&) {
    }
    throw UsageError(what + ": `" + text + "` is not a number");
}

// docker's ulimit names (go-units ulimitNameMapping).
const std::map<std::string, int, std::less<>> k_ulimits = {
    {"core", RLIMIT_CORE},       {"cpu", RLIMIT_CPU},         {"data", RLIMIT_DATA},
    {"fsize", RLIMIT_FSIZE},     {"locks", RLIMIT_LOCKS},     {"memlock", RLIMIT_MEMLOCK},
    {"msgqueue", RLIMIT_MSGQUEUE}, {"nice", RLIMIT_NICE},     {"nofile", RLIMIT_NOFILE},
    {"nproc", RLIMIT_NPROC},     {"rss", RLIMIT_RSS},         {"rtprio", RLIMIT_RTPRIO},
    {"rttime", RLIMIT_RTTIME},   {"sigpending", RLIMIT_SIGPENDING}, {"stack", RLIMIT_STACK}};

std::string read_layout_file(const std::filesystem::path& path, const std::string& flag) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw UsageError(flag + ": cannot read `" + path.string() + "`: not an OCI layout");
    std::ostringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
}

// Copies one blob of the layout into the store, checking its digest and size on the way.
void import_blob(const std::filesystem::path& layout, const registry::Descriptor& descriptor,
                 cache::ContentStore& store, const std::string& flag) {
    if (store.has(descriptor.digest)) return;
    const std::filesystem::path path = layout / "blobs" / descriptor.digest.algorithm() / descriptor.digest.hex();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw UsageError(flag + ": blob `" + path.string() + "` is missing from the layout");
    const UniqueFd closer(fd);
    cache::BlobWriter writer = store.begin_blob();
    std::string chunk(1 << 20, '\0');
    for (;;) {
        const ssize_t got = ::read(fd, chunk.data(), chunk.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) throw IoError(path.string(), "read", errno);
        if (got == 0) break;
        writer.write(std::string_view(chunk.data(), static_cast<std::size_t>(got)));
    }
    try {
        writer.commit(descriptor.digest, static_cast<std::uint64_t>(descriptor.size));
    } catch (const cache::BlobMismatchError& error) {
        throw UsageError(flag + ": " + error.what());
    }
}

std::string read_blob(const std::filesystem::path& layout, const registry::Descriptor& descriptor,
                      const std::string& flag) {
    const std::string bytes =
        read_layout_file(layout / "blobs" / descriptor.digest.algorithm() / descriptor.digest.hex(), flag);
    if (bytes.size() > k_max_document || sha256_of(bytes) != descriptor.digest)
        throw UsageError(flag + ": blob " + descriptor.digest.to_string() + " does not match its digest");
    return bytes;
}

}  // namespace

std::map<std::string, std::string> parse_build_arg_file(std::string_view text, const std::string& file) {
    std::map<std::string, std::string> args;
    std::size_t number = 0;
    for (std::size_t start = 0; start < text.size();) {
        const std::size_t end = std::min(text.find('\n', start), text.size());
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        ++number;
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        const std::string trimmed = trim(line);
        if (trimmed.empty() || trimmed[0] == '#') continue;
        const std::size_t equals = line.find('=');
        const std::string key = trim(line.substr(0, equals));
        const std::string where = file + ":" + std::to_string(number);
        if (key.empty()) throw UsageError(where + ": invalid build arg `" + std::string(line) + "`: the name is empty");
        if (has_blank(key))
            throw UsageError(where + ": invalid build arg `" + std::string(line) + "`: the name contains whitespace");
        if (equals != std::string_view::npos) {
            args[key] = std::string(line.substr(equals + 1));
        } else if (const char* value = std::getenv(key.c_str())) {
            args[key] = value;
        }
    }
    return args;
}

std::pair<std::string, std::string> parse_label(const std::string& text) {
    const std::size_t equals = text.find('=');
    const std::string key = text.substr(0, equals);
    if (key.empty()) throw UsageError("invalid --label `" + text + "`: the key is empty");
    return {key, equals == std::string::npos ? "" : text.substr(equals + 1)};
}

std::pair<std::string, builder::NamedContext> parse_build_context(const std::string& text) {
    const std::size_t equals = text.find('=');
    const std::string flag = "--build-context " + text;
    if (equals == std::string::npos) throw UsageError("invalid " + flag + ": expected NAME=VALUE");
    const std::string name = text.substr(0, equals);
    const std::optional<std::string> key = builder::context_name(name);
    if (!key) throw UsageError("invalid " + flag + ": `" + name + "` is not a valid context name");
    builder::NamedContext context;
    context.value = text.substr(equals + 1);
    if (context.value.empty()) throw UsageError("invalid " + flag + ": the value is empty");
    constexpr std::string_view k_image = "docker-image://", k_layout = "oci-layout://";
    if (context.value.starts_with(k_image)) {
        context.kind = builder::NamedContext::Kind::image;
        try {
            context.image = registry::Reference::parse(context.value.substr(k_image.size()));
        } catch (const registry::ReferenceError& error) {
            throw UsageError("invalid " + flag + ": " + error.what());
        }
    } else if (context.value.starts_with(k_layout)) {
        // buildx: the digest after `@`, then the tag after the first `:` of what is left.
        context.kind = builder::NamedContext::Kind::oci_layout;
        std::string path = context.value.substr(k_layout.size());
        if (const std::size_t at = path.find('@'); at != std::string::npos) {
            try {
                context.layout_digest = Digest::parse(path.substr(at + 1));
            } catch (const Error& error) {
                throw UsageError("invalid " + flag + ": " + error.what());
            }
            path.resize(at);
        }
        if (const std::size_t colon = path.find(':'); colon != std::string::npos) {
            context.layout_tag = path.substr(colon + 1);
            path.resize(colon);
            if (context.layout_tag.empty()) throw UsageError("invalid " + flag + ": the tag is empty");
        }
        context.directory = path;
        if (path.empty() || !std::filesystem::is_regular_file(context.directory / "index.json"))
            throw UsageError("invalid " + flag + ": `" + path + "` is not an OCI layout (no index.json)");
    } else if (context.value.find("://") != std::string::npos || context.value.starts_with("git@")) {
        throw UsageError("invalid " + flag + ": only a directory, docker-image:// and oci-layout:// are supported");
    } else {
        context.directory = context.value;
        if (!std::filesystem::is_directory(context.directory))
            throw UsageError("invalid " + flag + ": `" + context.value + "` is not a directory");
    }
    return {*key, std::move(context)};
}

std::pair<std::string, std::string> parse_add_host(const std::string& text) {
    std::size_t separator = text.find('=');
    if (separator == std::string::npos) separator = text.find(':');
    const std::string host = separator == std::string::npos ? text : text.substr(0, separator);
    std::string ip = separator == std::string::npos ? "" : text.substr(separator + 1);
    if (host.empty() || ip.empty()) throw UsageError("invalid --add-host `" + text + "`: expected HOST:IP");
    if (ip == "host-gateway")
        throw UsageError("invalid --add-host `" + text + "`: host-gateway needs a daemon's gateway address; give the IP");
    if (ip.size() > 2 && ip.front() == '[' && ip.back() == ']') ip = ip.substr(1, ip.size() - 2);
    unsigned char address[16];
    if (has_blank(host) || (inet_pton(AF_INET, ip.c_str(), address) != 1 && inet_pton(AF_INET6, ip.c_str(), address) != 1))
        throw UsageError("invalid --add-host `" + text + "`: `" + ip + "` is not an IP address");
    return {host, ip};
}

parser::NetworkMode parse_network(const std::string& text) {
    if (text == "default") return parser::NetworkMode::default_;
    if (text == "none") return parser::NetworkMode::none;
    if (text == "host") return parser::NetworkMode::host;
    throw UsageError("invalid --network `" + text + "`: expected default, none or host");
}

std::int64_t parse_shm_size(const std::string& text) {
    const std::string error = "invalid --shm-size `" + text + "`: expected a size such as 64m or 1g";
    std::size_t i = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
    if (i == 0) throw UsageError(error);
    if (i < text.size() && text[i] == '.') {
        const std::size_t fraction = ++i;
        while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
        if (i == fraction) throw UsageError(error);
    }
    const double number = std::strtod(text.substr(0, i).c_str(), nullptr);
    std::string unit = text.substr(i);
    if (!unit.empty() && unit[0] == ' ') unit.erase(0, 1);
    for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (unit.ends_with("b")) unit.pop_back();
    if (unit.size() == 2 && unit[1] == 'i') unit.pop_back();
    double multiplier = 1;
    if (!unit.empty()) {
        const std::string_view units = "kmgtp";
        const std::size_t power = units.find(unit[0]);
        if (unit.size() != 1 || power == std::string_view::npos) throw UsageError(error);
        multiplier = std::pow(1024.0, static_cast<double>(power + 1));
    }
    const double bytes = number * multiplier;
    if (bytes < 1 || bytes >= 9.2e18) throw UsageError("invalid --shm-size `" + text + "`: must be above 0 and below 8 EiB");
    return static_cast<std::int64_t>(bytes);
}

builder::SandboxRlimit parse_ulimit(const std::string& text) {
    const std::size_t equals = text.find('=');
    if (equals == std::string::npos) throw UsageError("invalid --ulimit `" + text + "`: expected TYPE=SOFT[:HARD]");
    const std::string name = text.substr(0, equals);
    const auto resource = k_ulimits.find(name);
    if (resource == k_ulimits.end()) throw UsageError("invalid --ulimit `" + text + "`: unknown type `" + name + "`");
    const std::string values = text.substr(equals + 1);
    const std::size_t colon = values.find(':');
    if (colon != std::string::npos && values.find(':', colon + 1) != std::string::npos)
        throw UsageError("invalid --ulimit `" + text + "`: at most SOFT:HARD");
    const std::string what = "invalid --ulimit `" + text + "`";
    const std::int64_t soft = parse_integer(values.substr(0, colon), what);
    const std::int64_t hard = colon == std::string::npos ? soft : parse_integer(values.substr(colon + 1), what);
    if (soft < -1 || hard < -1) throw UsageError(what + ": a limit is a count, or -1 for unlimited");
    // As docker: only a hard limit of -1 (unlimited) is above every soft limit.
    if (hard != -1 && (soft == -1 || soft > hard))
        throw UsageError(what + ": the soft limit must not be above the hard limit");
    const auto value = [](std::int64_t limit) {
        return limit == -1 ? std::uint64_t{RLIM_INFINITY} : static_cast<std::uint64_t>(limit);
    };
    return builder::SandboxRlimit{.resource = resource->second, .soft = value(soft), .hard = value(hard)};
}

registry::Reference import_oci_layout(const std::string& name, const builder::NamedContext& context,
                                      cache::ContentStore& store, const builder::Platform& platform) {
    const std::string flag = "--build-context " + name + "=" + context.value;
    const std::filesystem::path& layout = context.directory;
    registry::ImageIndex index;
    try {
        index = registry::parse_index(read_layout_file(layout / "index.json", flag));
    } catch (const UsageError&) {
        throw;
    } catch (const Error& error) {
        throw UsageError(flag + ": `" + (layout / "index.json").string() + "`: " + error.what());
    }
    const registry::Descriptor* chosen = nullptr;
    for (const registry::Descriptor& entry : index.manifests) {
        if (context.layout_digest) {
            if (entry.digest == *context.layout_digest) chosen = &entry;
        } else if (const auto ref = entry.annotations.find("org.opencontainers.image.ref.name");
                   ref != entry.annotations.end() && ref->second == context.layout_tag) {
            chosen = &entry;
        }
    }
    // A layout of one untagged image (what `-o type=oci` of an unnamed build writes) is that image.
    if (!chosen && !context.layout_digest && context.layout_tag == "latest" && index.manifests.size() == 1)
        chosen = &index.manifests.front();
    if (!chosen)
        throw UsageError(flag + ": the layout has no image " +
                         (context.layout_digest ? context.layout_digest->to_string() : "tagged `" + context.layout_tag + "`"));
    registry::Descriptor manifest_descriptor = *chosen;
    try {
        if (registry::is_index(manifest_descriptor.media_type)) {
            const registry::ImageIndex inner = registry::parse_index(read_blob(layout, manifest_descriptor, flag));
            const registry::Descriptor* match = nullptr;
            for (const registry::Descriptor& entry : inner.manifests)
                if (entry.platform && entry.platform->os == platform.os &&
                    entry.platform->architecture == platform.architecture &&
                    (platform.variant.empty() || entry.platform->variant.empty() || entry.platform->variant == platform.variant))
                    match = &entry;
            if (!match) throw UsageError(flag + ": the layout's index has no image for " + platform.to_string());
            manifest_descriptor = *match;
        }
        if (!registry::is_manifest(manifest_descriptor.media_type))
            throw UsageError(flag + ": " + manifest_descriptor.digest.to_string() + " is a `" +
                             manifest_descriptor.media_type + "`, not an image manifest");
        const registry::ImageManifest manifest = registry::parse_manifest(read_blob(layout, manifest_descriptor, flag));
        for (const registry::Descriptor& layer : manifest.layers) import_blob(layout, layer, store, flag);
        import_blob(layout, manifest.config, store, flag);
        import_blob(layout, manifest_descriptor, store, flag);
    } catch (const UsageError&) {
        throw;
    } catch (const Error& error) {
        throw UsageError(flag + ": " + error.what());
    }
    // Tagged by digest, as a pull by digest is, so the solver finds it like any stored image.
    const registry::Reference base = registry::Reference::parse(name);
    const registry::Reference reference =
        registry::Reference::parse(base.name() + "@" + manifest_descriptor.digest.to_string());
    store.set_tag(cache::TagEntry{.name = reference.familiar(),
                                  .media_type = manifest_descriptor.media_type,
                                  .digest = manifest_descriptor.digest,
                                  .size = static_cast<std::uint64_t>(manifest_descriptor.size),
                                  .annotations = {}});
    return reference;
}

}  // namespace cbuild::cli
