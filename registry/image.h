#pragma once
// The OCI image model (image-spec v1.1) and Docker's image manifest v2 schema 2: descriptors,
// manifests, indexes (manifest lists) and image configs as plain values, parsed strictly and
// written in one canonical form, plus pure helpers that grow an image (go-containerregistry
// `mutate`): every change returns a new value.
//
// Wire format written by to_json (the bytes whose sha256 names the document):
//   - keys sorted bytewise at every level, no insignificant whitespace;
//   - strings escaped as Go's encoding/json does: `<`, `>`, `&`, U+2028 and U+2029 as \uXXXX,
//     control characters as \n, \t … or \u00XX, invalid UTF-8 as U+FFFD;
//   - a key is omitted exactly where the spec's Go type says `omitempty` and the value is empty
//     (see each struct), with one exception: an engaged Entrypoint or Cmd is written even when
//     empty, because Docker tells `[]` from null (below);
//   - keys the model does not know, at any level, are kept and written back unchanged, and so
//     is a known key that the input spelled with its empty value (`"User": ""`,
//     `"Entrypoint": null`) while the model still holds that empty value. Hence
//     to_json(parse(x)) == x for any x already in this form, e.g. a config Docker wrote.
// Re-serialising a document pulled from a registry may still change its bytes (Docker and
// BuildKit do not sort keys): keep the original bytes to verify or re-push by digest.

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/digest.h"
#include "common/error.h"

namespace cbuild::registry {

namespace internal {
struct UnknownFieldsAccess;
}

// Media types (image-spec media-types.md; distribution's manifest/schema2 and manifestlist).
inline constexpr char k_oci_manifest[] = "application/vnd.oci.image.manifest.v1+json";
inline constexpr char k_oci_index[] = "application/vnd.oci.image.index.v1+json";
inline constexpr char k_oci_config[] = "application/vnd.oci.image.config.v1+json";
inline constexpr char k_oci_empty[] = "application/vnd.oci.empty.v1+json";
inline constexpr char k_oci_layer[] = "application/vnd.oci.image.layer.v1.tar";
inline constexpr char k_oci_layer_gzip[] = "application/vnd.oci.image.layer.v1.tar+gzip";
inline constexpr char k_oci_layer_zstd[] = "application/vnd.oci.image.layer.v1.tar+zstd";
// Deprecated by image-spec v1.1, still found in Windows images.
inline constexpr char k_oci_layer_nondistributable[] =
    "application/vnd.oci.image.layer.nondistributable.v1.tar";
inline constexpr char k_oci_layer_nondistributable_gzip[] =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip";
inline constexpr char k_oci_layer_nondistributable_zstd[] =
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd";
inline constexpr char k_docker_manifest[] = "application/vnd.docker.distribution.manifest.v2+json";
inline constexpr char k_docker_manifest_list[] =
    "application/vnd.docker.distribution.manifest.list.v2+json";
inline constexpr char k_docker_config[] = "application/vnd.docker.container.image.v1+json";
inline constexpr char k_docker_layer[] = "application/vnd.docker.image.rootfs.diff.tar";
inline constexpr char k_docker_layer_gzip[] = "application/vnd.docker.image.rootfs.diff.tar.gzip";
inline constexpr char k_docker_foreign_layer[] =
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip";

// True for an image manifest type: k_oci_manifest or k_docker_manifest.
bool is_manifest(std::string_view media_type);
// True for an index type: k_oci_index or k_docker_manifest_list.
bool is_index(std::string_view media_type);
// True for an image config type: k_oci_config or k_docker_config.
bool is_config(std::string_view media_type);
// True for any layer type above (OCI plain/gzip/zstd, non-distributable, Docker, foreign).
bool is_layer(std::string_view media_type);

// A document that is not a valid manifest, index, config or descriptor. The message is
// "invalid DOCUMENT: `FIELD`: reason" (the field part left out when the whole document is at
// fault), e.g. "invalid image manifest: `layers[1].digest`: invalid digest `sha256:12`: …".
class ImageFormatError : public Error {
public:
    ImageFormatError(std::string document, std::string field, const std::string& reason);

    // "image manifest", "image index", "image config", "descriptor", "image".
    const std::string& document() const { return m_document; }
    // The JSON path of the offending value ("config.Healthcheck.Interval"); empty for the
    // document as a whole.
    const std::string& field() const { return m_field; }

private:
    std::string m_document;
    std::string m_field;
};

// The JSON members of one object that the model has no field for, kept so that a document
// from another tool survives a round trip (`container_config`, `docker_version`, a platform's
// `features`, a descriptor's `data`). Also holds known keys the input spelled with their empty
// value; to_json writes a model field over a key of the same name here whenever the model
// would write that key. A value type: copies are deep, and comparison is by JSON value.
class UnknownFields {
public:
    UnknownFields();
    ~UnknownFields();
    UnknownFields(const UnknownFields& other);
    UnknownFields& operator=(const UnknownFields& other);
    UnknownFields(UnknownFields&& other) noexcept;
    UnknownFields& operator=(UnknownFields&& other) noexcept;

    bool empty() const;
    // The member names, sorted.
    std::vector<std::string> names() const;
    // The member's value as canonical JSON text, or nullopt when there is no such member.
    std::optional<std::string> get(std::string_view name) const;
    // Adds or replaces a member. Throws ImageFormatError if `json` is not one JSON value.
    void set(std::string_view name, std::string_view json);
    // Removes a member; removing an absent one does nothing.
    void erase(std::string_view name);

    friend bool operator==(const UnknownFields& a, const UnknownFields& b);

private:
    friend struct internal::UnknownFieldsAccess;
    // Holds an nlohmann::json object, so that no JSON library type appears in this header.
    // Null when there are no members, so empty values cost no allocation.
    struct Members;
    std::unique_ptr<Members> m_members;
};

// The structs below are aggregates meant for designated initialisers
// (`Descriptor{.media_type = k_oci_layer_gzip, .digest = d, .size = n}`); every member has a
// default member initialiser so that leaving members out does not trip
// -Wmissing-field-initializers.

// The platform an image runs on. JSON: architecture, os (both always written), os.version,
// os.features, variant (omitempty).
struct Platform {
    std::string architecture{};
    std::string os{};
    std::string os_version{};
    std::vector<std::string> os_features{};
    std::string variant{};
    UnknownFields unknown{};

    friend bool operator==(const Platform&, const Platform&) = default;
};

// A reference to content by media type, digest and size. JSON: mediaType, digest, size (always
// written; parsing requires them), urls, annotations, platform, artifactType (omitempty).
struct Descriptor {
    std::string media_type{};
    Digest digest;
    std::int64_t size = 0;
    std::vector<std::string> urls{};
    std::map<std::string, std::string> annotations{};
    std::optional<Platform> platform{};
    std::string artifact_type{};
    UnknownFields unknown{};

    friend bool operator==(const Descriptor&, const Descriptor&) = default;
};

// An image manifest, OCI (media_type k_oci_manifest, or empty as image-spec before 1.0.2
// allowed) or Docker schema 2 (k_docker_manifest). JSON: schemaVersion, config, layers (always
// written); mediaType, artifactType, subject, annotations (omitempty).
struct ImageManifest {
    int schema_version = 2;
    std::string media_type{};
    std::string artifact_type{};
    Descriptor config;
    std::vector<Descriptor> layers{};  // base layer first; digests of the compressed blobs
    std::optional<Descriptor> subject{};
    std::map<std::string, std::string> annotations{};
    UnknownFields unknown{};

    friend bool operator==(const ImageManifest&, const ImageManifest&) = default;
};

// An image index (k_oci_index) or Docker manifest list (k_docker_manifest_list). JSON:
// schemaVersion, manifests (always written); mediaType, artifactType, subject, annotations
// (omitempty).
struct ImageIndex {
    int schema_version = 2;
    std::string media_type{};
    std::string artifact_type{};
    std::vector<Descriptor> manifests{};
    std::optional<Descriptor> subject{};
    std::map<std::string, std::string> annotations{};
    UnknownFields unknown{};

    friend bool operator==(const ImageIndex&, const ImageIndex&) = default;
};

// Docker's HEALTHCHECK (docker-image-spec HealthcheckConfig). Every field is omitempty; a zero
// duration or retry count means "inherit". JSON durations are integer nanoseconds.
struct Healthcheck {
    // {} inherit, {"NONE"} disable, {"CMD", args…}, {"CMD-SHELL", command}.
    std::vector<std::string> test{};
    std::chrono::nanoseconds interval{0};
    std::chrono::nanoseconds timeout{0};
    std::chrono::nanoseconds start_period{0};
    std::chrono::nanoseconds start_interval{0};
    int retries = 0;
    UnknownFields unknown{};

    friend bool operator==(const Healthcheck&, const Healthcheck&) = default;
};

// The execution parameters of an image config (its `config` member): the OCI ImageConfig plus
// Docker's Healthcheck, OnBuild and Shell. Every field is omitempty, in JSON spelled as the
// member names in the comments.
struct ExecutionConfig {
    std::string user{};                     // User
    std::set<std::string> exposed_ports{};  // ExposedPorts {"80/tcp": {}}
    std::vector<std::string> env{};         // Env ["K=V"]
    // Entrypoint and Cmd: nullopt when absent or null; an engaged empty vector is written as
    // `[]`, because Docker distinguishes `ENTRYPOINT []` (cleared) from never set.
    std::optional<std::vector<std::string>> entrypoint{};
    std::optional<std::vector<std::string>> cmd{};
    std::set<std::string> volumes{};              // Volumes {"/data": {}}
    std::string working_dir{};                    // WorkingDir
    std::map<std::string, std::string> labels{};  // Labels
    std::string stop_signal{};                    // StopSignal
    bool args_escaped = false;                    // ArgsEscaped (Windows; deprecated by OCI)
    std::optional<Healthcheck> healthcheck{};     // Healthcheck; engaged is written even if empty
    std::vector<std::string> on_build{};          // OnBuild
    std::vector<std::string> shell{};             // Shell
    UnknownFields unknown{};  // e.g. Hostname, Image, AttachStdin from Docker's container config

    friend bool operator==(const ExecutionConfig&, const ExecutionConfig&) = default;
};

// The layers of an image, as uncompressed-tar digests. JSON: type, diff_ids (always written).
struct RootFs {
    std::string type = "layers";
    std::vector<Digest> diff_ids{};  // base layer first; never the compressed blob digests
    UnknownFields unknown{};

    friend bool operator==(const RootFs&, const RootFs&) = default;
};

// One build step. JSON: created, created_by, author, comment, empty_layer (all omitempty).
struct HistoryEntry {
    std::string created{};  // RFC 3339, kept verbatim
    std::string created_by{};
    std::string author{};
    std::string comment{};
    bool empty_layer = false;  // true when the step made no layer
    UnknownFields unknown{};

    friend bool operator==(const HistoryEntry&, const HistoryEntry&) = default;
};

// An image config (k_oci_config or k_docker_config). JSON: architecture, os, config, rootfs
// (always written); created, author, os.version, os.features, variant, history (omitempty).
struct ImageConfig {
    std::string created{};  // RFC 3339, kept verbatim
    std::string author{};
    std::string architecture{};
    std::string os{};
    std::string os_version{};
    std::vector<std::string> os_features{};
    std::string variant{};
    ExecutionConfig config{};
    RootFs rootfs{};
    std::vector<HistoryEntry> history{};  // one entry per step, layers and empty_layer steps
    UnknownFields unknown{};              // e.g. container, container_config, docker_version

    friend bool operator==(const ImageConfig&, const ImageConfig&) = default;
};

// Parse one document. Each throws ImageFormatError for input that is not JSON (or is nested
// over 1000 levels deep), a wrong JSON type for a known field, a missing required field, a
// malformed digest or RFC 3339 time, a negative size, or a schemaVersion other than 2.
// parse_manifest also rejects a mediaType that is not a manifest type, an index, and a Docker
// manifest (its config is k_docker_config) without a mediaType; parse_index likewise rejects
// a non-index mediaType and a manifest. parse_config requires architecture, os, and rootfs
// with type "layers".
ImageManifest parse_manifest(std::string_view json);
ImageIndex parse_index(std::string_view json);
ImageConfig parse_config(std::string_view json);
Descriptor parse_descriptor(std::string_view json);

// The canonical JSON of a value (see the top of this file). Never throws for a valid value;
// the same value always gives the same bytes.
std::string to_json(const ImageManifest& manifest);
std::string to_json(const ImageIndex& index);
std::string to_json(const ImageConfig& config);
std::string to_json(const Descriptor& descriptor);

// A descriptor of `bytes`: the given media type, their sha256 and their length.
Descriptor digest_of(std::string_view bytes, std::string media_type);

// `manifest` with its config descriptor's digest and size set to those of to_json(config);
// the config descriptor's media type and annotations are kept, embedded `data` dropped.
ImageManifest with_config(ImageManifest manifest, const ImageConfig& config);

// Adds a layer on top of an image: `layer` to the manifest's layers, `diff_id` to the config's
// rootfs, `history` (empty_layer forced false) to the config's history, and the manifest's
// config descriptor refreshed as with_config. When the history describes fewer layers than
// the image has (a base image built without history), blank entries are first inserted at
// the front for the missing ones, as BuildKit's exporter does. Throws ImageFormatError if
// `layer` does not have a layer media type, or if the image is already inconsistent: layer
// count differs from diff_id count, or history describes more layers than exist.
std::pair<ImageManifest, ImageConfig> append_layer(ImageManifest manifest, ImageConfig config,
                                                   Descriptor layer, Digest diff_id,
                                                   HistoryEntry history);

// `config` with `history` (empty_layer forced true) appended: a step that changed only
// metadata (ENV, CMD, LABEL…). The manifest's config descriptor is then stale: see with_config.
ImageConfig add_history(ImageConfig config, HistoryEntry history);

}  // namespace cbuild::registry
