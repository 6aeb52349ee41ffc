#pragma once
// Cache keys of build steps, computed before any work (BuildKit's Op::CacheMap, kept apart from
// doing the step). A key chains through the steps that make layers: the base (scratch, an image
// by manifest digest, or an earlier stage's last key), then each COPY/ADD/RUN/WORKDIR with what
// it reads. Metadata instructions are not links of the chain, but what they set and a step uses
// (ENV, USER, WORKDIR, SHELL) is in that step's key, so a LABEL change never costs a rebuild,
// as in BuildKit.

#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "builder/snapshot/layer_entry.h"
#include "cache/cache_key.h"
#include "cache/file_hash_index.h"
#include "common/digest.h"
#include "registry/image.h"

namespace cbuild::builder::internal {

// A step's key with the inputs that made it. `files` lists, for COPY/ADD, one line per file
// (path, type, mode, owner, size, link target, xattrs and content digest; never mtime, as
// BuildKit's contenthash), sorted by path: kept beside the cache record so that a miss can name
// the files that changed.
struct StepKey {
    cache::CacheKeyBuilder inputs;
    Digest key = sha256_of("");
    std::vector<std::string> files;
};

Digest scratch_key(const Platform& platform);
Digest image_key(const registry::Descriptor& manifest, const Platform& platform);

// COPY/ADD: the parent key, the instruction as BuildKit's history prints it (sources, dest,
// flags), the working directory, and the content of every entry the copy makes. Sets each
// regular file's content.digest to the digest the key used.
StepKey copy_key(const Digest& parent, const std::string& instruction_text, const std::string& working_dir,
                 std::vector<LayerEntry>& entries, cache::FileHashIndex& hashes);

// RUN: the parent key, argv, the environment the process gets (proxy variables and secrets
// excluded), user, working directory, network and security, and one line per mount (type,
// target, options, and what its source is: a context path's content, a stage's key, an image's
// digest; cache, secret and ssh mounts by id only).
StepKey run_key(const Digest& parent, const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::string& user, const std::string& working_dir, const std::string& network_and_security,
                const std::vector<std::string>& mounts);

// WORKDIR: the parent key, the path and the user that owns what it creates.
StepKey workdir_key(const Digest& parent, const std::string& path, const std::string& user);

// The content digest of a context path for a bind mount's key: a file's bytes, or a directory's
// every entry (path, type, mode, owner, size, link, content) below it.
Digest context_path_digest(const std::filesystem::path& path, cache::FileHashIndex& hashes);

// Why a step missed, from the record of its previous key: one line per changed input, and for
// files the paths that were added, removed or changed.
std::vector<std::string> miss_reasons(const cache::CacheKeyBuilder& before, const std::vector<std::string>& before_files,
                                      const StepKey& now);

}  // namespace cbuild::builder::internal
