#pragma once
// The distribution API client (distribution spec v1.1 over HTTP/HTTPS, libcurl): manifests and
// blobs pulled with digest and size verified while streaming, Basic and Bearer token auth,
// retries of temporary failures, and Docker's per-registry TLS settings.
//
// Which scheme a registry gets (Docker's rules, checked in this order):
//   1. CERTS_DIR/HOST[:PORT]/ exists → HTTPS, verified with ca.crt there when present (it then
//      replaces the system CAs for that host), client.cert + client.key presented when both
//      exist;
//   2. HOST[:PORT] or HOST is in insecure_registries → HTTPS without verification, falling back
//      to plain HTTP when the server does not speak TLS;
//   3. localhost or 127.0.0.0/8 → plain HTTP. Docker treats loopback registries as insecure
//      and tries HTTPS first; we go straight to HTTP (no handshake to wait for), so a loopback
//      registry serving TLS needs a certs.d directory;
//   4. otherwise HTTPS, verified against the system CAs.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "common/byte_sink.h"
#include "common/digest.h"
#include "common/error.h"
#include "registry/image.h"
#include "registry/reference.h"

namespace cbuild::registry {

// One entry of a distribution error body: `{"code": "MANIFEST_UNKNOWN", "message": "…"}`.
struct RegistryErrorDetail {
    std::string code{};
    std::string message{};

    friend bool operator==(const RegistryErrorDetail&, const RegistryErrorDetail&) = default;
};

// A failed registry operation. The message is "`REFERENCE`: what: STATUS: CODE: message…"
// and never contains credentials or tokens. status() is 0 when no HTTP answer came (connection
// or TLS failure) or the content was wrong (digest or size mismatch, oversized manifest).
class RegistryError : public Error {
public:
    RegistryError(std::string reference, const std::string& what, long status,
                  std::vector<RegistryErrorDetail> details, bool temporary);

    const std::string& reference() const { return m_reference; }
    long status() const { return m_status; }
    const std::vector<RegistryErrorDetail>& details() const { return m_details; }
    // The `code` of each detail, in order ("UNAUTHORIZED", "NAME_UNKNOWN" …).
    std::vector<std::string> codes() const;
    // True for 5xx, 429 and connection failures: the same request may succeed later.
    bool temporary() const { return m_temporary; }

private:
    std::string m_reference;
    long m_status;
    std::vector<RegistryErrorDetail> m_details;
    bool m_temporary;
};

// A username and password (or, later, an identity token) for one registry.
struct Credential {
    std::string username{};
    std::string password{};
};

// Where credentials come from (fixed values, docker's config.json, later credential helpers).
class Credentials {
public:
    virtual ~Credentials() = default;
    // The credential for `registry_host` (Reference::registry_host(), e.g. "localhost:5000" or
    // "registry-1.docker.io"), or nullopt to go anonymous. Throws cbuild::Error if the store
    // exists but cannot be read.
    virtual std::optional<Credential> get(const std::string& registry_host) const = 0;
};

// Fixed credentials per registry host.
class StaticCredentials : public Credentials {
public:
    explicit StaticCredentials(std::map<std::string, Credential> by_host) : m_by_host(std::move(by_host)) {}
    std::optional<Credential> get(const std::string& registry_host) const override;

private:
    std::map<std::string, Credential> m_by_host;
};

// The `auths` of a docker config.json (`{"auths": {"HOST": {"auth": base64("user:pass")}}}`),
// read on every get() so a `docker login` in between is seen. Keys may be "HOST", "https://HOST"
// or "https://HOST/v1/"; Docker Hub's is "https://index.docker.io/v1/". A missing file means no
// credentials; an unreadable or malformed one throws cbuild::Error naming the path.
class DockerConfigCredentials : public Credentials {
public:
    explicit DockerConfigCredentials(std::filesystem::path config_json) : m_path(std::move(config_json)) {}
    std::optional<Credential> get(const std::string& registry_host) const override;

private:
    std::filesystem::path m_path;
};

// How many times a temporary failure is tried, and how long to wait in between: initial_delay
// doubling up to max_delay. A 429's Retry-After replaces the computed delay (at most
// max_retry_after).
struct RetryPolicy {
    int attempts = 4;
    std::chrono::milliseconds initial_delay{200};
    std::chrono::milliseconds max_delay{5000};
    std::chrono::milliseconds max_retry_after{60000};
};

struct ClientOptions {
    std::filesystem::path certs_dir = "/etc/docker/certs.d";
    // "HOST" or "HOST:PORT" entries, as Docker's --insecure-registry.
    std::set<std::string> insecure_registries{};
    std::shared_ptr<const Credentials> credentials{};  // none: anonymous
    RetryPolicy retry{};
};

// A manifest or index exactly as the registry sent it.
struct FetchedManifest {
    std::string media_type;
    std::string bytes;
    Digest digest;  // sha256 of `bytes`, checked against the reference and Docker-Content-Digest
};

// Manifests larger than this are refused (as containerd and go-containerregistry do).
inline constexpr std::size_t k_max_manifest_size = 4 * 1024 * 1024;

// The platform Docker assumes: os and architecture with the default variant filled in
// (arm64 → "v8", arm → "v7", none for the others).
Platform normalize_platform(Platform platform);

// The platform this binary runs on (linux and the compile-time architecture).
Platform host_platform();

// The first manifest of `index` whose platform matches `wanted` after normalisation (os,
// architecture and variant equal), or nullopt.
std::optional<Descriptor> select_platform(const ImageIndex& index, const Platform& wanted);

// Thread-safe: requests use their own connection, so blobs may be fetched in parallel; the
// token cache is shared and locked.
class Client {
public:
    explicit Client(ClientOptions options = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    // GET the manifest or index `reference` names (its digest when it has one, else its tag).
    // Throws RegistryError: not found (404, codes MANIFEST_UNKNOWN / NAME_UNKNOWN), denied,
    // over k_max_manifest_size, or bytes that do not hash to the reference's digest or to the
    // Docker-Content-Digest header.
    FetchedManifest fetch_manifest(const Reference& reference);

    // fetch_manifest, then, for an index, the manifest for `platform` from it. Throws
    // RegistryError when the index has no such platform or the document is neither.
    FetchedManifest fetch_manifest_for(const Reference& reference, const Platform& platform);

    // Streams blob `digest` of the repository of `repository` into `out`, checking the digest
    // and `size` as the bytes pass. On a mismatch (or any failure) it throws RegistryError after
    // some bytes may already be in `out`: the caller, who owns `out`, discards them. Redirects
    // are followed; the Authorization header is sent only to the registry's own host.
    void fetch_blob(const Reference& repository, const Digest& digest, std::int64_t size, ByteSink& out);
    void fetch_blob(const Reference& repository, const Descriptor& descriptor, ByteSink& out);

    // HEAD the blob: true if the repository has it, false on 404. Throws RegistryError otherwise.
    bool blob_exists(const Reference& repository, const Digest& digest);

private:
    struct State;
    std::unique_ptr<State> m_state;
};

}  // namespace cbuild::registry
