#pragma once
// What the store's tags keep alive: the blobs index.json reaches, directly or through manifests
// and indexes. GC never removes one of them.

#include <unordered_set>

#include "cache/content_store.h"
#include "common/digest.h"

namespace cbuild::cache {

// The digests of every blob index.json reaches: each of its entries, named (a tag) or not, and
// through every manifest or index among them (OCI or Docker media types, or a descriptor without
// a media type whose blob is JSON) every descriptor inside: config, layers, manifests, subject.
// Blobs the store lacks are in the set too (an index's other platforms). index.json is read
// under the store's shared lock. Throws cbuild::Error naming the blob when a reached manifest
// or index is corrupt or not JSON, because what it reaches is then unknown.
std::unordered_set<Digest> blobs_reached_by_tags(const ContentStore& store);

}  // namespace cbuild::cache
