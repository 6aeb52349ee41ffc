#pragma once
// The distribution API client (distribution spec v1.1 over HTTP/HTTPS, libcurl): manifests and
// blobs pulled with digest and size verified while streaming, blobs and manifests pushed (HEAD
// first, cross-repository mounts, monolithic or chunked uploads that resume after a cut), Basic
// and Bearer token auth, retries of temporary failures, and Docker's per-registry TLS settings.
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
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
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

// A username and password, and/or an OAuth2 identity (refresh) token, for one registry. With an
// identity token, Bearer tokens come from the token server's POST flow
// (`grant_type=refresh_token`, as docker's `identitytoken`); otherwise from its GET flow with
// the username and password as Basic credentials. No part of it ever appears in a message.
struct Credential {
    std::string username{};
    std::string password{};
    std::string identity_token{};
};

// Where credentials come from (fixed values, docker's config.json and its credential helpers).
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

// The logins of a docker config.json (see registry/docker_config.h: `auths` with `auth` and
// `identitytoken`, credsStore, credHelpers), read on every get() so a `docker login` in between
// is seen. Keys may be "HOST", "https://HOST" or "https://HOST/v1/"; Docker Hub's is
// "https://index.docker.io/v1/". A missing file means no credentials; an unreadable or
// malformed one throws cbuild::Error naming the path.
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
    // A blob up to this size is uploaded with one PUT; a larger one in PATCH chunks of
    // upload_chunk_size bytes (each resumable), then a PUT without body.
    std::int64_t monolithic_upload_limit = 16 << 20;
    std::int64_t upload_chunk_size = 32 << 20;
};

// Reads the bytes of one blob at any offset, so an upload can be retried or resumed.
class BlobReader {
public:
    virtual ~BlobReader() = default;
    // Copies up to out.size() bytes from `offset` into `out`; returns how many, 0 only at the
    // end. Throws cbuild::Error (IoError) when it cannot.
    virtual std::size_t read_at(std::int64_t offset, std::span<std::byte> out) = 0;
};

// Where the bytes of a blob to push come from. `open` may be called more than once (once per
// upload attempt that needs the bytes; never when the registry already has the blob).
struct BlobSource {
    std::function<std::unique_ptr<BlobReader>()> open{};
    // A repository of the same registry that holds the blob: it is mounted from there
    // (`POST …/blobs/uploads/?mount=DIGEST&from=REPO`) instead of uploaded when the registry
    // allows. Ignored when it names another registry.
    std::optional<Reference> mount_from{};

    // The bytes of the file at `path` (opened on each `open`; IoError when it cannot be).
    static BlobSource file(std::filesystem::path path);
    // Bytes held in memory (small blobs: configs, tests).
    static BlobSource bytes(std::string bytes);
};

// What push_blob did: the registry had the blob, mounted it from another repository, or got
// the bytes.
enum class BlobPush { existed, mounted, uploaded };

// An image to push: its manifest exactly as it will be stored, and the config and layer blobs
// it references.
struct ImageToPush {
    std::string media_type{};  // of the manifest
    std::string manifest{};
    std::vector<Descriptor> blobs{};
};

// The source of a blob push_image needs, or nullopt when there is none locally (fine only when
// the registry already has it).
using BlobLookup = std::function<std::optional<BlobSource>(const Descriptor&)>;

struct PushedImage {
    Digest digest;  // of the manifest
    std::size_t existed = 0;  // blob pushes of each outcome, summed over the repositories
    std::size_t mounted = 0;
    std::size_t uploaded = 0;
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
    // and `size` as the bytes pass. A transfer cut mid-body is resumed with `Range:
    // bytes=RECEIVED-` (a 206 continues where it stopped; a 200 that ignored the Range is read
    // from the start and the bytes `out` already has are skipped), each byte written to `out`
    // exactly once and the digest checked over all of them; at most RetryPolicy::attempts
    // failed requests in all. On a mismatch (or any failure) it throws RegistryError after some
    // bytes may already be in `out`: the caller, who owns `out`, discards them. Redirects are
    // followed; the Authorization header is sent only to the registry's own host.
    void fetch_blob(const Reference& repository, const Digest& digest, std::int64_t size, ByteSink& out);
    void fetch_blob(const Reference& repository, const Descriptor& descriptor, ByteSink& out);

    // HEAD the blob: true if the repository has it, false on 404. Throws RegistryError otherwise.
    bool blob_exists(const Reference& repository, const Digest& digest);

    // Pushes one blob into the repository of `repository` (a token with pull,push scope, plus
    // pull on a mount's source): HEAD first, then a mount when the source names one, else an
    // upload (monolithic or chunked, see ClientOptions). After a cut connection or a temporary
    // error mid-upload, asks the registry how much it has (GET on the upload URL) and goes on
    // from there, starting a new upload only when the registry forgot the old one; at most
    // RetryPolicy::attempts failures. Throws RegistryError naming `repository@digest`, or what
    // the source's reader threw.
    BlobPush push_blob(const Reference& repository, const Descriptor& descriptor, const BlobSource& source);

    // PUTs a manifest or index as `reference` (its tag, or its digest when it has one) with
    // `media_type` as Content-Type. Returns the manifest's digest. Throws RegistryError when the
    // registry refuses it (e.g. MANIFEST_BLOB_UNKNOWN), when its Docker-Content-Digest answer or
    // the reference's digest is not the digest of `bytes`, or when it is over 4 MiB.
    Digest push_manifest(const Reference& reference, const std::string& media_type, const std::string& bytes);

    // Pushes an image to every reference of `targets` (tags or digests, in one or several
    // repositories): for each repository, the blobs of `image` at most `parallelism` at once
    // (each on its own connection), then the manifest for each of its references. A manifest is
    // PUT only after all its blobs are in the repository: a failed blob (or one with no source
    // that the registry lacks) throws RegistryError before any manifest is written. Also throws
    // when the manifest references a blob missing from image.blobs.
    PushedImage push_image(const std::vector<Reference>& targets, const ImageToPush& image, const BlobLookup& lookup,
                           unsigned parallelism = 4);

    // Checks that the credentials for `registry_host` ("HOST[:PORT]") are accepted: GET /v2/.
    // Throws RegistryError ("unauthorized" for a 401, "no credentials" when a login is needed
    // and there are none), as `cbuild login` reports.
    void ping(const std::string& registry_host);

private:
    struct State;
    std::unique_ptr<State> m_state;
};

}  // namespace cbuild::registry
