// Pushing: blobs (HEAD, mount, monolithic or chunked upload with resume), manifests, whole
// images with bounded parallelism, and the login check.

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <exception>
#include <thread>

#include "registry/client.h"
#include "registry/internal/client_state.h"
#include "registry/internal/http.h"
#include "registry/internal/wire.h"

namespace cbuild::registry {
namespace {

using internal::HttpBody;
using internal::HttpRequest;
using internal::HttpResponse;
using internal::HttpTransportError;
using internal::temporary_status;

class FileReader : public BlobReader {
public:
    explicit FileReader(std::filesystem::path path) : m_path(std::move(path)) {
        m_fd = ::open(m_path.c_str(), O_RDONLY | O_CLOEXEC);
        if (m_fd < 0) throw IoError(m_path.string(), "opening blob to push", errno);
    }
    ~FileReader() override { ::close(m_fd); }
    FileReader(const FileReader&) = delete;
    FileReader& operator=(const FileReader&) = delete;

    std::size_t read_at(std::int64_t offset, std::span<std::byte> out) override {
        for (;;) {
            const ssize_t n = ::pread(m_fd, out.data(), out.size(), static_cast<off_t>(offset));
            if (n >= 0) return static_cast<std::size_t>(n);
            if (errno != EINTR) throw IoError(m_path.string(), "reading blob to push", errno);
        }
    }

private:
    std::filesystem::path m_path;
    int m_fd = -1;
};

class MemoryReader : public BlobReader {
public:
    explicit MemoryReader(std::shared_ptr<const std::string> bytes) : m_bytes(std::move(bytes)) {}
    std::size_t read_at(std::int64_t offset, std::span<std::byte> out) override {
        const auto start = static_cast<std::size_t>(std::max<std::int64_t>(offset, 0));
        if (start >= m_bytes->size()) return 0;
        const std::size_t count = std::min(out.size(), m_bytes->size() - start);
        std::memcpy(out.data(), m_bytes->data() + start, count);
        return count;
    }

private:
    std::shared_ptr<const std::string> m_bytes;
};

// A Location header resolved against the URL (or registry path) of the request that got it
// (RFC 7231 §7.1.2: absolute, host-relative or path-relative; the query is kept as sent).
std::string resolve_location(const std::string& base, const std::string& location) {
    if (!internal::url_authority(location).empty()) return location;
    const std::string authority = internal::url_authority(base);
    const std::string origin = authority.empty() ? "" : base.substr(0, base.find("://") + 3) + authority;
    if (location.rfind("//", 0) == 0) return base.substr(0, base.find("://") + 1) + location;
    if (!location.empty() && location.front() == '/') return origin + location;
    const std::string path = base.substr(0, base.find('?'));
    return path.substr(0, path.rfind('/') + 1) + location;
}

std::string with_query(const std::string& url, const std::string& parameter) {
    return url + (url.find('?') == std::string::npos ? "?" : "&") + parameter;
}

// The offset after the bytes a registry holds, from `Range: 0-END` (END inclusive). Distribution
// answers "0-0" for an empty upload, so that means nothing.
std::optional<std::int64_t> range_end(const HttpResponse& response) {
    const auto range = response.header("range");
    if (!range) return std::nullopt;
    const auto dash = range->find('-');
    if (dash == std::string::npos) return std::nullopt;
    try {
        const std::int64_t end = std::stoll(range->substr(dash + 1));
        return end == 0 ? 0 : end + 1;
    } catch (const std::exception&) {
        return std::nullopt;
    }
}

// The part [offset, offset + size) of a blob as a request body.
HttpBody body_of(BlobReader& reader, std::int64_t offset, std::int64_t size) {
    return HttpBody{.size = size, .read = [&reader, offset, size](std::int64_t at, std::span<std::byte> out) {
                        const auto left = static_cast<std::size_t>(size - at);
                        return reader.read_at(offset + at, out.first(std::min(out.size(), left)));
                    }};
}

}  // namespace

BlobSource BlobSource::file(std::filesystem::path path) {
    return BlobSource{.open = [path = std::move(path)] { return std::make_unique<FileReader>(path); }};
}

BlobSource BlobSource::bytes(std::string bytes) {
    auto shared = std::make_shared<const std::string>(std::move(bytes));
    return BlobSource{.open = [shared] { return std::make_unique<MemoryReader>(shared); }};
}

BlobPush Client::push_blob(const Reference& repository, const Descriptor& descriptor, const BlobSource& source) {
    State& state = *m_state;
    const std::string host = repository.registry_host();
    const std::string subject = repository.name() + "@" + descriptor.digest.to_string();
    const std::string blobs = "/v2/" + repository.path() + "/blobs/";
    const bool mount = source.mount_from && source.mount_from->registry_host() == host &&
                       source.mount_from->path() != repository.path();
    std::string scope = internal::repository_scope(repository.path(), "pull,push");
    if (mount) scope += " " + internal::repository_scope(source.mount_from->path(), "pull");

    const HttpResponse head = state.send(subject, "checking blob", host, HttpRequest{.method = "HEAD"},
                                         blobs + descriptor.digest.to_string(), scope);
    if (head.status == 200) return BlobPush::existed;
    if (head.status != 404) state.fail(subject, "checking blob", head);

    // POST starts an upload (or mounts); the answer's Location is where the bytes go.
    auto start = [&](bool with_mount) -> std::optional<std::string> {
        std::string target = blobs + "uploads/";
        if (with_mount)
            target += "?mount=" + internal::url_encode(descriptor.digest.to_string()) +
                      "&from=" + internal::url_encode(source.mount_from->path());
        const HttpResponse response = state.send(subject, "starting upload", host, HttpRequest{.method = "POST"},
                                                 target, scope);
        if (with_mount && response.status == 201) return std::nullopt;
        const auto location = response.header("location");
        if (response.status != 202 || !location) state.fail(subject, "starting upload", response);
        return resolve_location(target, *location);
    };
    std::optional<std::string> location = start(mount);
    if (!location) return BlobPush::mounted;

    const std::unique_ptr<BlobReader> reader = source.open();
    const std::int64_t size = descriptor.size;
    const bool chunked = size > state.options.monolithic_upload_limit;
    const std::int64_t chunk = std::max<std::int64_t>(1, state.options.upload_chunk_size);
    std::int64_t offset = 0;
    const int attempts = std::max(1, state.options.retry.attempts);
    int failures = 0;
    std::string last_problem;
    for (;;) {
        try {
            if (chunked && offset < size) {
                const std::int64_t length = std::min(chunk, size - offset);
                HttpRequest patch{.method = "PATCH",
                                  .headers = {"Content-Type: application/octet-stream",
                                              "Content-Range: " + std::to_string(offset) + "-" +
                                                  std::to_string(offset + length - 1)},
                                  .body = body_of(*reader, offset, length)};
                const HttpResponse response = state.exchange(subject, host, patch, *location, scope);
                if (response.status == 202) {
                    if (auto next = response.header("location")) location = resolve_location(*location, *next);
                    offset = range_end(response).value_or(offset + length);
                    continue;
                }
                // 416: the registry holds another amount than we thought; ask it (below).
                if (!temporary_status(response.status) && response.status != 416)
                    state.fail(subject, "uploading blob", response);
                last_problem = "HTTP " + std::to_string(response.status);
            } else {
                HttpRequest put{.method = "PUT",
                                .headers = {"Content-Type: application/octet-stream"},
                                .body = body_of(*reader, offset, size - offset)};
                const std::string target =
                    with_query(*location, "digest=" + internal::url_encode(descriptor.digest.to_string()));
                const HttpResponse response = state.exchange(subject, host, put, target, scope);
                if (response.status == 201) {
                    const auto stored = response.header("docker-content-digest");
                    if (stored && *stored != descriptor.digest.to_string())
                        throw RegistryError(subject, "the registry stored the blob as `" + *stored + "`", 0, {},
                                            false);
                    return BlobPush::uploaded;
                }
                if (!temporary_status(response.status)) state.fail(subject, "uploading blob", response);
                last_problem = "HTTP " + std::to_string(response.status);
            }
        } catch (const HttpTransportError& error) {
            last_problem = error.what();
        }
        if (++failures >= attempts)
            throw RegistryError(subject, "uploading blob: giving up after " + std::to_string(failures) +
                                             " failures: " + last_problem,
                                0, {}, true);
        std::this_thread::sleep_for(internal::backoff_delay(state.options.retry, failures - 1));
        // How much did the registry keep? Resume there; start over only if it forgot the upload.
        const HttpResponse status = state.send(subject, "checking upload", host, HttpRequest{}, *location, scope);
        if (status.status == 204 || status.status == 200) {
            if (auto next = status.header("location")) location = resolve_location(*location, *next);
            offset = std::min(range_end(status).value_or(0), size);
        } else if (status.status == 404 || status.status == 400) {
            location = start(false);
            offset = 0;
        } else if (!temporary_status(status.status)) {
            state.fail(subject, "checking upload", status);
        }
    }
}

Digest Client::push_manifest(const Reference& reference, const std::string& media_type, const std::string& bytes) {
    const std::string subject = reference.to_string();
    if (bytes.size() > k_max_manifest_size)
        throw RegistryError(subject, "manifest is larger than the 4 MiB limit", 0, {}, false);
    const Digest digest = sha256_of(bytes);
    if (reference.digest() && *reference.digest() != digest)
        throw RegistryError(subject, "manifest content does not match the digest (got " + digest.to_string() + ")", 0,
                            {}, false);
    const std::string identifier =
        reference.digest() ? reference.digest()->to_string() : reference.tag().value_or("latest");
    auto shared = std::make_shared<const std::string>(bytes);
    HttpRequest request{.method = "PUT",
                        .headers = {"Content-Type: " + media_type},
                        .body = HttpBody{.size = static_cast<std::int64_t>(bytes.size()),
                                         .read = [shared](std::int64_t at, std::span<std::byte> out) {
                                             return MemoryReader(shared).read_at(at, out);
                                         }}};
    const HttpResponse response =
        m_state->send(subject, "pushing manifest", reference.registry_host(), request,
                      "/v2/" + reference.path() + "/manifests/" + identifier,
                      internal::repository_scope(reference.path(), "pull,push"));
    if (response.status != 201 && response.status != 200) m_state->fail(subject, "pushing manifest", response);
    if (auto stored = response.header("docker-content-digest"); stored && *stored != digest.to_string())
        throw RegistryError(subject, "the registry stored the manifest as `" + *stored + "`, expected " +
                                         digest.to_string(),
                            0, {}, false);
    return digest;
}

PushedImage Client::push_image(const std::vector<Reference>& targets, const ImageToPush& image,
                               const BlobLookup& lookup, unsigned parallelism) {
    PushedImage result{.digest = sha256_of(image.manifest)};
    if (targets.empty()) return result;
    const std::string first = targets.front().to_string();
    if (is_manifest(image.media_type)) {
        ImageManifest manifest = [&] {
            try {
                return parse_manifest(image.manifest);
            } catch (const Error& error) {
                throw RegistryError(first, error.what(), 0, {}, false);
            }
        }();
        std::vector<Descriptor> needed = manifest.layers;
        needed.push_back(manifest.config);
        for (const auto& descriptor : needed) {
            const bool listed = std::any_of(image.blobs.begin(), image.blobs.end(),
                                            [&](const Descriptor& blob) { return blob.digest == descriptor.digest; });
            if (!listed)
                throw RegistryError(first, "the manifest references blob " + descriptor.digest.to_string() +
                                               " that is not among the blobs to push",
                                    0, {}, false);
        }
    }

    // Repositories in the order first named, each with its references.
    std::vector<std::pair<Reference, std::vector<Reference>>> repositories;
    for (const auto& target : targets) {
        auto found = std::find_if(repositories.begin(), repositories.end(),
                                  [&](const auto& entry) { return entry.first.name() == target.name(); });
        if (found == repositories.end())
            repositories.emplace_back(Reference::parse(target.name()), std::vector<Reference>{target});
        else
            found->second.push_back(target);
    }

    for (const auto& [repository, references] : repositories) {
        std::atomic<std::size_t> next{0};
        std::atomic<bool> failed{false};
        std::atomic<std::size_t> counts[3] = {0, 0, 0};
        std::exception_ptr failure;
        std::mutex failure_mutex;
        auto work = [&, repo = &repository] {
            for (std::size_t i = next++; i < image.blobs.size() && !failed; i = next++) {
                const Descriptor& descriptor = image.blobs[i];
                try {
                    std::optional<BlobSource> source = lookup ? lookup(descriptor) : std::nullopt;
                    BlobPush outcome = BlobPush::existed;
                    if (source) {
                        outcome = push_blob(*repo, descriptor, *source);
                    } else if (!blob_exists(*repo, descriptor.digest)) {
                        throw RegistryError(repo->name() + "@" + descriptor.digest.to_string(),
                                            "blob is neither available locally nor in the registry", 0, {}, false);
                    }
                    ++counts[static_cast<int>(outcome)];
                } catch (...) {
                    std::lock_guard lock(failure_mutex);
                    if (!failure) failure = std::current_exception();
                    failed = true;
                }
            }
        };
        const std::size_t workers = std::clamp<std::size_t>(parallelism, 1, std::max<std::size_t>(image.blobs.size(), 1));
        std::vector<std::thread> threads;
        for (std::size_t i = 1; i < workers; ++i) threads.emplace_back(work);
        work();
        for (auto& thread : threads) thread.join();
        if (failure) std::rethrow_exception(failure);
        result.existed += counts[0];
        result.mounted += counts[1];
        result.uploaded += counts[2];
        for (const auto& reference : references) push_manifest(reference, image.media_type, image.manifest);
    }
    return result;
}

void Client::ping(const std::string& registry_host) {
    const HttpResponse response = m_state->send(registry_host, "checking the login", registry_host, HttpRequest{},
                                                "/v2/", "");
    if (response.status != 200) m_state->fail(registry_host, "checking the login", response);
}

}  // namespace cbuild::registry
