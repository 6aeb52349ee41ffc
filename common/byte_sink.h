#pragma once
// Where streamed bytes go: a blob being written into the content store, a file, a hasher.
// Producers (the layer writer, exporters) write to a ByteSink without knowing which.

#include <cstddef>
#include <span>
#include <string_view>

namespace cbuild {

class ByteSink {
public:
    virtual ~ByteSink() = default;
    // Appends `bytes`. Throws cbuild::Error (usually IoError) when they cannot be kept.
    virtual void write(std::span<const std::byte> bytes) = 0;

    void write(std::string_view text) {
        write(std::span<const std::byte>(reinterpret_cast<const std::byte*>(text.data()), text.size()));
    }
};

}  // namespace cbuild
