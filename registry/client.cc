#include "registry/client.h"

#include <algorithm>
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

std::optional<std::string> Client::State::cached_auth(const std::string& host, const std::string& scope) {
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    for (const std::string& key : {host + "|" + scope, host + "|basic"}) {
        const auto found = auth.find(key);
        if (found != auth.end() && found->second.second > now) return found->second.first;
    }
    return std::nullopt;
}

std::string Client::State::authenticate(const std::string& subject, const std::string& host,
                                        const std::string& scope, const HttpResponse& challenge_response) {
    const auto challenges = internal::parse_challenges(challenge_response.header("www-authenticate").value_or(""));
    const auto details = internal::parse_error_body(challenge_response.body);
    std::optional<Credential> credential;
    if (options.credentials) credential = options.credentials->get(host);
    for (const auto& challenge : challenges) {
        if (challenge.scheme == "bearer") {
            const auto realm = challenge.params.find("realm");
            if (realm == challenge.params.end()) continue;
            // The scopes we need plus any the challenge names (each its own `scope=`), so a
            // push token also covers the pull of a mount's source repository.
            std::vector<std::string> scopes;
            for (const std::string& list : {scope, challenge.params.contains("scope") ? challenge.params.at("scope")
                                                                                        : std::string()}) {
                std::size_t start = 0;
                while (start < list.size()) {
                    const std::size_t end = std::min(list.find(' ', start), list.size());
                    const std::string one = list.substr(start, end - start);
                    if (!one.empty() && std::find(scopes.begin(), scopes.end(), one) == scopes.end())
                        scopes.push_back(one);
                    start = end + 1;
                }
            }
            std::string url = realm->second + (realm->second.find('?') == std::string::npos ? "?" : "&");
            if (auto service = challenge.params.find("service"); service != challenge.params.end())
                url += "service=" + url_encode(service->second) + "&";
            for (const auto& one : scopes) url += "scope=" + url_encode(one) + "&";
            url.pop_back();
            HttpRequest request{.url = url, .tls = endpoint_for(url_authority(url)).tls};
            if (credential) request.basic_auth = std::pair(credential->username, credential->password);
            HttpResponse response;
            try {
                response = internal::perform(request);
            } catch (const HttpTransportError& error) {
                throw RegistryError(subject, "fetching a token from `" + url_authority(url) + "`: " + error.what(), 0,
                                    {}, true);
            }
            if (response.status != 200)
                throw RegistryError(subject, "token server `" + url_authority(url) + "` refused " +
                                                 (credential ? "the credentials" : "anonymous access"),
                                    response.status, internal::parse_error_body(response.body),
                                    temporary_status(response.status));
            internal::Token token;
            try {
                token = internal::parse_token_response(response.body);
            } catch (const Error& error) {
                throw RegistryError(subject, error.what(), 0, {}, false);
            }
            // Renew a little early, so a token never expires between the check and its use.
            const auto lifetime = std::max(std::chrono::seconds(1), token.expires_in - std::chrono::seconds(5));
            const std::string header = "Authorization: Bearer " + token.value;
            std::lock_guard lock(mutex);
            auth[host + "|" + scope] = {header, std::chrono::steady_clock::now() + lifetime};
            return header;
        }
        if (challenge.scheme == "basic") {
            if (!credential)
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
    Sha256 hasher;
    std::int64_t received = 0;
    HttpRequest request{.on_body = [&](std::span<const std::byte> bytes) {
        received += static_cast<std::int64_t>(bytes.size());
        if (received > size)
            throw RegistryError(subject, "blob is larger than its expected size " + std::to_string(size), 0, {},
                                false);
        hasher.update(bytes);
        out.write(bytes);
    }};
    const std::string what = "fetching blob";
    const HttpResponse response = m_state->send(subject, what, repository.registry_host(), request,
                                                "/v2/" + repository.path() + "/blobs/" + digest.to_string(),
                                                internal::repository_scope(repository.path(), "pull"));
    if (response.status != 200) m_state->fail(subject, what, response);
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
