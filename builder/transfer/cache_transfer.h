#pragma once
// The build cache shared between machines (`--cache-to` / `--cache-from`): the records of a
// build (step cache keys → the layers they produced) exported as one OCI artifact to a
// registry or an OCI image layout, and imported into another store, whose next build then
// hits where the exporting build did without running a step.
//
// Format (version 1). One OCI image manifest, the canonical JSON of registry::to_json:
//
//   mediaType  application/vnd.oci.image.manifest.v1+json
//   config     mediaType application/vnd.cbuild.cache.config.v1+json: the document below
//   layers     the records' layer blobs exactly as stored (same media type, digest and size:
//              never recompressed, so a registry that already holds them skips or mounts them),
//              each blob once, in the order of the first record naming it; then, with
//              cache_mounts, one application/vnd.oci.image.layer.v1.tar+gzip layer per
//              cache-mount directory (a deterministic tar of its contents, layer_writer.h)
//
// No artifactType and no annotations: the config media type names the artifact
// (image-spec: artifactType is required only with the empty config), and leaving out
// timestamps keeps the manifest a function of the records, so exporting the same records
// twice writes the same digest and uploads nothing.
//
// The config document: one JSON object, keys sorted, no whitespace.
//
//   {"cache_mounts": [{"diff_id": "sha256:…", "gid": 0, "layer": 2, "mode": 493,
//                      "name": "<64 hex: sha256 of the mount id>", "uid": 0}, …],
//    "records": [{"created": 1700000000, "description": "RUN make", "diff_id": "sha256:…",
//                 "history": "<CacheRecord::history_json, verbatim>",
//                 "inputs": [{"field": "…", "kind": "scalar" | "list", "values": ["…"]}, …],
//                 "key": "sha256:…", "last_used": 1700000300, "layer": 0,
//                 "media_type": "application/vnd.oci.image.layer.v1.tar+gzip"}, …],
//    "version": 1}
//
// Key input fields and values, descriptions and history are bytes: one that is not UTF-8 is
// written as {"base64": "<RFC 4648, padded>"} instead of a string. `layer` indexes
// manifest.layers; a record's layer digest and size are that descriptor's, and its media_type
// must equal the descriptor's. A cache mount's `name` is its directory under
// <state_dir>/cache-mounts (builder/solve/internal/run_step.cc); mode, uid and gid are that
// directory's own, which its layer (entries below the root only) cannot carry. Importers reject
// any other version, unknown record shapes, indexes out of range and duplicate keys.

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

#include "cache/cache_index.h"
#include "cache/content_store.h"
#include "common/digest.h"
#include "common/error.h"
#include "registry/client.h"

namespace cbuild::builder {

// The media type of the config blob of a cache manifest.
inline constexpr char k_cache_config_media_type[] = "application/vnd.cbuild.cache.config.v1+json";

// Where `--cache-to` writes. Like the structs of registry/image.h, every member has a default
// member initialiser, so designated initialisers may leave any out.
struct CacheExportSpec {
    enum class Type { registry, local } type = Type::registry;
    std::string ref{};              // registry: REGISTRY/REPOSITORY:TAG
    std::filesystem::path dir{};    // local: an OCI image layout (created when missing)
    std::string tag = "latest";     // local: the index.json ref.name the manifest is tagged with
    bool mode_max = false;          // mode=max: the solver passes every record, not only the result's
    bool cache_mounts = false;      // also export the RUN --mount=type=cache directories
    bool insecure = false;          // registry.insecure=true: plain HTTP or unverified TLS
};

// Where `--cache-from` reads.
struct CacheImportSpec {
    enum class Type { registry, local } type = Type::registry;
    std::string ref{};           // registry: REGISTRY/REPOSITORY:TAG or @DIGEST
    std::filesystem::path dir{}; // local: an OCI image layout
    std::string tag = "latest";  // local: the ref.name to read
    bool insecure = false;       // registry.insecure=true
};

// What an export did. For a local layout, `existed` counts blobs the layout already had and
// `uploaded` those copied into it; `mounted` is then 0.
struct CacheExportResult {
    Digest manifest;              // of the cache manifest
    std::size_t records = 0;
    std::size_t layers = 0;       // of the manifest: record layers, then cache-mount layers
    std::size_t existed = 0;
    std::size_t mounted = 0;
    std::size_t uploaded = 0;
};

// Exports `records` (each layer must be in `store`) as the manifest described at the top of
// this file: to spec.ref through `client` (blobs the registry has are skipped, blobs another
// repository of the registry holds by a stored tag are mounted, the manifest last), or into
// the layout at spec.dir tagged spec.tag (blobs first, index.json last). With
// spec.cache_mounts, each cache-mount directory of `cache_mounts_dir` (a missing one: none)
// becomes a layer, written to a temporary file of the store that is dropped afterwards. Throws
// cbuild::Error naming the record when a layer is missing from the store or differs from its
// record, registry::RegistryError naming the reference when the registry refuses, IoError for
// the layout or a cache-mount directory; nothing is tagged then.
CacheExportResult export_cache(registry::Client& client, cache::ContentStore& store,
                               const std::vector<cache::CacheRecord>& records,
                               const std::filesystem::path& cache_mounts_dir, const CacheExportSpec& spec);

// Imports the cache at spec.ref or spec.dir:spec.tag: the manifest and the config (digests
// verified); for each record whose key `index` lacks (a key it has keeps its local record, and
// find() marks it used), its layer blob unless `store` has it (verified into it); each cache
// mount into `cache_mounts_dir`/NAME when that directory is missing or empty (unpacked confined
// to a new directory, its diff_id checked, then renamed into place); then those records into
// `index`, keeping their created and last_used. Returns the number of records the cache holds;
// 0 when there is no cache there (no such manifest, repository, layout or tag: a first build).
// Throws cbuild::Error naming the reference for anything else (registry::RegistryError for a
// refusal, e.g. 401 on a private repository): an artifact that is no cbuild cache, a config that
// breaks the format, a blob that does not match; IoError naming the path when the local store
// or a cache-mount directory fails. Nothing is put into `index` unless every record is valid and
// every layer is in `store`.
std::size_t import_cache(registry::Client& client, cache::ContentStore& store, cache::CacheIndex& index,
                         const std::filesystem::path& cache_mounts_dir, const CacheImportSpec& spec);

}  // namespace cbuild::builder
