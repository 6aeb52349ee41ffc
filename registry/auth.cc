// Answering a registry's auth challenge: Basic credentials, or a Bearer token from the token
// server named in the challenge, fetched by the OAuth2 POST flow with an identity token (as
// docker/distribution's registry/client/auth/session.go) or by the GET flow with Basic
// credentials or none; tokens cached per host and scope until shortly before they expire.

#include <algorithm>
#include <mutex>

#include "registry/client.h"
#include "registry/internal/client_state.h"
#include "registry/internal/http.h"
#include "registry/internal/wire.h"

namespace cbuild::registry {
namespace {

using internal::HttpRequest;
using internal::HttpResponse;
using internal::HttpTransportError;
using internal::url_authority;
using internal::url_encode;

// What the token server is told we are (distribution's `client_id`, required by the POST flow).
constexpr char k_client_id[] = "cbuild";

// The scopes we need plus any the challenge names, each once and in order.
std::vector<std::string> token_scopes(const std::string& needed, const internal::Challenge& challenge) {
    std::vector<std::string> scopes;
    const auto named = challenge.params.find("scope");
    for (const std::string& list : {needed, named == challenge.params.end() ? std::string() : named->second}) {
        std::size_t start = 0;
        while (start < list.size()) {
            const std::size_t end = std::min(list.find(' ', start), list.size());
            const std::string one = list.substr(start, end - start);
            if (!one.empty() && std::find(scopes.begin(), scopes.end(), one) == scopes.end()) scopes.push_back(one);
            start = end + 1;
        }
    }
    return scopes;
}

bool has_password(const std::optional<Credential>& credential) {
    return credential && !credential->username.empty() && !credential->password.empty();
}

}  // namespace

std::optional<std::string> Client::State::cached_auth(const std::string& host, const std::string& scope) {
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    for (const std::string& key : {host + "|" + scope, host + "|basic"}) {
        const auto found = auth.find(key);
        if (found != auth.end() && found->second.second > now) return found->second.first;
    }
    return std::nullopt;
}

HttpResponse Client::State::token_request(const std::string& subject, HttpRequest request) {
    const std::string server = url_authority(request.url);
    request.tls = endpoint_for(server).tls;
    try {
        return internal::perform(request);
    } catch (const HttpTransportError& error) {
        throw RegistryError(subject, "fetching a token from `" + server + "`: " + error.what(), 0, {}, true);
    }
}

internal::Token Client::State::fetch_token(const std::string& subject, const std::string& host,
                                       const internal::Challenge& challenge, const std::string& scope,
                                       const std::optional<Credential>& credential) {
    const std::string& realm = challenge.params.at("realm");
    const auto service = challenge.params.find("service");
    const std::vector<std::string> scopes = token_scopes(scope, challenge);
    const std::string server = url_authority(realm);
    HttpResponse response;
    bool oauth = credential && !credential->identity_token.empty();
    if (oauth) {
        // OAuth2 refresh grant: the identity token travels in the body, never in the URL.
        std::string joined;
        for (const auto& one : scopes) joined += (joined.empty() ? "" : " ") + one;
        auto form = std::make_shared<const std::string>(
            "grant_type=refresh_token&refresh_token=" + url_encode(credential->identity_token) +
            (service == challenge.params.end() ? "" : "&service=" + url_encode(service->second)) +
            "&scope=" + url_encode(joined) + "&client_id=" + k_client_id);
        HttpRequest post{.method = "POST",
                         .url = realm,
                         .headers = {"Content-Type: application/x-www-form-urlencoded"},
                         .body = internal::HttpBody{
                             .size = static_cast<std::int64_t>(form->size()),
                             .read = [form](std::int64_t at, std::span<std::byte> out) {
                                 const auto start = static_cast<std::size_t>(at);
                                 const std::size_t count = std::min(out.size(), form->size() - start);
                                 std::copy_n(reinterpret_cast<const std::byte*>(form->data()) + start, count,
                                             out.data());
                                 return count;
                             }}};
        response = token_request(subject, std::move(post));
        // A token server without the POST flow answers 404: distribution then uses GET.
        oauth = response.status != 404;
    }
    if (!oauth) {
        std::string url = realm + (realm.find('?') == std::string::npos ? "?" : "&");
        if (service != challenge.params.end()) url += "service=" + url_encode(service->second) + "&";
        for (const auto& one : scopes) url += "scope=" + url_encode(one) + "&";
        url.pop_back();
        HttpRequest get{.url = url};
        if (has_password(credential)) get.basic_auth = std::pair(credential->username, credential->password);
        response = token_request(subject, std::move(get));
    }
    if (response.status != 200) {
        const std::string refused = oauth ? "the identity token for `" + host + "`"
                                    : has_password(credential) ? "the credentials for `" + host + "`"
                                                               : "anonymous access to `" + host + "`";
        throw RegistryError(subject, "token server `" + server + "` refused " + refused, response.status,
                            internal::parse_error_body(response.body), internal::temporary_status(response.status));
    }
    // A rotated refresh token in the answer is not kept: docker, too, persists identity tokens
    // only at login.
    try {
        return internal::parse_token_response(response.body);
    } catch (const Error& error) {
        throw RegistryError(subject, "token server `" + server + "`: " + error.what(), 0, {}, false);
    }
}

std::string Client::State::authenticate(const std::string& subject, const std::string& host,
                                        const std::string& scope, const HttpResponse& challenge_response) {
    const auto challenges = internal::parse_challenges(challenge_response.header("www-authenticate").value_or(""));
    const auto details = internal::parse_error_body(challenge_response.body);
    std::optional<Credential> credential;
    if (options.credentials) credential = options.credentials->get(host);
    for (const auto& challenge : challenges) {
        if (challenge.scheme == "bearer") {
            if (!challenge.params.contains("realm")) continue;
            const internal::Token token = fetch_token(subject, host, challenge, scope, credential);
            const std::string header = "Authorization: Bearer " + token.value;
            // Renew a little early, so a token never expires between the check and its use.
            const auto lifetime = std::max(std::chrono::seconds(1), token.expires_in - std::chrono::seconds(5));
            std::lock_guard lock(mutex);
            auth[host + "|" + scope] = {header, std::chrono::steady_clock::now() + lifetime};
            return header;
        }
        if (challenge.scheme == "basic") {
            if (!has_password(credential))
                throw RegistryError(subject, "the registry requires a login and there are no credentials for `" +
                                                 host + "`",
                                    401, details, false);
            const std::string header =
                "Authorization: Basic " + internal::base64_encode(credential->username + ":" + credential->password);
            std::lock_guard lock(mutex);
            auth[host + "|basic"] = {header, std::chrono::steady_clock::time_point::max()};
            return header;
        }
    }
    throw RegistryError(subject, "unsupported authentication challenge", 401, details, false);
}

}  // namespace cbuild::registry
