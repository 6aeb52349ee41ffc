#include "registry/reference.h"

#include <algorithm>
#include <utility>

namespace cbuild::registry {

namespace {

constexpr std::string_view k_default_domain = "docker.io";
constexpr std::string_view k_legacy_default_domain = "index.docker.io";
constexpr std::string_view k_docker_hub_api_host = "registry-1.docker.io";
constexpr std::string_view k_official_prefix = "library/";
constexpr std::string_view k_default_tag = "latest";
constexpr std::string_view k_localhost = "localhost";
// distribution/reference RepositoryNameTotalLengthMax. Upstream applies it to the path
// (without the domain), and so do we.
constexpr std::size_t k_max_path_length = 255;
constexpr std::size_t k_max_tag_length = 128;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_lower_alnum(char c) { return is_lower(c) || is_digit(c); }
bool is_alnum(char c) { return is_lower_alnum(c) || is_upper(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
bool is_word(char c) { return is_alnum(c) || c == '_'; }

bool has_upper(std::string_view text) { return std::any_of(text.begin(), text.end(), is_upper); }

std::string quoted(std::string_view text) { return "`" + std::string(text) + "`"; }

// An image ID ("sha256:" left off) where a name was expected; Docker refuses these as names so
// that `docker run <id>` can never be mistaken for a repository.
bool is_identifier(std::string_view text) {
    return text.size() == 64 && std::all_of(text.begin(), text.end(), [](char c) {
               return is_digit(c) || (c >= 'a' && c <= 'f');
           });
}

// A DNS-ish label: [A-Za-z0-9] or [A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9].
bool is_domain_label(std::string_view label) {
    if (label.empty() || label.front() == '-' || label.back() == '-') return false;
    return std::all_of(label.begin(), label.end(), [](char c) { return is_alnum(c) || c == '-'; });
}

// The reason `domain` is not host[:port], or empty when it is valid.
std::string check_domain(std::string_view domain) {
    std::string_view host = domain;
    std::string_view port;
    bool has_port = false;
    if (!domain.empty() && domain.front() == '[') {
        // An IPv6 literal, brackets included; no zone ids, no embedded IPv4.
        const std::size_t close = domain.find(']');
        if (close == std::string_view::npos) return "unterminated IPv6 address in the domain";
        const std::string_view address = domain.substr(1, close - 1);
        if (address.empty() || !std::all_of(address.begin(), address.end(),
                                            [](char c) { return is_hex(c) || c == ':'; }))
            return "the IPv6 address " + quoted(address) +
                   " must be hex digits and `:` (no zone, no embedded IPv4)";
        host = domain.substr(0, close + 1);
        const std::string_view after = domain.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':')
                return "unexpected " + quoted(after) + " after the IPv6 address";
            has_port = true;
            port = after.substr(1);
        }
    } else {
        if (const std::size_t colon = domain.find(':'); colon != std::string_view::npos) {
            host = domain.substr(0, colon);
            port = domain.substr(colon + 1);
            has_port = true;
        }
        std::string_view rest = host;
        while (true) {
            const std::size_t dot = rest.find('.');
            if (!is_domain_label(rest.substr(0, dot)))
                return "the domain " + quoted(domain) +
                       " is not a valid host name (labels of letters, digits and inner `-`)";
            if (dot == std::string_view::npos) break;
            rest = rest.substr(dot + 1);
        }
    }
    if (has_port && (port.empty() || !std::all_of(port.begin(), port.end(), is_digit)))
        return "the port " + quoted(port) + " of domain " + quoted(domain) + " is not a number";
    return {};
}

// The reason `component` breaks [a-z0-9]+((.|_|__|-+)[a-z0-9]+)*, or empty when it is valid.
std::string check_path_component(std::string_view component) {
    if (component.empty()) return "the path has an empty component (a doubled or trailing `/`)";
    const std::string which = "path component " + quoted(component);
    const auto bad_character = [&](char c) {
        return which + " has an invalid character " + quoted(std::string_view(&c, 1));
    };
    std::size_t i = 0;
    while (true) {
        const std::size_t run = i;
        while (i < component.size() && is_lower_alnum(component[i])) ++i;
        if (i == run) {
            const char c = component[i];
            if (c == '.' || c == '_' || c == '-')
                return which + " must start with a lowercase letter or digit";
            return bad_character(c);
        }
        if (i == component.size()) return {};
        const std::size_t separator_start = i;
        while (i < component.size() &&
               (component[i] == '.' || component[i] == '_' || component[i] == '-'))
            ++i;
        const std::string_view separator =
            component.substr(separator_start, i - separator_start);
        if (separator.empty()) return bad_character(component[i]);
        if (i == component.size()) return which + " must end with a lowercase letter or digit";
        const bool dashes =
            std::all_of(separator.begin(), separator.end(), [](char c) { return c == '-'; });
        if (!dashes && separator != "." && separator != "_" && separator != "__")
            return which + " has an invalid separator " + quoted(separator) +
                   " (allowed: one `.`, one or two `_`, or any number of `-`)";
    }
}

// The reason `path` is not a valid repository path, or empty when it is valid.
std::string check_path(std::string_view path) {
    if (has_upper(path)) return "repository name " + quoted(path) + " must be lowercase";
    std::string_view rest = path;
    while (true) {
        const std::size_t slash = rest.find('/');
        if (std::string why = check_path_component(rest.substr(0, slash)); !why.empty())
            return why;
        if (slash == std::string_view::npos) break;
        rest = rest.substr(slash + 1);
    }
    if (path.size() > k_max_path_length)
        return "repository name must not be more than " + std::to_string(k_max_path_length) +
               " characters";
    return {};
}

// The reason `tag` breaks [\w][\w.-]{0,127}, or empty when it is valid.
std::string check_tag(std::string_view tag) {
    if (tag.empty()) return "the tag after `:` is empty";
    if (tag.size() > k_max_tag_length)
        return "the tag must not be more than " + std::to_string(k_max_tag_length) + " characters";
    if (!is_word(tag.front())) return "the tag must start with a letter, digit or `_`";
    for (char c : tag)
        if (!is_word(c) && c != '.' && c != '-')
            return "invalid character " + quoted(std::string_view(&c, 1)) + " in the tag";
    return {};
}

// Splits off the domain the way Docker does (distribution/reference splitDockerDomain):
// returns {domain, rest}, where rest still carries any tag and digest.
std::pair<std::string, std::string> split_docker_domain(std::string_view text) {
    std::string domain;
    std::string rest;
    const std::size_t slash = text.find('/');
    if (slash == std::string_view::npos) {
        // A single component is always a Docker Hub name, even "localhost" or "host:5000"
        // (there the ":5000" is a tag), exactly as upstream.
        domain = k_default_domain;
        rest = text;
    } else {
        const std::string_view first = text.substr(0, slash);
        const bool looks_like_host = first == k_localhost ||
                                     first.find_first_of(".:") != std::string_view::npos ||
                                     has_upper(first);
        if (first == k_legacy_default_domain) {
            domain = k_default_domain;
            rest = text.substr(slash + 1);
        } else if (looks_like_host) {
            domain = first;
            rest = text.substr(slash + 1);
        } else {
            domain = k_default_domain;
            rest = text;
        }
    }
    // Only Docker Hub has the implicit "library/" namespace, and only for one-level names.
    if (domain == k_default_domain && rest.find('/') == std::string::npos)
        rest = std::string(k_official_prefix) + rest;
    return {std::move(domain), std::move(rest)};
}

}  // namespace

ReferenceError::ReferenceError(std::string reference, const std::string& reason)
    : Error("invalid reference `" + reference + "`: " + reason),
      m_reference(std::move(reference)) {}

Reference Reference::parse(std::string_view text) {
    const auto fail = [text](const std::string& reason) {
        throw ReferenceError(std::string(text), reason);
    };
    if (text.empty()) fail("the reference is empty");
    if (text.front() == ':' || text.front() == '@') fail("the repository name is missing");
    if (is_identifier(text))
        fail("a 64-character hex string is an image ID, not a repository name");

    auto [domain, rest] = split_docker_domain(text);
    if (domain != k_default_domain)
        if (std::string why = check_domain(domain); !why.empty()) fail(why);

    // rest is path[:tag][@digest]; neither the path nor a tag may contain ':' or '@'.
    std::string_view remainder = rest;
    std::optional<Digest> digest;
    if (const std::size_t at = remainder.find('@'); at != std::string_view::npos) {
        try {
            digest = Digest::parse(remainder.substr(at + 1));
        } catch (const DigestError& error) {
            fail(error.what());
        }
        remainder = remainder.substr(0, at);
    }
    std::optional<std::string> tag;
    if (const std::size_t colon = remainder.find(':'); colon != std::string_view::npos) {
        const std::string_view tag_text = remainder.substr(colon + 1);
        if (std::string why = check_tag(tag_text); !why.empty()) fail(why);
        tag = std::string(tag_text);
        remainder = remainder.substr(0, colon);
    }
    if (std::string why = check_path(remainder); !why.empty()) fail(why);

    Reference reference;
    reference.m_domain = std::move(domain);
    reference.m_path = std::string(remainder);
    reference.m_digest = std::move(digest);
    reference.m_tag = std::move(tag);
    if (!reference.m_tag && !reference.m_digest) reference.m_tag = std::string(k_default_tag);
    return reference;
}

std::string Reference::registry_host() const {
    if (m_domain == k_default_domain) return std::string(k_docker_hub_api_host);
    return m_domain;
}

std::string Reference::name() const { return m_domain + "/" + m_path; }

namespace {

std::string with_tag_and_digest(std::string name, const std::optional<std::string>& tag,
                                const std::optional<Digest>& digest) {
    if (tag) name += ":" + *tag;
    if (digest) name += "@" + digest->to_string();
    return name;
}

}  // namespace

std::string Reference::to_string() const { return with_tag_and_digest(name(), m_tag, m_digest); }

std::string Reference::familiar() const {
    if (m_domain != k_default_domain) return to_string();
    std::string_view path = m_path;
    // "library/ubuntu" prints as "ubuntu", but "library/a/b" keeps its prefix (upstream).
    if (path.starts_with(k_official_prefix) &&
        path.find('/', k_official_prefix.size()) == std::string_view::npos)
        path.remove_prefix(k_official_prefix.size());
    return with_tag_and_digest(std::string(path), m_tag, m_digest);
}

}  // namespace cbuild::registry
