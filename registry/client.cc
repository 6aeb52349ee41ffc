#include "registry/client.h"

#include <algorithm>
#include <cctype>
#include <limits>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "registry/internal/client_state.h"
#include "registry/internal/http.h"
#include "registry/internal/wire.h"

namespace cbuild::registry {
namespace {

namespace fs = std::filesystem;
using internal::HttpRequest;
using internal::HttpResponse;
using internal::HttpTransportError;
using internal::temporary_status;
using internal::url_authority;
using internal::url_encode;

std::string compose_message(const std::string& reference, const std::string& what, long status,
                            const std::vector<RegistryErrorDetail>& details) {
    std::string message = "`" + reference + "`: " + what;
    if (status != 0) message += ": HTTP " + std::to_string(status);
    for (const auto& detail : details) {
        message += ": " + detail.code;
        if (!detail.message.empty()) message += ": " + detail.message;
    }
    return message;
}

// "host[:port]" without the port; "[::1]:5000" → "[::1]".
std::string strip_port(const std::string& host) {
    if (!host.empty() && host.front() == '[') return host.substr(0, host.find(']') + 1);
    const auto colon = host.rfind(':');
    return colon == std::string::npos ? host : host.substr(0, colon);
}

bool is_loopback(const std::string& host) {
    const std::string name = strip_port(host);
    return name == "localhost" || name == "[::1]" || name.rfind("127.", 0) == 0;
}

// The media type of a manifest: Content-Type when it names one, else the document's own
// mediaType, else guessed from its shape (an untyped OCI document).
std::string manifest_media_type(const std::optional<std::string>& content_type, const std::string& bytes) {
    std::string type = content_type.value_or("");
    type = type.substr(0, type.find(';'));
    while (!type.empty() && type.back() == ' ') type.pop_back();
    if (is_manifest(type) || is_index(type)) return type;
    const auto json = nlohmann::json::parse(bytes, nullptr, false);
    if (json.is_object()) {
        if (auto found = json.find("mediaType"); found != json.end() && found->is_string()) return *found;
        if (json.contains("manifests")) return k_oci_index;
        if (json.contains("config")) return k_oci_manifest;
    }
    return type;
}

// The first byte of a 206 answer (`Content-Range: bytes START-END/TOTAL`); -1 when missing or
// malformed.
std::int64_t content_range_start(const HttpResponse& response) {
    const std::string range = response.header("content-range").value_or("");
    if (range.rfind("bytes ", 0) != 0) return -1;
    std::int64_t start = 0;
    std::size_t at = 6;
    if (at >= range.size() || !std::isdigit(static_cast<unsigned char>(range[at]))) return -1;
    for (; at < range.size() && std::isdigit(static_cast<unsigned char>(range[at])); ++at) {
        if (start > (std::numeric_limits<std::int64_t>::max() - 9) / 10) return -1;
        start = start * 10 + (range[at] - '0');
    }
    return at < range.size() && range[at] == '-' ? start : -1;
}

std::string platform_text(const Platform& platform) {
    std::string text = platform.os + "/" + platform.architecture;
    if (!platform.variant.empty()) text += "/" + platform.variant;
    return text;
}

}  // namespace

namespace internal {

bool temporary_status(long status) { return status >= 500 || status == 429; }

std::string url_authority(const std::string& url) {
    const auto start = url.find("://");
    if (start == std::string::npos) return {};
    const auto end = url.find_first_of("/?#", start + 3);
    return url.substr(start + 3, end == std::string::npos ? std::string::npos : end - start - 3);
}

std::string url_encode(std::string_view text) {
    static constexpr char k_hex[] = "0123456789ABCDEF";
    std::string out;
    for (unsigned char c : text) {
        if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
            out += static_cast<char>(c);
        } else {
            out += '%';
            out += k_hex[c >> 4];
            out += k_hex[c & 15];
        }
    }
    return out;
}

}  // namespace internal

RegistryError::RegistryError(std::string reference, const std::string& what, long status,
                             std::vector<RegistryErrorDetail> details, bool temporary)
    : Error(compose_message(reference, what, status, details)),
      m_reference(std::move(reference)),
      m_status(status),
      m_details(std::move(details)),
      m_temporary(temporary) {}

std::vector<std::string> RegistryError::codes() const {
    std::vector<std::string> codes;
    for (const auto& detail : m_details) codes.push_back(detail.code);
    return codes;
}

Client::State::Endpoint Client::State::endpoint_for(const std::string& host) {
    const fs::path dir = options.certs_dir / host;
    std::error_code ignored;
    if (!options.certs_dir.empty() && fs::is_directory(dir, ignored)) {
        Endpoint endpoint{.scheme = "https", .tls = {}, .may_fall_back = false};
        if (fs::exists(dir / "ca.crt", ignored)) endpoint.tls.ca_file = dir / "ca.crt";
        if (fs::exists(dir / "client.cert", ignored) && fs::exists(dir / "client.key", ignored)) {
            endpoint.tls.cert_file = dir / "client.cert";
            endpoint.tls.key_file = dir / "client.key";
        }
        return endpoint;
    }
    if (options.insecure_registries.contains(host) || options.insecure_registries.contains(strip_port(host))) {
        std::lock_guard lock(mutex);
        if (plain_http.contains(host)) return {.scheme = "http", .tls = {}, .may_fall_back = false};
        return {.scheme = "https", .tls = {.verify = false}, .may_fall_back = true};
    }
    if (is_loopback(host)) return {.scheme = "http", .tls = {}, .may_fall_back = false};
    return {.scheme = "https", .tls = {}, .may_fall_back = false};
}

HttpResponse Client::State::exchange(const std::string& subject, const std::string& host, HttpRequest request,
                                     const std::string& target, const std::string& scope) {
    Endpoint endpoint = endpoint_for(host);
    const bool absolute = !url_authority(target).empty();
    std::string url = absolute ? target : endpoint.scheme + "://" + host + target;
    std::optional<std::string> authorization = cached_auth(host, scope);
    const auto base_headers = request.headers;
    bool authenticated = false;
    for (int hop = 0; hop < 10; ++hop) {
        const bool own_host = url_authority(url) == host;
        request.url = url;
        request.tls = own_host ? endpoint.tls : endpoint_for(url_authority(url)).tls;
        request.headers = base_headers;
        if (own_host && authorization) request.headers.push_back(*authorization);
        HttpResponse response;
        try {
            response = internal::perform(request);
        } catch (const HttpTransportError& error) {
            if (!(own_host && endpoint.may_fall_back && error.tls_handshake())) throw;
            std::lock_guard lock(mutex);
            plain_http.insert(host);
            endpoint = {.scheme = "http", .tls = {}, .may_fall_back = false};
            url = absolute ? "http://" + target.substr(target.find("://") + 3) : "http://" + host + target;
            continue;
        }
        if (response.status == 401 && own_host && !authenticated) {
            authorization = authenticate(subject, host, scope, response);
            authenticated = true;
            continue;
        }
        if (response.status >= 300 && response.status < 400 && !response.redirect_url.empty()) {
            url = response.redirect_url;
            continue;
        }
        return response;
    }
    throw RegistryError(subject, "too many redirects", 0, {}, false);
}

HttpResponse Client::State::send(const std::string& subject, const std::string& what, const std::string& host,
                                 HttpRequest request, const std::string& target, const std::string& scope) {
    const int attempts = std::max(1, options.retry.attempts);
    for (int attempt = 1;; ++attempt) {
        std::chrono::milliseconds delay = internal::backoff_delay(options.retry, attempt - 1);
        try {
            HttpResponse response = exchange(subject, host, request, target, scope);
            if (!temporary_status(response.status) || attempt >= attempts) return response;
            delay = internal::retry_delay(options.retry, attempt - 1, response.header("retry-after"));
        } catch (const HttpTransportError& error) {
            if (error.streamed_bytes() > 0 || attempt >= attempts)
                throw RegistryError(subject, what + ": " + error.what(), 0, {}, true);
        }
        std::this_thread::sleep_for(delay);
    }
}

void Client::State::fail(const std::string& subject, const std::string& what, const HttpResponse& response) {
    std::string reason = what;
    if (response.status == 401) reason += ": unauthorized (credentials missing or rejected)";
    if (response.status == 403) reason += ": access denied";
    if (response.status == 404) reason += ": not found";
    throw RegistryError(subject, reason, response.status, internal::parse_error_body(response.body),
                        temporary_status(response.status));
}

Client::Client(ClientOptions options) : m_state(std::make_unique<State>()) { m_state->options = std::move(options); }

Client::~Client() = default;

FetchedManifest Client::fetch_manifest(const Reference& reference) {
    const std::string subject = reference.to_string();
    const std::string identifier = reference.digest() ? reference.digest()->to_string() : reference.tag().value_or("latest");
    if (reference.digest() && reference.digest()->algorithm() != "sha256")
        throw RegistryError(subject, "unsupported digest algorithm `" + reference.digest()->algorithm() + "`", 0, {},
                            false);
    HttpRequest request{.headers = {std::string("Accept: ") + k_oci_index + ", " + k_oci_manifest + ", " +
                                    k_docker_manifest_list + ", " + k_docker_manifest},
                        .max_collected_body = k_max_manifest_size};
    HttpResponse response;
    try {
        response = m_state->send(subject, "fetching manifest", reference.registry_host(), request,
                                 "/v2/" + reference.path() + "/manifests/" + identifier,
                                 internal::repository_scope(reference.path(), "pull"));
    } catch (const internal::HttpBodyTooLarge&) {
        throw RegistryError(subject, "manifest is larger than the 4 MiB limit", 0, {}, false);
    }
    if (response.status != 200) m_state->fail(subject, "fetching manifest", response);
    const Digest digest = sha256_of(response.body);
    if (reference.digest() && *reference.digest() != digest)
        throw RegistryError(subject, "manifest content does not match the digest (got " + digest.to_string() + ")", 0,
                            {}, false);
    if (auto sent = response.header("docker-content-digest"); sent && sent->rfind("sha256:", 0) == 0 &&
                                                                 *sent != digest.to_string())
        throw RegistryError(subject, "manifest content does not match Docker-Content-Digest `" + *sent + "` (got " +
                                         digest.to_string() + ")",
                            0, {}, false);
    std::string media_type = manifest_media_type(response.header("content-type"), response.body);
    return FetchedManifest{.media_type = std::move(media_type), .bytes = std::move(response.body), .digest = digest};
}

FetchedManifest Client::fetch_manifest_for(const Reference& reference, const Platform& platform) {
    FetchedManifest fetched = fetch_manifest(reference);
    if (is_manifest(fetched.media_type)) return fetched;
    const std::string subject = reference.to_string();
    if (!is_index(fetched.media_type))
        throw RegistryError(subject, "unsupported manifest media type `" + fetched.media_type + "`", 0, {}, false);
    std::optional<Descriptor> chosen;
    try {
        chosen = select_platform(parse_index(fetched.bytes), platform);
    } catch (const ImageFormatError& error) {
        throw RegistryError(subject, error.what(), 0, {}, false);
    }
    if (!chosen)
        throw RegistryError(subject, "no image for platform " + platform_text(normalize_platform(platform)) +
                                         " in the index",
                            0, {}, false);
    FetchedManifest child = fetch_manifest(Reference::parse(reference.name() + "@" + chosen->digest.to_string()));
    if (!is_manifest(child.media_type))
        throw RegistryError(subject, "the index entry for " + platform_text(platform) + " is not an image manifest",
                            0, {}, false);
    return child;
}

void Client::fetch_blob(const Reference& repository, const Descriptor& descriptor, ByteSink& out) {
    fetch_blob(repository, descriptor.digest, descriptor.size, out);
}

void Client::fetch_blob(const Reference& repository, const Digest& digest, std::int64_t size, ByteSink& out) {
    const std::string subject = repository.name() + "@" + digest.to_string();
    if (digest.algorithm() != "sha256")
        throw RegistryError(subject, "unsupported digest algorithm `" + digest.algorithm() + "`", 0, {}, false);
    const std::string what = "fetching blob";
    const std::string host = repository.registry_host();
    const std::string target = "/v2/" + repository.path() + "/blobs/" + digest.to_string();
    const std::string scope = internal::repository_scope(repository.path(), "pull");
    Sha256 hasher;
    std::int64_t received = 0;  // bytes hashed and written to `out`
    std::int64_t skip = 0;      // bytes of the current response that `out` already has
    HttpRequest request{
        .on_body =
            [&](std::span<const std::byte> bytes) {
                const auto skipped = static_cast<std::size_t>(std::min<std::int64_t>(skip, std::ssize(bytes)));
                skip -= static_cast<std::int64_t>(skipped);
                bytes = bytes.subspan(skipped);
                if (received + std::ssize(bytes) > size)
                    throw RegistryError(subject, "blob is larger than its expected size " + std::to_string(size), 0,
                                        {}, false);
                received += std::ssize(bytes);
                hasher.update(bytes);
                out.write(bytes);
            },
        .on_body_start =
            [&](const HttpResponse& response) {
                // A 200 is the whole blob (the first request, or a server ignoring Range); a 206
                // starts where its Content-Range says.
                const std::int64_t start = response.status == 206 ? content_range_start(response) : 0;
                if (start < 0 || start > received)
                    throw RegistryError(subject, "the registry answered a range request for byte " +
                                                     std::to_string(received) + " with bytes from " +
                                                     std::to_string(start),
                                        0, {}, false);
                skip = received - start;
            }};
    const int attempts = std::max(1, m_state->options.retry.attempts);
    for (int failures = 0;;) {
        request.headers.clear();
        if (received > 0) request.headers.push_back("Range: bytes=" + std::to_string(received) + "-");
        std::string problem;
        std::optional<std::string> retry_after;
        try {
            const HttpResponse response = m_state->exchange(subject, host, request, target, scope);
            if (response.status == 200 || response.status == 206) break;
            if (!temporary_status(response.status)) m_state->fail(subject, what, response);
            problem = "HTTP " + std::to_string(response.status);
            retry_after = response.header("retry-after");
        } catch (const HttpTransportError& error) {
            // Every byte that arrived is kept: the whole blob is here even if the cut came after it.
            if (received == size) break;
            problem = error.what();
        }
        if (++failures >= attempts)
            throw RegistryError(subject, what + ": giving up after " + std::to_string(failures) + " failures (" +
                                             std::to_string(received) + " of " + std::to_string(size) +
                                             " bytes received): " + problem,
                                0, {}, true);
        std::this_thread::sleep_for(internal::retry_delay(m_state->options.retry, failures - 1, retry_after));
    }
    if (received != size)
        throw RegistryError(subject, "blob has " + std::to_string(received) + " bytes, expected " +
                                         std::to_string(size),
                            0, {}, false);
    const Digest actual = hasher.finish();
    if (actual != digest)
        throw RegistryError(subject, "blob content does not match its digest (got " + actual.to_string() + ")", 0, {},
                            false);
}

bool Client::blob_exists(const Reference& repository, const Digest& digest) {
    const std::string subject = repository.name() + "@" + digest.to_string();
    const HttpResponse response = m_state->send(subject, "checking blob", repository.registry_host(),
                                                HttpRequest{.method = "HEAD"},
                                                "/v2/" + repository.path() + "/blobs/" + digest.to_string(),
                                                internal::repository_scope(repository.path(), "pull"));
    if (response.status == 200) return true;
    if (response.status == 404) return false;
    m_state->fail(subject, "checking blob", response);
}

}  // namespace cbuild::registry
