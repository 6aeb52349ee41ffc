#pragma once
// Pure pieces of the distribution protocol, kept apart from the transport so they can be tested
// without a server: WWW-Authenticate challenges, Retry-After, the `errors` body, token
// responses, backoff delays and scope strings.

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "registry/client.h"

namespace cbuild::registry::internal {

// One challenge of a WWW-Authenticate header (RFC 7235): `Bearer realm="…",service="…"`.
struct Challenge {
    std::string scheme{};                       // lowercase: "basic", "bearer"
    std::map<std::string, std::string> params{};  // names lowercase, values unquoted
};

// All challenges in one header value; malformed parts are skipped, never thrown.
std::vector<Challenge> parse_challenges(std::string_view header);

// Retry-After as delta-seconds or an HTTP-date (relative to `now`); nullopt if unparsable.
std::optional<std::chrono::seconds> parse_retry_after(
    std::string_view value, std::chrono::system_clock::time_point now = std::chrono::system_clock::now());

// The `errors` array of a distribution error body; empty when the body is not one.
std::vector<RegistryErrorDetail> parse_error_body(std::string_view body);

// A token endpoint's answer: `token` (or `access_token`) and `expires_in` (default 60 s, as
// the distribution token spec says). Throws cbuild::Error when there is no token.
struct Token {
    std::string value{};
    std::chrono::seconds expires_in{60};
};
Token parse_token_response(std::string_view body);

// The delay before retry number `retry` (0-based): initial × 2^retry, at most max_delay.
std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry);

// The wait before retry number `retry`: the response's Retry-After when it has a usable one
// (at most max_retry_after), else backoff_delay.
std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int retry,
                                      const std::optional<std::string>& retry_after);

// "repository:PATH:ACTIONS", the scope of a Bearer token for one repository.
std::string repository_scope(std::string_view path, std::string_view actions);

// `text` in base64 (RFC 4648, with padding), and back; decode returns nullopt on bad input.
std::string base64_encode(std::string_view text);
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace cbuild::registry::internal
