#include "cache/internal/framed_lines.h"

#include <charconv>

#include "common/digest.h"

namespace cbuild::cache {

namespace {

constexpr std::string_view k_checksum_name = "checksum";

void append_netstring(std::string& out, std::string_view bytes) {
    out += std::to_string(bytes.size());
    out += ':';
    out += bytes;
}

// Reads the file front to back; every read either consumes exactly what it expects or fails.
class Cursor {
public:
    explicit Cursor(std::string_view text) : m_text(text) {}

    bool at_end() const { return m_position == m_text.size(); }
    std::size_t position() const { return m_position; }

    bool take(char expected) {
        if (at_end() || m_text[m_position] != expected) return false;
        ++m_position;
        return true;
    }
    bool take(std::string_view expected) {
        if (m_text.substr(m_position, expected.size()) != expected) return false;
        m_position += expected.size();
        return true;
    }
    // A line's name: the bytes up to the next space or newline, at least one.
    std::optional<std::string_view> name() {
        const std::size_t end = m_text.find_first_of(" \n", m_position);
        if (end == std::string_view::npos || end == m_position) return std::nullopt;
        const std::string_view out = m_text.substr(m_position, end - m_position);
        m_position = end;
        return out;
    }
    std::optional<std::string_view> netstring() {
        std::size_t length = 0;
        const char* begin = m_text.data() + m_position;
        const char* end = m_text.data() + m_text.size();
        const auto [digits_end, error] = std::from_chars(begin, end, length);
        // One spelling per length: no sign, no leading zero, so the checksum is the only check
        // that must catch an edit.
        if (error != std::errc() || digits_end == begin || (*begin == '0' && digits_end - begin > 1))
            return std::nullopt;
        m_position += static_cast<std::size_t>(digits_end - begin);
        if (!take(':') || m_text.size() - m_position < length) return std::nullopt;
        const std::string_view out = m_text.substr(m_position, length);
        m_position += length;
        return out;
    }

private:
    std::string_view m_text;
    std::size_t m_position = 0;
};

}  // namespace

std::string encode_framed_lines(std::string_view magic, const std::vector<FramedLine>& lines) {
    std::string out(magic);
    out += '\n';
    for (const FramedLine& line : lines) {
        out += line.name;
        for (const std::string& value : line.values) {
            out += ' ';
            append_netstring(out, value);
        }
        out += '\n';
    }
    const std::string checksum = sha256_of(out).hex();
    out += k_checksum_name;
    out += ' ';
    append_netstring(out, checksum);
    out += '\n';
    return out;
}

std::optional<std::vector<FramedLine>> decode_framed_lines(std::string_view magic, std::string_view text) {
    Cursor cursor(text);
    if (!cursor.take(magic) || !cursor.take('\n')) return std::nullopt;
    std::vector<FramedLine> lines;
    while (true) {
        const std::size_t line_start = cursor.position();
        const auto name = cursor.name();
        if (!name) return std::nullopt;
        FramedLine line{std::string(*name), {}};
        while (cursor.take(' ')) {
            const auto value = cursor.netstring();
            if (!value) return std::nullopt;
            line.values.emplace_back(*value);
        }
        if (!cursor.take('\n')) return std::nullopt;
        if (line.name != k_checksum_name) {
            lines.push_back(std::move(line));
            continue;
        }
        const bool intact = line.values.size() == 1 && cursor.at_end() &&
                            line.values[0] == sha256_of(text.substr(0, line_start)).hex();
        if (!intact) return std::nullopt;
        return lines;
    }
}

}  // namespace cbuild::cache
