#pragma once
// One HTTP exchange over libcurl, for the registry client only: no redirects followed (the
// client decides who sees the Authorization header), the status and headers of the final
// response, and the body either streamed to a callback (2xx) or collected (anything else, so
// that the registry's `errors` body can be read).

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/error.h"

namespace cbuild::registry::internal {

// How to talk TLS to one host. Paths are empty when not configured.
struct TlsSettings {
    bool verify = true;
    std::string ca_file{};
    std::string cert_file{};
    std::string key_file{};
};

// A request body read on demand: `read(offset, out)` copies up to out.size() bytes of the body
// from `offset` into `out` and returns how many (0 only past the end). A repeated request (a
// retry, an auth challenge, a redirect) reads it again from offset 0.
struct HttpBody {
    std::int64_t size = 0;
    std::function<std::size_t(std::int64_t offset, std::span<std::byte> out)> read{};
};

struct HttpResponse;

struct HttpRequest {
    // "HEAD" asks for no body; any method but GET and HEAD sends `body` (none: Content-Length 0).
    std::string method = "GET";
    std::string url{};
    std::vector<std::string> headers{};  // "Name: value"
    TlsSettings tls{};
    // Basic credentials sent by libcurl itself (for the token endpoint); never logged.
    std::optional<std::pair<std::string, std::string>> basic_auth{};
    // A collected body larger than this ends the exchange with HttpBodyTooLarge.
    std::size_t max_collected_body = 1 << 20;
    // Receives the body of a 2xx response; when empty, the body is collected instead.
    // An exception thrown here aborts the transfer and is rethrown by perform().
    std::function<void(std::span<const std::byte>)> on_body{};
    // Called once with the status and headers of a 2xx response before its first byte reaches
    // on_body (not at all for an empty body). An exception thrown here aborts as on_body's.
    std::function<void(const HttpResponse&)> on_body_start{};
    // What a POST, PUT or PATCH sends. An exception thrown by its `read` aborts the transfer
    // and is rethrown by perform().
    std::optional<HttpBody> body{};
};

struct HttpResponse {
    long status = 0;
    std::vector<std::pair<std::string, std::string>> headers{};  // names in lowercase
    std::string body{};                                          // when collected
    std::string redirect_url{};                                  // absolute, for a 3xx
    std::size_t streamed_bytes = 0;                              // passed to on_body

    // The last value of header `name` (lowercase), if sent.
    std::optional<std::string> header(std::string_view name) const;
};

// The exchange failed below HTTP: no connection, TLS, a cut connection, a timeout.
// `tls_handshake()` tells a plain-HTTP server answering a TLS hello (used for the fallback of
// insecure registries).
class HttpTransportError : public Error {
public:
    HttpTransportError(const std::string& message, bool tls_handshake, std::size_t streamed_bytes)
        : Error(message), m_tls_handshake(tls_handshake), m_streamed_bytes(streamed_bytes) {}
    bool tls_handshake() const { return m_tls_handshake; }
    // How many body bytes had reached on_body before the failure.
    std::size_t streamed_bytes() const { return m_streamed_bytes; }

private:
    bool m_tls_handshake;
    std::size_t m_streamed_bytes;
};

// A collected body went over HttpRequest::max_collected_body.
class HttpBodyTooLarge : public Error {
public:
    using Error::Error;
};

// Performs `request` on a fresh easy handle (so calls from several threads never share one).
// Throws HttpTransportError, HttpBodyTooLarge, or what on_body threw.
HttpResponse perform(const HttpRequest& request);

}  // namespace cbuild::registry::internal
