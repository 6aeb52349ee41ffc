#pragma once
// Verifies an image in an OCI image layout (our store, or an exported tarball unpacked):
// every digest and size of the manifest, config and layers, each layer's media type, and that
// each decompressed layer hashes to its diff_id in the config (go-containerregistry's
// validate.Image). Returns the problems found; empty means the image is sound.

#include <filesystem>
#include <string>
#include <vector>

namespace cbuild::test {

std::vector<std::string> check_image(const std::filesystem::path& layout, const std::string& manifest_digest);

// The digest of the manifest that index.json names `name` (or the only one when `name` is
// empty); empty when there is none.
std::string manifest_digest_in_layout(const std::filesystem::path& layout, const std::string& name);

}  // namespace cbuild::test
