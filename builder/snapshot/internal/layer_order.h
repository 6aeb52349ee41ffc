#pragma once
// The order and shape of a layer's tar entries: paths checked, whiteouts turned into their
// `.wh.` files, everything sorted, hardlink groups arranged so the content comes first.

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder::internal {

// Negative, zero or positive as `a` sorts before, with or after `b` in a layer: component by
// component (so "a/b" < "a-b" and a parent precedes its children), and within one directory
// `.wh..wh..opq` first, then other `.wh.` names, then the rest, each group bytewise.
int compare_layer_paths(std::string_view a, std::string_view b);

// The entries of the tar, in order. Throws LayerError for a malformed or duplicate path, a
// component starting with `.wh.` in an entry, a hardlink cycle or a hardlink to a directory.
// Whiteouts become empty regular files of mode 0 owned by 0:0, with mtime `whiteout_mtime`.
std::vector<LayerEntry> order_layer(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts,
                                    std::int64_t whiteout_mtime);

}  // namespace cbuild::builder::internal
