#pragma once
// A layer's tar read member by member: libarchive (tar formats, no filter) over a LayerStream,
// names handed over as the bytes the tar holds, each member as a LayerEntry.

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include "builder/snapshot/internal/layer_stream.h"
#include "builder/snapshot/layer_entry.h"

namespace cbuild::builder::internal {

class TarReader {
public:
    // Starts reading `stream`, which must outlive the reader; `blob` names the layer in
    // messages. Pins the C.UTF-8 locale on this thread until destroyed (libarchive converts
    // names through it; in C.UTF-8 their bytes pass as they are). Throws UnpackError when the
    // stream is not a tar, and what the stream throws.
    TarReader(LayerStream& stream, std::string blob);
    ~TarReader();
    TarReader(const TarReader&) = delete;
    TarReader& operator=(const TarReader&) = delete;

    // The next member, nullopt at the end. `path` and a hardlink's `link_target` are the names
    // as written in the tar (not cleaned); a regular file's `size` is its length; overlayfs's own
    // xattrs (trusted.overlay.*, user.overlay.*) are left out. Throws UnpackError naming the layer for a corrupt header.
    std::optional<LayerEntry> next();

    // Hands the current member's data to `write`, block by block with each block's offset (the
    // holes of a sparse member are skipped). Throws UnpackError for corrupt data, and what
    // `write` or the stream throws.
    void read_data(const std::function<void(std::uint64_t offset, std::span<const std::byte> bytes)>& write);

private:
    struct State;
    std::unique_ptr<State> m_state;
};

}  // namespace cbuild::builder::internal
