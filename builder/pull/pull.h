#pragma once
// Pulling an image from a registry into the local store: the manifest for the platform, its
// config and layers streamed into the store with digests and sizes verified, then the tag.
// Blobs already in the store are not fetched again.

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
// nothing half-downloaded is kept and no tag is changed.
PullResult pull_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                      const Platform& platform);

// The image from the local store, pulled first when it is not there (Docker's default
// `--pull=missing`). Throws as pull_image does.
StoredImage ensure_image(registry::Client& client, cache::ContentStore& store, const registry::Reference& reference,
                         const Platform& platform);

}  // namespace cbuild::builder
