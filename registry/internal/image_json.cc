#include "registry/internal/image_json.h"

#include <limits>
#include <utility>

namespace cbuild::registry::internal {

namespace {

std::string backticked(std::string_view text) { return "`" + std::string(text) + "`"; }

// Each type's model fields alone; encode() adds the unknown members underneath, and decode
// compares the input's members with these to find what the model could not hold.
Json encode_known(const Platform& platform) {
    Json out = Json::object();
    out["architecture"] = platform.architecture;
    out["os"] = platform.os;
    put_string(out, "os.version", platform.os_version);
    put_strings(out, "os.features", platform.os_features);
    put_string(out, "variant", platform.variant);
    return out;
}

Json encode_known(const Descriptor& descriptor) {
    Json out = Json::object();
    out["mediaType"] = descriptor.media_type;
    out["digest"] = descriptor.digest.to_string();
    out["size"] = descriptor.size;
    put_strings(out, "urls", descriptor.urls);
    put_string_map(out, "annotations", descriptor.annotations);
    if (descriptor.platform) out["platform"] = encode(*descriptor.platform);
    put_string(out, "artifactType", descriptor.artifact_type);
    return out;
}

Json encode_descriptors(const std::vector<Descriptor>& descriptors) {
    Json out = Json::array();
    for (const Descriptor& descriptor : descriptors) out.push_back(encode(descriptor));
    return out;
}

Json encode_known(const ImageManifest& manifest) {
    Json out = Json::object();
    out["schemaVersion"] = manifest.schema_version;
    put_string(out, "mediaType", manifest.media_type);
    put_string(out, "artifactType", manifest.artifact_type);
    out["config"] = encode(manifest.config);
    out["layers"] = encode_descriptors(manifest.layers);
    if (manifest.subject) out["subject"] = encode(*manifest.subject);
    put_string_map(out, "annotations", manifest.annotations);
    return out;
}

Json encode_known(const ImageIndex& index) {
    Json out = Json::object();
    out["schemaVersion"] = index.schema_version;
    put_string(out, "mediaType", index.media_type);
    put_string(out, "artifactType", index.artifact_type);
    out["manifests"] = encode_descriptors(index.manifests);
    if (index.subject) out["subject"] = encode(*index.subject);
    put_string_map(out, "annotations", index.annotations);
    return out;
}

void put_duration(Json& object, std::string_view key, std::chrono::nanoseconds value) {
    if (value.count() != 0) object[std::string(key)] = static_cast<std::int64_t>(value.count());
}

Json encode_known(const Healthcheck& healthcheck) {
    Json out = Json::object();
    put_strings(out, "Test", healthcheck.test);
    put_duration(out, "Interval", healthcheck.interval);
    put_duration(out, "Timeout", healthcheck.timeout);
    put_duration(out, "StartPeriod", healthcheck.start_period);
    put_duration(out, "StartInterval", healthcheck.start_interval);
    if (healthcheck.retries != 0) out["Retries"] = healthcheck.retries;
    return out;
}

Json encode_known(const ExecutionConfig& config) {
    Json out = Json::object();
    put_string(out, "User", config.user);
    put_key_set(out, "ExposedPorts", config.exposed_ports);
    put_strings(out, "Env", config.env);
    if (config.entrypoint) out["Entrypoint"] = *config.entrypoint;
    if (config.cmd) out["Cmd"] = *config.cmd;
    put_key_set(out, "Volumes", config.volumes);
    put_string(out, "WorkingDir", config.working_dir);
    put_string_map(out, "Labels", config.labels);
    put_string(out, "StopSignal", config.stop_signal);
    if (config.args_escaped) out["ArgsEscaped"] = true;
    if (config.healthcheck)
        out["Healthcheck"] = merged(encode_known(*config.healthcheck), config.healthcheck->unknown);
    put_strings(out, "OnBuild", config.on_build);
    put_strings(out, "Shell", config.shell);
    return out;
}

Json encode_known(const RootFs& rootfs) {
    Json out = Json::object();
    out["type"] = rootfs.type;
    Json diff_ids = Json::array();
    for (const Digest& diff_id : rootfs.diff_ids) diff_ids.push_back(diff_id.to_string());
    out["diff_ids"] = std::move(diff_ids);
    return out;
}

Json encode_known(const HistoryEntry& entry) {
    Json out = Json::object();
    put_string(out, "created", entry.created);
    put_string(out, "created_by", entry.created_by);
    put_string(out, "author", entry.author);
    put_string(out, "comment", entry.comment);
    if (entry.empty_layer) out["empty_layer"] = true;
    return out;
}

Json encode_known(const ImageConfig& config) {
    Json out = Json::object();
    put_string(out, "created", config.created);
    put_string(out, "author", config.author);
    out["architecture"] = config.architecture;
    out["os"] = config.os;
    put_string(out, "os.version", config.os_version);
    put_strings(out, "os.features", config.os_features);
    put_string(out, "variant", config.variant);
    // Go never omits a struct, omitempty or not: `"config":{}` is what Go writes.
    out["config"] = merged(encode_known(config.config), config.config.unknown);
    out["rootfs"] = merged(encode_known(config.rootfs), config.rootfs.unknown);
    if (!config.history.empty()) {
        Json history = Json::array();
        for (const HistoryEntry& entry : config.history)
            history.push_back(merged(encode_known(entry), entry.unknown));
        out["history"] = std::move(history);
    }
    return out;
}

int schema_version(const Json& object, const Where& where) {
    const std::int64_t version =
        as_int(required(object, "schemaVersion", where), where.member("schemaVersion"));
    if (version != 2)
        where.member("schemaVersion")
            .fail("must be 2, not " + std::to_string(version) +
                  (version == 1 ? " (Docker schema 1 manifests are not supported)" : ""));
    return 2;
}

std::vector<Descriptor> descriptors_member(const Json& object, std::string_view key,
                                           const Where& where) {
    const Json& value = required(object, key, where);
    const Where at = where.member(key);
    if (!value.is_array()) wrong_type(value, at, "an array of descriptors");
    std::vector<Descriptor> out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i)
        out.push_back(decode_descriptor(value[i], at.element(i)));
    return out;
}

// A member that may be absent or null, decoded by `decode` when present.
template <class T>
std::optional<T> optional_member(const Json& object, std::string_view key, const Where& where,
                                 T (*decode)(const Json&, const Where&)) {
    const Json* value = find(object, key);
    if (value == nullptr) return std::nullopt;
    return decode(*value, where.member(key));
}

std::chrono::nanoseconds duration_member(const Json& object, std::string_view key,
                                         const Where& where) {
    return std::chrono::nanoseconds(int_member(object, key, where));
}

Healthcheck decode_healthcheck(const Json& value, const Where& where) {
    expect_object(value, where);
    const std::int64_t retries = int_member(value, "Retries", where);
    if (retries < std::numeric_limits<int>::min() || retries > std::numeric_limits<int>::max())
        where.member("Retries").fail("the number " + std::to_string(retries) + " is out of range");
    Healthcheck healthcheck{
        .test = strings_member(value, "Test", where),
        .interval = duration_member(value, "Interval", where),
        .timeout = duration_member(value, "Timeout", where),
        .start_period = duration_member(value, "StartPeriod", where),
        .start_interval = duration_member(value, "StartInterval", where),
        .retries = static_cast<int>(retries),
    };
    healthcheck.unknown = leftover(value, encode_known(healthcheck));
    return healthcheck;
}

ExecutionConfig decode_execution_config(const Json& value, const Where& where) {
    expect_object(value, where);
    ExecutionConfig config{
        .user = string_member(value, "User", where),
        .exposed_ports = key_set_member(value, "ExposedPorts", where),
        .env = strings_member(value, "Env", where),
        .entrypoint = optional_strings_member(value, "Entrypoint", where),
        .cmd = optional_strings_member(value, "Cmd", where),
        .volumes = key_set_member(value, "Volumes", where),
        .working_dir = string_member(value, "WorkingDir", where),
        .labels = string_map_member(value, "Labels", where),
        .stop_signal = string_member(value, "StopSignal", where),
        .args_escaped = bool_member(value, "ArgsEscaped", where),
        .healthcheck = optional_member(value, "Healthcheck", where, decode_healthcheck),
        .on_build = strings_member(value, "OnBuild", where),
        .shell = strings_member(value, "Shell", where),
    };
    config.unknown = leftover(value, encode_known(config));
    return config;
}

RootFs decode_rootfs(const Json& value, const Where& where) {
    expect_object(value, where);
    RootFs rootfs{.type = required_string(value, "type", where)};
    if (rootfs.type != "layers")
        where.member("type").fail("must be `layers`, not " + backticked(rootfs.type));
    const Json& diff_ids = required(value, "diff_ids", where);
    const Where at = where.member("diff_ids");
    if (!diff_ids.is_array()) wrong_type(diff_ids, at, "an array of digests");
    for (std::size_t i = 0; i < diff_ids.size(); ++i)
        rootfs.diff_ids.push_back(as_digest(diff_ids[i], at.element(i)));
    rootfs.unknown = leftover(value, encode_known(rootfs));
    return rootfs;
}

HistoryEntry decode_history_entry(const Json& value, const Where& where) {
    expect_object(value, where);
    HistoryEntry entry{
        .created = time_member(value, "created", where),
        .created_by = string_member(value, "created_by", where),
        .author = string_member(value, "author", where),
        .comment = string_member(value, "comment", where),
        .empty_layer = bool_member(value, "empty_layer", where),
    };
    entry.unknown = leftover(value, encode_known(entry));
    return entry;
}

}  // namespace

Json encode(const Platform& platform) { return merged(encode_known(platform), platform.unknown); }
Json encode(const Descriptor& descriptor) {
    return merged(encode_known(descriptor), descriptor.unknown);
}
Json encode(const ImageManifest& manifest) {
    return merged(encode_known(manifest), manifest.unknown);
}
Json encode(const ImageIndex& index) { return merged(encode_known(index), index.unknown); }
Json encode(const ImageConfig& config) { return merged(encode_known(config), config.unknown); }

Platform decode_platform(const Json& value, const Where& where) {
    expect_object(value, where);
    Platform platform{
        .architecture = required_string(value, "architecture", where),
        .os = required_string(value, "os", where),
        .os_version = string_member(value, "os.version", where),
        .os_features = strings_member(value, "os.features", where),
        .variant = string_member(value, "variant", where),
    };
    platform.unknown = leftover(value, encode_known(platform));
    return platform;
}

Descriptor decode_descriptor(const Json& value, const Where& where) {
    expect_object(value, where);
    std::string media_type = required_string(value, "mediaType", where);
    if (media_type.empty()) where.member("mediaType").fail("must not be empty");
    Digest digest = as_digest(required(value, "digest", where), where.member("digest"));
    const std::int64_t size = as_int(required(value, "size", where), where.member("size"));
    if (size < 0) where.member("size").fail("must not be negative, got " + std::to_string(size));
    Descriptor descriptor{
        .media_type = std::move(media_type),
        .digest = std::move(digest),
        .size = size,
        .urls = strings_member(value, "urls", where),
        .annotations = string_map_member(value, "annotations", where),
        .platform = optional_member(value, "platform", where, decode_platform),
        .artifact_type = string_member(value, "artifactType", where),
    };
    descriptor.unknown = leftover(value, encode_known(descriptor));
    return descriptor;
}

ImageManifest decode_manifest(const Json& value, const Where& where) {
    expect_object(value, where);
    const int version = schema_version(value, where);
    std::string media_type = string_member(value, "mediaType", where);
    if (!media_type.empty() && !is_manifest(media_type))
        where.member("mediaType")
            .fail(backticked(media_type) +
                  (is_index(media_type)
                       ? " is an index, not an image manifest"
                       : " is not an image manifest media type (" + backticked(k_oci_manifest) +
                             " or " + backticked(k_docker_manifest) + ")"));
    if (media_type.empty() && value.contains("manifests") && !value.contains("config"))
        where.fail("it has `manifests` and no `config`: an image index, not a manifest");
    Descriptor config = decode_descriptor(required(value, "config", where), where.member("config"));
    if (media_type.empty() && config.media_type == k_docker_config)
        where.member("mediaType")
            .fail("missing; a Docker schema 2 manifest (config " + backticked(k_docker_config) +
                  ") must declare " + backticked(k_docker_manifest));
    ImageManifest manifest{
        .schema_version = version,
        .media_type = std::move(media_type),
        .artifact_type = string_member(value, "artifactType", where),
        .config = std::move(config),
        .layers = descriptors_member(value, "layers", where),
        .subject = optional_member(value, "subject", where, decode_descriptor),
        .annotations = string_map_member(value, "annotations", where),
    };
    manifest.unknown = leftover(value, encode_known(manifest));
    return manifest;
}

ImageIndex decode_index(const Json& value, const Where& where) {
    expect_object(value, where);
    const int version = schema_version(value, where);
    std::string media_type = string_member(value, "mediaType", where);
    if (!media_type.empty() && !is_index(media_type))
        where.member("mediaType")
            .fail(backticked(media_type) +
                  (is_manifest(media_type)
                       ? " is an image manifest, not an index"
                       : " is not an index media type (" + backticked(k_oci_index) + " or " +
                             backticked(k_docker_manifest_list) + ")"));
    if (media_type.empty() && value.contains("config") && !value.contains("manifests"))
        where.fail("it has `config` and no `manifests`: an image manifest, not an index");
    ImageIndex index{
        .schema_version = version,
        .media_type = std::move(media_type),
        .artifact_type = string_member(value, "artifactType", where),
        .manifests = descriptors_member(value, "manifests", where),
        .subject = optional_member(value, "subject", where, decode_descriptor),
        .annotations = string_map_member(value, "annotations", where),
    };
    index.unknown = leftover(value, encode_known(index));
    return index;
}

ImageConfig decode_config(const Json& value, const Where& where) {
    expect_object(value, where);
    ImageConfig config{
        .created = time_member(value, "created", where),
        .author = string_member(value, "author", where),
        .architecture = required_string(value, "architecture", where),
        .os = required_string(value, "os", where),
        .os_version = string_member(value, "os.version", where),
        .os_features = strings_member(value, "os.features", where),
        .variant = string_member(value, "variant", where),
        .config = optional_member(value, "config", where, decode_execution_config)
                      .value_or(ExecutionConfig{}),
        .rootfs = decode_rootfs(required(value, "rootfs", where), where.member("rootfs")),
    };
    if (const Json* history = find(value, "history")) {
        const Where at = where.member("history");
        if (!history->is_array()) wrong_type(*history, at, "an array of objects");
        for (std::size_t i = 0; i < history->size(); ++i)
            config.history.push_back(decode_history_entry((*history)[i], at.element(i)));
    }
    config.unknown = leftover(value, encode_known(config));
    return config;
}

}  // namespace cbuild::registry::internal
