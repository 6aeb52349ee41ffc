#pragma once
// Where a push can mount a blob from instead of uploading it: another repository of the same
// registry that a tag of the local store says holds it.

#include <map>
#include <string>

#include "cache/content_store.h"
#include "common/digest.h"
#include "registry/reference.h"

namespace cbuild::builder::internal {

// Blob digest → a repository of `domain` that a stored tag names and whose manifest lists the
// blob as a layer. Tags that are not references, or whose manifest is missing, are skipped.
std::map<Digest, registry::Reference> mount_sources(const cache::ContentStore& store, const std::string& domain);

}  // namespace cbuild::builder::internal
