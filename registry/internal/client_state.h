#pragma once
// The shared state behind registry::Client (pimpl), used by client.cc (pull, auth, transport)
// and push.cc (uploads): per-registry endpoints, the auth cache, and one logical request with
// auth, redirects and retries.

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "registry/client.h"
#include "registry/internal/http.h"
#include "registry/internal/wire.h"

namespace cbuild::registry::internal {

// True for 5xx and 429: the same request may succeed later.
bool temporary_status(long status);
// The authority of an absolute URL: "https://h:5000/v2/…" → "h:5000"; empty for a path.
std::string url_authority(const std::string& url);
// Percent-encodes everything but RFC 3986 unreserved characters.
std::string url_encode(std::string_view text);

}  // namespace cbuild::registry::internal

namespace cbuild::registry {

struct Client::State {
    ClientOptions options;
    std::mutex mutex;
    // "HOST|SCOPE" → Authorization value and when it stops being good; "HOST|basic" for Basic.
    std::map<std::string, std::pair<std::string, std::chrono::steady_clock::time_point>> auth;
    std::set<std::string> plain_http;  // insecure registries found not to speak TLS

    struct Endpoint {
        std::string scheme;
        internal::TlsSettings tls;
        bool may_fall_back = false;
    };

    Endpoint endpoint_for(const std::string& host);
    std::optional<std::string> cached_auth(const std::string& host, const std::string& scope);
    // The Authorization header answering `challenge_response` (a 401), now cached for `host`
    // and `scope`. `scope` holds space-separated scopes ("repository:a:pull,push
    // repository:b:pull"), or is empty for none (a login check). Throws RegistryError naming
    // `subject` (never a secret) when the credentials are missing or refused.
    std::string authenticate(const std::string& subject, const std::string& host, const std::string& scope,
                             const internal::HttpResponse& challenge_response);
    // A Bearer token from the token server of `challenge`: the OAuth2 POST flow when
    // `credential` holds an identity token (the GET flow when that server answers 404), else the
    // GET flow with Basic credentials or anonymously.
    internal::Token fetch_token(const std::string& subject, const std::string& host,
                                const internal::Challenge& challenge, const std::string& scope,
                                const std::optional<Credential>& credential);
    // One request to a token server; a transport failure is a temporary RegistryError.
    internal::HttpResponse token_request(const std::string& subject, internal::HttpRequest request);
    // One logical request to `host`: `target` is a path ("/v2/…") or an absolute URL (an
    // upload Location). Answers an auth challenge once, follows redirects (Authorization only
    // to `host`), falls back to HTTP for an insecure registry without TLS. Throws
    // HttpTransportError.
    internal::HttpResponse exchange(const std::string& subject, const std::string& host,
                                    internal::HttpRequest request, const std::string& target,
                                    const std::string& scope);
    // exchange() with retries of temporary failures; a transport failure that outlives them
    // (or that happened after body bytes reached on_body) is thrown as a temporary RegistryError.
    internal::HttpResponse send(const std::string& subject, const std::string& what, const std::string& host,
                                internal::HttpRequest request, const std::string& target, const std::string& scope);
    [[noreturn]] void fail(const std::string& subject, const std::string& what,
                           const internal::HttpResponse& response);
};

}  // namespace cbuild::registry
