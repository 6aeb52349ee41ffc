#include "parser/internal/lint_text.h"

#include <algorithm>
#include <array>
#include <cctype>

namespace cbuild::parser::internal {

namespace {

bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        const std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

// A path component: [a-z0-9]+ joined by `.`, `_`, `__` or runs of `-`.
bool is_path_component(std::string_view text) {
    if (text.empty() || !is_lower_alnum(text.front()) || !is_lower_alnum(text.back())) return false;
    for (std::size_t i = 0; i < text.size();) {
        if (is_lower_alnum(text[i])) {
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_lower_alnum(text[end])) ++end;
        const std::string_view separator = text.substr(i, end - i);
        const bool dashes = separator.find_first_not_of('-') == std::string_view::npos;
        if (!(separator == "." || separator == "_" || separator == "__" || dashes)) return false;
        i = end;
    }
    return true;
}

bool is_domain(std::string_view text) {
    if (text.size() > 2 && text.front() == '[') {  // an IPv6 address, optionally with a port
        const std::size_t close = text.find(']');
        if (close == std::string_view::npos) return false;
        const std::string_view rest = text.substr(close + 1);
        return rest.empty() || (rest.size() > 1 && rest[0] == ':' &&
                                std::all_of(rest.begin() + 1, rest.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }));
    }
    const std::size_t colon = text.find(':');
    const std::string_view host = text.substr(0, colon);
    if (colon != std::string_view::npos) {
        const std::string_view port = text.substr(colon + 1);
        if (port.empty() || !std::all_of(port.begin(), port.end(), [](char c) { return std::isdigit(static_cast<unsigned char>(c)); }))
            return false;
    }
    for (std::string_view label : split(host, '.')) {
        if (label.empty() || !is_alnum(label.front()) || !is_alnum(label.back())) return false;
        for (char c : label)
            if (!is_alnum(c) && c != '-') return false;
    }
    return true;
}

bool is_tag(std::string_view text) {
    const auto word = [](char c) { return is_alnum(c) || c == '_'; };
    if (text.empty() || text.size() > 128 || !word(text[0])) return false;
    return std::all_of(text.begin(), text.end(), [&](char c) { return word(c) || c == '.' || c == '-'; });
}

bool is_digest(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos || colon == 0) return false;
    const std::string_view hex = text.substr(colon + 1);
    return hex.size() >= 32 && std::all_of(hex.begin(), hex.end(), [](char c) {
               return std::isxdigit(static_cast<unsigned char>(c)) != 0;
           });
}

std::string lowered(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

bool is_valid_image_reference(std::string_view text) {
    if (text.empty()) return false;
    const std::size_t at = text.find('@');
    if (at != std::string_view::npos) {
        if (!is_digest(text.substr(at + 1))) return false;
        text = text.substr(0, at);
    }
    const std::size_t slash = text.rfind('/');
    const std::size_t colon = text.rfind(':');
    if (colon != std::string_view::npos && (slash == std::string_view::npos || colon > slash)) {
        if (!is_tag(text.substr(colon + 1))) return false;
        text = text.substr(0, colon);
    }
    if (text.empty() || text.size() > 255) return false;
    std::vector<std::string_view> components = split(text, '/');
    const std::string_view first = components.front();
    if (components.size() > 1 &&
        (first.find_first_of(".:") != std::string_view::npos || first == "localhost" || lowered(first) != first)) {
        if (!is_domain(first)) return false;
        components.erase(components.begin());
    }
    return std::all_of(components.begin(), components.end(), is_path_component);
}

std::optional<PlatformParts> parse_platform(std::string_view text, std::string_view host_architecture) {
    static const std::array<std::pair<std::string_view, std::string_view>, 8> k_aliases = {{
        {"x86_64", "amd64"}, {"x86-64", "amd64"}, {"aarch64", "arm64"}, {"armhf", "arm"},
        {"armel", "arm"}, {"i386", "386"}, {"i486", "386"}, {"i686", "386"}}};
    static const std::array<std::string_view, 12> k_architectures = {
        "amd64", "arm64", "arm", "386", "ppc64le", "ppc64", "s390x", "riscv64", "mips64le", "mips64", "loong64", "wasm"};
    const std::vector<std::string_view> parts = split(text, '/');
    if (parts.size() > 3) return std::nullopt;
    for (std::string_view part : parts) {
        if (part.empty()) return std::nullopt;
        for (char c : part)
            if (!is_alnum(c) && c != '_' && c != '-') return std::nullopt;
    }
    const auto normalise = [&](std::string_view arch) {
        std::string out = lowered(arch);
        for (const auto& [alias, name] : k_aliases)
            if (out == alias) return std::string(name);
        return out;
    };
    if (parts.size() == 1) {
        const std::string arch = normalise(parts[0]);
        if (std::find(k_architectures.begin(), k_architectures.end(), arch) != k_architectures.end())
            return PlatformParts{"linux", arch};
        return PlatformParts{lowered(parts[0]), normalise(host_architecture)};
    }
    return PlatformParts{lowered(parts[0]), normalise(parts[1])};
}

bool is_secret_name(std::string_view name) {
    static const std::array<std::string_view, 10> k_tokens = {"apikey", "auth", "credential", "credentials", "key",
                                                              "password", "pword", "passwd", "secret", "token"};
    bool deny = false;
    for (std::string_view part : split(name, '_')) {
        const std::string lower = lowered(part);
        if (lower == "public") return false;
        if (std::find(k_tokens.begin(), k_tokens.end(), lower) != k_tokens.end()) deny = true;
    }
    return deny;
}

std::string suggest(std::string_view value, const std::vector<std::string>& options) {
    const auto distance = [](std::string_view a, std::string_view b) {
        std::vector<std::size_t> row(b.size() + 1);
        for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
        for (std::size_t i = 1; i <= a.size(); ++i) {
            std::size_t diagonal = row[0];
            row[0] = i;
            for (std::size_t j = 1; j <= b.size(); ++j) {
                const std::size_t above = row[j];
                row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
                diagonal = above;
            }
        }
        return row[b.size()];
    };
    if (value.empty()) return {};
    std::string match;
    std::size_t best = 3;  // what BuildKit (and HCL) take as close enough
    for (const std::string& option : options) {
        if (option == value) return {};
        const std::size_t d = distance(value, option);
        if (d < best) {
            best = d;
            match = option;
        }
    }
    return match;
}

bool is_lower(std::string_view text) { return lowered(text) == text; }

bool is_upper(std::string_view text) {
    return std::none_of(text.begin(), text.end(), [](char c) { return c >= 'a' && c <= 'z'; });
}

}  // namespace cbuild::parser::internal
