#pragma once
// Runs a plan: each needed stage, in order, from its base (scratch, an earlier stage, or an
// image in the local store) through its instructions: metadata into the image config,
// COPY/ADD/WORKDIR into layers written once, compressed, into the content store. The result is
// the target stage's image, stored by digest (tagging and exporting are the caller's).
// Steps run one after another; parallel, cached solving replaces this loop later.

#include <filesystem>
#include <functional>
#include <map>
#include <set>
#include <optional>
#include <string>

#include "builder/plan/plan.h"
#include "builder/sandbox/sandbox.h"
#include "builder/solve/progress_event.h"
#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_writer.h"
#include "cache/content_store.h"
#include "parser/dockerignore.h"
#include "registry/image.h"

namespace cbuild::builder {

// Where a `--secret id=…` comes from: a file, or an environment variable of cbuild's.
struct SecretSource {
    std::filesystem::path file;
    std::string env;  // set: read this variable instead of `file`
};

// What every RUN's sandbox gets from the build's flags; each one set is part of every RUN's
// cache key, as BuildKit keeps them in the ExecOp.
struct RunOptions {
    std::vector<std::pair<std::string, std::string>> extra_hosts;  // --add-host: host, IP (/etc/hosts)
    parser::NetworkMode network = parser::NetworkMode::default_;  // --network: for RUN without its own
    std::int64_t shm_size = 0;                                    // --shm-size in bytes; 0: 64 MiB
    std::vector<SandboxRlimit> ulimits;                           // --ulimit
};

struct SolveOptions {
    std::filesystem::path context_dir;
    parser::PatternMatcher context_ignore;  // the build's .dockerignore
    LayerOptions layers;                    // compression, level, SOURCE_DATE_EPOCH
    std::optional<std::int64_t> source_date_epoch;
    std::map<std::string, SecretSource> secrets;                 // `--secret`, by id
    std::map<std::string, std::filesystem::path> ssh_sockets;    // `--ssh`, id → agent socket
    RunOptions run;                                              // --add-host, --network, --shm-size, --ulimit
    // Where snapshots and cache mounts live; empty means beside the store (<root>/snapshots,
    // <root>/cache-mounts).
    std::filesystem::path state_dir;
    // Receives each layer step's start, cache decision (a miss with its reasons), RUN output as
    // it comes, and end; from several threads at once when stages run in parallel. May be empty.
    ProgressSink progress;
    bool explain = false;                      // --explain: every miss reason, not only the first three
    bool no_cache = false;                     // --no-cache
    std::set<std::string> no_cache_filter;     // --no-cache-filter: stages (by name) not to take from the cache
    std::size_t jobs = 1;                      // --jobs: stages built at once
    bool need_filesystem = false;              // BuiltImage::filesystem is wanted (local/tar export)
};

// The target stage's image, with its blobs in the store.
struct BuiltImage {
    registry::ImageManifest manifest;
    registry::ImageConfig config;
    registry::Descriptor manifest_descriptor;  // of the stored manifest
    FileTree filesystem;                       // the final root filesystem (when asked for)
    // The cache keys of the layer steps: of the target's chain (what --cache-to mode=min
    // exports) and of every stage built (mode=max).
    std::vector<Digest> target_step_keys;
    std::vector<Digest> all_step_keys;
    // Keeps alive the temporary files `filesystem` refers to (unpacked ADD archives, base
    // image contents) until the last copy of this value goes.
    std::shared_ptr<const void> resources;
};

// Throws cbuild::ParseError naming the Dockerfile line of the instruction that failed (a missing
// COPY source, an unknown --chown user, RUN, which needs the sandbox this version lacks), or
// cbuild::Error for a base image that is not in the local store. A failed build adds nothing to
// the store (layers are committed only once every step has succeeded) and touches no tag.
BuiltImage solve(const Plan& plan, const SolveOptions& options, cache::ContentStore& store);

// The image config and manifest of `name` (a tag in the store, or a digest), or nullopt. An
// index is resolved to the manifest for `platform`.
struct StoredImage {
    registry::ImageManifest manifest;
    registry::ImageConfig config;
    registry::Descriptor manifest_descriptor;
};
std::optional<StoredImage> load_stored_image(const cache::ContentStore& store, const std::string& name,
                                             const Platform& platform);

}  // namespace cbuild::builder
