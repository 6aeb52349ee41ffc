#pragma once
// Where a gzip layer's members begin and end, and each member's fingerprint: the cut rule and
// the fingerprint layer_members.h describes.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "builder/snapshot/layer_entry.h"
#include "common/digest.h"

namespace cbuild::builder::internal {

// Entries [begin, end) of the ordered layer.
struct PlannedMember {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::optional<Digest> fingerprint;  // none when a regular file's content digest is unknown
};

// The members of the layer made of `ordered` (layer order), covering every entry, each holding
// at least one. The end-of-archive blocks are not in any: the writer gives them a member of
// their own, so the last entries' member stays reusable. `mtime_clamp` is the writer's.
std::vector<PlannedMember> plan_members(const std::vector<LayerEntry>& ordered, std::optional<std::int64_t> mtime_clamp);

}  // namespace cbuild::builder::internal
