#pragma once
// The text framing of the cache index's small files (records and step keys; the format is
// documented in cache/cache_index.h): a magic line, lines of length-framed values, and a
// trailing checksum, so any byte string round-trips and a torn or edited file is detected.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::cache {

// One line: a name and its values, each value any bytes.
struct FramedLine {
    std::string name;
    std::vector<std::string> values;

    friend bool operator==(const FramedLine&, const FramedLine&) = default;
};

// `magic`, a newline, the lines, then the checksum line. Names must be non-empty and free of
// spaces and newlines (they are ours, not data).
std::string encode_framed_lines(std::string_view magic, const std::vector<FramedLine>& lines);

// The lines of `text`, or nullopt unless it is exactly what encode_framed_lines(magic, …) makes:
// another magic, a bad frame, a checksum mismatch or bytes after the checksum line all reject it.
std::optional<std::vector<FramedLine>> decode_framed_lines(std::string_view magic, std::string_view text);

}  // namespace cbuild::cache
