#include "registry/internal/wire.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <nlohmann/json.hpp>

#include "registry/internal/curl_library.h"

namespace cbuild::registry::internal {
namespace {

bool is_token_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || std::string_view("!#$%&'*+-.^_`|~/").find(c) != std::string_view::npos;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
}

void skip_spaces(std::string_view text, std::size_t& at) {
    while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) ++at;
}

std::string read_token(std::string_view text, std::size_t& at) {
    const std::size_t start = at;
    while (at < text.size() && is_token_char(text[at])) ++at;
    return std::string(text.substr(start, at - start));
}

// A quoted-string with backslash escapes, or a token; `at` is on its first character.
std::string read_value(std::string_view text, std::size_t& at) {
    if (at >= text.size() || text[at] != '"') return read_token(text, at);
    std::string value;
    for (++at; at < text.size() && text[at] != '"'; ++at) {
        if (text[at] == '\\' && at + 1 < text.size()) ++at;
        value += text[at];
    }
    if (at < text.size()) ++at;  // the closing quote
    return value;
}

constexpr std::string_view k_base64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

}  // namespace

std::vector<Challenge> parse_challenges(std::string_view header) {
    std::vector<Challenge> challenges;
    std::size_t at = 0;
    while (at < header.size()) {
        skip_spaces(header, at);
        if (at < header.size() && header[at] == ',') {
            ++at;
            continue;
        }
        const std::string word = read_token(header, at);
        if (word.empty()) {
            ++at;  // a stray character: skip it rather than fail
            continue;
        }
        std::size_t after = at;
        skip_spaces(header, after);
        if (after < header.size() && header[after] == '=' && !challenges.empty()) {
            at = after + 1;
            skip_spaces(header, at);
            challenges.back().params[lowercase(word)] = read_value(header, at);
        } else {
            // A token68 (`Basic abc==`) is not used by registries; it reads as a scheme here.
            challenges.push_back(Challenge{.scheme = lowercase(word), .params = {}});
        }
    }
    return challenges;
}

std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now) {
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    if (value.empty()) return std::nullopt;
    if (std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; })) {
        if (value.size() > 9) return std::chrono::seconds(999999999);
        return std::chrono::seconds(std::stol(std::string(value)));
    }
    const std::string text(value);
    const time_t when = curl_library().getdate(text.c_str(), nullptr);
    if (when == -1) return std::nullopt;
    const auto delta = std::chrono::system_clock::from_time_t(when) - now;
    return std::max(std::chrono::seconds(0), std::chrono::duration_cast<std::chrono::seconds>(delta));
}

std::vector<RegistryErrorDetail> parse_error_body(std::string_view body) {
    std::vector<RegistryErrorDetail> details;
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) return details;
    const auto errors = json.find("errors");
    if (errors == json.end() || !errors->is_array()) return details;
    for (const auto& error : *errors) {
        if (!error.is_object()) continue;
        RegistryErrorDetail detail;
        if (auto code = error.find("code"); code != error.end() && code->is_string()) detail.code = *code;
        if (auto message = error.find("message"); message != error.end() && message->is_string())
            detail.message = *message;
        details.push_back(std::move(detail));
    }
    return details;
}

Token parse_token_response(std::string_view body) {
    const auto json = nlohmann::json::parse(body, nullptr, false);
    if (json.is_discarded() || !json.is_object()) throw Error("token response is not a JSON object");
    Token token;
    for (const char* key : {"token", "access_token"}) {
        const auto found = json.find(key);
        if (found != json.end() && found->is_string() && !found->get<std::string>().empty()) {
            token.value = *found;
            break;
        }
    }
    if (token.value.empty()) throw Error("token response has no token");
    const auto expires = json.find("expires_in");
    if (expires != json.end() && expires->is_number_integer() && expires->get<long long>() > 0)
        token.expires_in = std::chrono::seconds(expires->get<long long>());
    return token;
}

std::chrono::milliseconds backoff_delay(const RetryPolicy& policy, int retry) {
    auto delay = policy.initial_delay;
    for (int i = 0; i < retry && delay < policy.max_delay; ++i) delay *= 2;
    return std::min(delay, policy.max_delay);
}

std::chrono::milliseconds retry_delay(const RetryPolicy& policy, int retry,
                                      const std::optional<std::string>& retry_after) {
    if (retry_after) {
        if (const auto seconds = parse_retry_after(*retry_after))
            return std::min<std::chrono::milliseconds>(*seconds, policy.max_retry_after);
    }
    return backoff_delay(policy, retry);
}

std::string repository_scope(std::string_view path, std::string_view actions) {
    return "repository:" + std::string(path) + ":" + std::string(actions);
}

std::string base64_encode(std::string_view text) {
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < text.size(); i += 3) {
        const unsigned n = (static_cast<unsigned char>(text[i]) << 16) |
                           (static_cast<unsigned char>(text[i + 1]) << 8) | static_cast<unsigned char>(text[i + 2]);
        for (int shift : {18, 12, 6, 0}) out += k_base64[(n >> shift) & 63];
    }
    if (i + 1 == text.size()) {
        const unsigned n = static_cast<unsigned char>(text[i]) << 16;
        out += k_base64[(n >> 18) & 63];
        out += k_base64[(n >> 12) & 63];
        out += "==";
    } else if (i + 2 == text.size()) {
        const unsigned n = (static_cast<unsigned char>(text[i]) << 16) | (static_cast<unsigned char>(text[i + 1]) << 8);
        out += k_base64[(n >> 18) & 63];
        out += k_base64[(n >> 12) & 63];
        out += k_base64[(n >> 6) & 63];
        out += '=';
    }
    return out;
}

std::optional<std::string> base64_decode(std::string_view text) {
    while (!text.empty() && text.back() == '=') text.remove_suffix(1);
    std::string out;
    unsigned buffer = 0;
    int bits = 0;
    for (char c : text) {
        const auto value = k_base64.find(c);
        if (value == std::string_view::npos) return std::nullopt;
        buffer = (buffer << 6) | static_cast<unsigned>(value);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((buffer >> bits) & 0xff);
        }
    }
    return out;
}

}  // namespace cbuild::registry::internal
