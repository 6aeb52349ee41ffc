#pragma once
// Small text predicates the build checks share with BuildKit's Go helpers: a reference's
// syntax (distribution/reference), a platform specifier (containerd/platforms), the secret-name
// pattern and the did-you-mean suggestion (util/suggest).

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::parser::internal {

// Whether `text` parses as reference.ParseNormalizedNamed would accept it: [domain/]path
// [:tag][@digest], lowercase path components.
bool is_valid_image_reference(std::string_view text);

struct PlatformParts {
    std::string os;
    std::string architecture;
};

// containerd's platforms.Parse, as far as the checks need it: `os[/arch[/variant]]` or a lone
// architecture, normalised (`x86_64` → `amd64`, `aarch64` → `arm64`). `host_architecture`
// fills a lone OS. nullopt when the specifier is malformed.
std::optional<PlatformParts> parse_platform(std::string_view text, std::string_view host_architecture);

// BuildKit's secret-name pattern: one `_`-separated part is apikey, auth, credential(s), key,
// password, pword, passwd, secret or token (any case), and none is `public`.
bool is_secret_name(std::string_view name);

// The option closest to `value` by edit distance (under 3, case-sensitive), or empty when none
// is close or one matches exactly.
std::string suggest(std::string_view value, const std::vector<std::string>& options);

bool is_lower(std::string_view text);  // unchanged by ASCII lowercasing
bool is_upper(std::string_view text);  // unchanged by ASCII uppercasing

}  // namespace cbuild::parser::internal
