#pragma once
// Images between the local store and registries. Pull: the manifest for the platform, its
// config and layers streamed into the store with digests and sizes verified, then the tag
// (blobs already in the store are not fetched again). Push: the blobs as stored (already
// compressed, never rebuilt), in parallel, then the manifest.

#include <functional>
#include <string>

#include "builder/plan/plan.h"
#include "builder/solve/solve.h"
#include "cache/content_store.h"
#include "registry/client.h"
#include "registry/reference.h"

namespace cbuild::builder {

struct PullResult {
    StoredImage image;
    std::string tag;                 // the name it is stored under (familiar form)
    std::uint64_t fetched_bytes = 0;  // blob bytes downloaded (0 when all were present)
};

// Pulls `reference` for `platform` and tags it in `store` under its familiar name
// (`ubuntu:22.04`, `repo/img@sha256:…`). Throws registry::RegistryError
// naming the reference (not found, denied, a blob that does not match its digest), after which
// nothing half-downloaded is kept and no tag is changed. `progress` (when set) gets the pull as
// one step, "pull REF", with the bytes of each blob fetched.
PullResult pull_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                      const Platform& platform, const ProgressSink& progress = {});

// The image from the local store, pulled first when it is not there (Docker's default
// `--pull=missing`). Throws as pull_image does.
StoredImage ensure_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                         const Platform& platform, const ProgressSink& progress = {});

struct PushResult {
    Digest digest;  // of the manifest
    std::size_t existed = 0;
    std::size_t mounted = 0;
    std::size_t uploaded = 0;
};

// Pushes the stored manifest `image` (a tag entry, or the descriptor of a build result) to
// every reference of `targets`. A blob the registry lacks is uploaded from the store, or
// mounted from another repository of the same registry that a stored tag says holds it.
// Throws cbuild::Error when the manifest is not in the store, registry::RegistryError naming
// the reference when the registry refuses; no manifest is written unless all its blobs are in
// place. `progress` (when set) gets the push as one step, "push REF", with the bytes of each
// blob read for upload (from several threads).
PushResult push_image(registry::Client& client, const cache::ContentStore& store, const cache::TagEntry& image,
                      const std::vector<registry::Reference>& targets, unsigned parallelism = 4,
                      const ProgressSink& progress = {});

}  // namespace cbuild::builder
