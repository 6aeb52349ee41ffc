// The registry client without a registry: header and body parsing, backoff, platforms,
// credentials, and retries, redirects and pushes (resume, mount fallback) against a scripted
// HTTP server on loopback.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <mutex>
#include <thread>

#include "registry/client.h"
#include "registry/internal/wire.h"
#include "tests/support/command.h"
#include "tests/support/temp_dir.h"

namespace cbuild::registry {
namespace {

using namespace std::chrono_literals;

TEST(ClientTest, ParsesBearerChallenge) {
    const auto challenges = internal::parse_challenges(
        R"(Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull")");
    ASSERT_EQ(challenges.size(), 1u);
    EXPECT_EQ(challenges[0].scheme, "bearer");
    EXPECT_EQ(challenges[0].params.at("realm"), "https://auth.docker.io/token");
    EXPECT_EQ(challenges[0].params.at("service"), "registry.docker.io");
    EXPECT_EQ(challenges[0].params.at("scope"), "repository:library/ubuntu:pull");
}

TEST(ClientTest, ParsesSeveralChallengesAndEscapes) {
    const auto challenges = internal::parse_challenges(R"(Basic realm="a \"b\", c", Bearer realm=x,error=invalid_token)");
    ASSERT_EQ(challenges.size(), 2u);
    EXPECT_EQ(challenges[0].scheme, "basic");
    EXPECT_EQ(challenges[0].params.at("realm"), R"(a "b", c)");
    EXPECT_EQ(challenges[1].scheme, "bearer");
    EXPECT_EQ(challenges[1].params.at("realm"), "x");
    EXPECT_EQ(challenges[1].params.at("error"), "invalid_token");
    EXPECT_TRUE(internal::parse_challenges("").empty());
}

TEST(ClientTest, ParsesRetryAfter) {
    EXPECT_EQ(internal::parse_retry_after("7"), 7s);
    EXPECT_EQ(internal::parse_retry_after(" 0 "), 0s);
    const auto now = std::chrono::system_clock::from_time_t(1445412480);  // Wed, 21 Oct 2015 07:28:00 GMT
    EXPECT_EQ(internal::parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now), 30s);
    EXPECT_EQ(internal::parse_retry_after("soon"), std::nullopt);
}

TEST(ClientTest, ParsesErrorBody) {
    const auto details = internal::parse_error_body(
        R"({"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}},{"code":"DENIED"}]})");
    ASSERT_EQ(details.size(), 2u);
    EXPECT_EQ(details[0], (RegistryErrorDetail{.code = "MANIFEST_UNKNOWN", .message = "manifest unknown"}));
    EXPECT_EQ(details[1].code, "DENIED");
    EXPECT_TRUE(internal::parse_error_body("<html>").empty());
}

TEST(ClientTest, ParsesTokenResponse) {
    EXPECT_EQ(internal::parse_token_response(R"({"token":"abc","expires_in":300})").expires_in, 300s);
    const auto token = internal::parse_token_response(R"({"access_token":"xyz"})");
    EXPECT_EQ(token.value, "xyz");
    EXPECT_EQ(token.expires_in, 60s);
    EXPECT_THROW(internal::parse_token_response("{}"), Error);
}

TEST(ClientTest, BackoffDoublesUpToTheCap) {
    const RetryPolicy policy{.attempts = 10, .initial_delay = 200ms, .max_delay = 1000ms};
    EXPECT_EQ(internal::backoff_delay(policy, 0), 200ms);
    EXPECT_EQ(internal::backoff_delay(policy, 1), 400ms);
    EXPECT_EQ(internal::backoff_delay(policy, 2), 800ms);
    EXPECT_EQ(internal::backoff_delay(policy, 3), 1000ms);
    EXPECT_EQ(internal::backoff_delay(policy, 60), 1000ms);
}

TEST(ClientTest, RetryAfterReplacesBackoffUpToItsCap) {
    const RetryPolicy policy{.attempts = 4, .initial_delay = 200ms, .max_delay = 5000ms, .max_retry_after = 10000ms};
    EXPECT_EQ(internal::retry_delay(policy, 1, "3"), 3000ms);
    EXPECT_EQ(internal::retry_delay(policy, 1, "3600"), 10000ms);
    EXPECT_EQ(internal::retry_delay(policy, 1, "garbage"), 400ms);
    EXPECT_EQ(internal::retry_delay(policy, 1, std::nullopt), 400ms);
}

TEST(ClientTest, Base64RoundTrips) {
    for (std::string text : {"", "a", "ab", "abc", "robot$name:p@ss:word"})
        EXPECT_EQ(internal::base64_decode(internal::base64_encode(text)), text);
    EXPECT_EQ(internal::base64_encode("user:pass"), "dXNlcjpwYXNz");
    EXPECT_EQ(internal::base64_decode("!!"), std::nullopt);
}

TEST(ClientTest, ErrorMessageNamesReferenceAndCodes) {
    const RegistryError error("localhost:5000/a:b", "fetching manifest", 404,
                              {{.code = "MANIFEST_UNKNOWN", .message = "manifest unknown"}}, false);
    EXPECT_STREQ(error.what(), "`localhost:5000/a:b`: fetching manifest: HTTP 404: MANIFEST_UNKNOWN: manifest unknown");
    EXPECT_EQ(error.codes(), std::vector<std::string>{"MANIFEST_UNKNOWN"});
}

TEST(ClientTest, DefaultVariants) {
    EXPECT_EQ(normalize_platform({.architecture = "arm64", .os = "linux"}).variant, "v8");
    EXPECT_EQ(normalize_platform({.architecture = "arm", .os = "linux"}).variant, "v7");
    EXPECT_EQ(normalize_platform({.architecture = "amd64", .os = "linux"}).variant, "");
    EXPECT_EQ(normalize_platform({.architecture = "arm", .os = "linux", .variant = "v6"}).variant, "v6");
}

TEST(ClientTest, SelectsPlatformFromIndex) {
    auto entry = [](const std::string& content, Platform platform) {
        Descriptor descriptor{.media_type = k_oci_manifest, .digest = sha256_of(content), .size = 1};
        descriptor.platform = std::move(platform);
        return descriptor;
    };
    ImageIndex index;
    index.manifests = {entry("a", {.architecture = "amd64", .os = "linux"}),
                       entry("b", {.architecture = "arm", .os = "linux", .variant = "v6"}),
                       entry("c", {.architecture = "arm", .os = "linux"}),
                       entry("d", {.architecture = "arm64", .os = "linux", .variant = "v8"})};
    EXPECT_EQ(select_platform(index, {.architecture = "arm", .os = "linux"})->digest, sha256_of("c"));
    EXPECT_EQ(select_platform(index, {.architecture = "arm", .os = "linux", .variant = "v6"})->digest, sha256_of("b"));
    EXPECT_EQ(select_platform(index, {.architecture = "arm64", .os = "linux"})->digest, sha256_of("d"));
    EXPECT_EQ(select_platform(index, {.architecture = "amd64", .os = "linux"})->digest, sha256_of("a"));
    EXPECT_FALSE(select_platform(index, {.architecture = "amd64", .os = "windows"}));
}

TEST(ClientTest, ReadsDockerConfigAuths) {
    test::TempDir dir;
    test::write_file(dir.path() / "config.json",
                     R"({"auths":{"https://index.docker.io/v1/":{"auth":"aHViOnB3"},"localhost:5000":{"auth":")" +
                         internal::base64_encode("robot$ci:to:ken") + R"("}}})");
    const DockerConfigCredentials credentials(dir.path() / "config.json");
    const auto local = credentials.get("localhost:5000");
    ASSERT_TRUE(local);
    EXPECT_EQ(local->username, "robot$ci");
    EXPECT_EQ(local->password, "to:ken");
    EXPECT_EQ(credentials.get("registry-1.docker.io")->username, "hub");
    EXPECT_FALSE(credentials.get("ghcr.io"));
    EXPECT_FALSE(DockerConfigCredentials(dir.path() / "missing.json").get("ghcr.io"));
}

// A scripted HTTP/1.1 server on 127.0.0.1: each connection gets the next answer of `respond`
// for the request it sent, then is closed.
class ScriptedServer {
public:
    using Responder = std::function<std::string(const std::string& request)>;

    explicit ScriptedServer(Responder respond) : m_respond(std::move(respond)) {
        m_fd = socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in address{};
        address.sin_family = AF_INET;
        address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t length = sizeof address;
        if (bind(m_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || listen(m_fd, 16) != 0 ||
            getsockname(m_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0)
            throw Error("cannot listen on 127.0.0.1");
        m_port = ntohs(address.sin_port);
        m_thread = std::thread([this] { serve(); });
    }
    ~ScriptedServer() {
        shutdown(m_fd, SHUT_RDWR);
        close(m_fd);
        m_thread.join();
    }
    int port() const { return m_port; }
    std::vector<std::string> requests() {
        std::lock_guard lock(m_mutex);
        return m_requests;
    }

private:
    void serve() {
        for (;;) {
            const int client = accept(m_fd, nullptr, nullptr);
            if (client < 0) return;
            std::string request;
            char buffer[4096];
            while (request.find("\r\n\r\n") == std::string::npos) {
                const ssize_t n = read(client, buffer, sizeof buffer);
                if (n <= 0) break;
                request.append(buffer, static_cast<std::size_t>(n));
                if (request[0] == 0x16) break;  // a TLS hello: answer it as a plain HTTP server would
            }
            read_body(client, request);
            {
                std::lock_guard lock(m_mutex);
                m_requests.push_back(request);
            }
            const std::string response = m_respond(request);
            for (std::size_t sent = 0; sent < response.size();) {
                const ssize_t n = write(client, response.data() + sent, response.size() - sent);
                if (n <= 0) break;
                sent += static_cast<std::size_t>(n);
            }
            close(client);
        }
    }

    // Reads the rest of a body announced by Content-Length into `request`.
    static void read_body(int client, std::string& request) {
        const auto end = request.find("\r\n\r\n");
        if (end == std::string::npos) return;
        std::string head = request.substr(0, end);
        std::transform(head.begin(), head.end(), head.begin(), [](unsigned char c) { return std::tolower(c); });
        const auto field = head.find("\r\ncontent-length:");
        if (field == std::string::npos) return;
        const std::size_t length = std::stoul(head.substr(field + 17));
        char buffer[65536];
        while (request.size() < end + 4 + length) {
            const ssize_t n = read(client, buffer, std::min(sizeof buffer, end + 4 + length - request.size()));
            if (n <= 0) return;
            request.append(buffer, static_cast<std::size_t>(n));
        }
    }

    Responder m_respond;
    int m_fd = -1;
    int m_port = 0;
    std::thread m_thread;
    std::mutex m_mutex;
    std::vector<std::string> m_requests;
};

std::string http_response(const std::string& status, const std::string& body, const std::string& headers = "") {
    return "HTTP/1.1 " + status + "\r\nContent-Length: " + std::to_string(body.size()) +
           "\r\nConnection: close\r\n" + headers + "\r\n" + body;
}

ClientOptions fast_options() {
    ClientOptions options;
    options.retry = {.attempts = 4, .initial_delay = 1ms, .max_delay = 2ms, .max_retry_after = 5ms};
    return options;
}

const std::string k_manifest = R"({"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"})";

TEST(ClientTest, RetriesServerErrorsThenSucceeds) {
    int calls = 0;
    ScriptedServer server([&](const std::string&) {
        if (++calls <= 2) return http_response("500 Internal Server Error", R"({"errors":[{"code":"UNKNOWN"}]})");
        return http_response("200 OK", k_manifest, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    });
    Client client(fast_options());
    const auto fetched = client.fetch_manifest(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a:b"));
    EXPECT_EQ(fetched.bytes, k_manifest);
    EXPECT_EQ(server.requests().size(), 3u);
}

TEST(ClientTest, HonoursRetryAfterOn429AndGivesUpAsTemporary) {
    ScriptedServer server([&](const std::string&) {
        return http_response("429 Too Many Requests", R"({"errors":[{"code":"TOOMANYREQUESTS"}]})", "Retry-After: 1\r\n");
    });
    Client client(fast_options());
    try {
        client.fetch_manifest(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a:b"));
        FAIL() << "expected an error";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 429);
        EXPECT_TRUE(error.temporary());
        EXPECT_EQ(error.codes(), std::vector<std::string>{"TOOMANYREQUESTS"});
    }
    EXPECT_EQ(server.requests().size(), 4u);
}

TEST(ClientTest, NeverRetriesOtherClientErrors) {
    ScriptedServer server([&](const std::string&) { return http_response("404 Not Found", "{}"); });
    Client client(fast_options());
    EXPECT_THROW(client.fetch_manifest(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a:b")),
                 RegistryError);
    EXPECT_EQ(server.requests().size(), 1u);
}

TEST(ClientTest, RefusesManifestOverFourMebibytes) {
    ScriptedServer server([&](const std::string&) {
        return http_response("200 OK", std::string(k_max_manifest_size + 1, ' '));
    });
    Client client(fast_options());
    EXPECT_THROW(client.fetch_manifest(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a:b")),
                 RegistryError);
}

TEST(ClientTest, RedirectToAnotherHostDropsAuthorization) {
    const std::string blob = "blob bytes";
    const Digest digest = sha256_of(blob);
    ScriptedServer storage([&](const std::string&) { return http_response("200 OK", blob); });
    ScriptedServer registry([&](const std::string& request) {
        if (request.find("Authorization: Basic") == std::string::npos)
            return http_response("401 Unauthorized", "{}", "WWW-Authenticate: Basic realm=\"r\"\r\n");
        // "localhost" is another host than "127.0.0.1" although both are loopback.
        return http_response("307 Temporary Redirect", "",
                             "Location: http://localhost:" + std::to_string(storage.port()) + "/data\r\n");
    });
    ClientOptions options = fast_options();
    const std::string host = "127.0.0.1:" + std::to_string(registry.port());
    options.credentials = std::make_shared<StaticCredentials>(
        std::map<std::string, Credential>{{host, Credential{.username = "u", .password = "p"}}});
    Client client(options);
    struct Sink : ByteSink {
        using ByteSink::write;
        void write(std::span<const std::byte> bytes) override { text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size()); }
        std::string text;
    } sink;
    client.fetch_blob(Reference::parse(host + "/a"), digest, static_cast<std::int64_t>(blob.size()), sink);
    EXPECT_EQ(sink.text, blob);
    ASSERT_EQ(storage.requests().size(), 1u);
    EXPECT_EQ(storage.requests()[0].find("Authorization"), std::string::npos) << storage.requests()[0];
    EXPECT_NE(registry.requests().back().find("Authorization: Basic"), std::string::npos);
}

TEST(ClientTest, BearerTokenIsFetchedWithCredentialsAndCached) {
    ScriptedServer tokens([&](const std::string& request) {
        if (request.find("Authorization: Basic " + internal::base64_encode("u:p")) == std::string::npos)
            return http_response("401 Unauthorized", "{}");
        return http_response("200 OK", R"({"token":"tok-1","expires_in":300})");
    });
    const std::string realm = "http://127.0.0.1:" + std::to_string(tokens.port()) + "/token";
    ScriptedServer registry([&](const std::string& request) {
        if (request.find("Authorization: Bearer tok-1") == std::string::npos)
            return http_response("401 Unauthorized", R"({"errors":[{"code":"UNAUTHORIZED"}]})",
                                 "WWW-Authenticate: Bearer realm=\"" + realm +
                                     "\",service=\"test registry\",scope=\"repository:a:pull\"\r\n");
        return http_response("200 OK", k_manifest, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    });
    const std::string host = "127.0.0.1:" + std::to_string(registry.port());
    ClientOptions options = fast_options();
    options.credentials = std::make_shared<StaticCredentials>(
        std::map<std::string, Credential>{{host, Credential{.username = "u", .password = "p"}}});
    Client client(options);
    EXPECT_EQ(client.fetch_manifest(Reference::parse(host + "/a:one")).bytes, k_manifest);
    EXPECT_EQ(client.fetch_manifest(Reference::parse(host + "/a:two")).bytes, k_manifest);
    ASSERT_EQ(tokens.requests().size(), 1u);  // the second fetch reused the cached token
    EXPECT_NE(tokens.requests()[0].find("GET /token?service=test%20registry&scope=repository%3Aa%3Apull "),
              std::string::npos)
        << tokens.requests()[0];
    EXPECT_EQ(registry.requests().size(), 3u);

    Client anonymous(fast_options());
    try {
        anonymous.fetch_manifest(Reference::parse(host + "/a:one"));
        FAIL() << "expected the token server to refuse";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 401);
        EXPECT_NE(std::string(error.what()).find("anonymous"), std::string::npos) << error.what();
    }
}

TEST(ClientTest, ManifestMustMatchDigests) {
    ScriptedServer server([&](const std::string&) {
        return http_response("200 OK", k_manifest,
                             "Docker-Content-Digest: " + sha256_of("other").to_string() + "\r\n");
    });
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    Client client(fast_options());
    try {
        client.fetch_manifest(Reference::parse(host + "/a:b"));
        FAIL() << "expected a Docker-Content-Digest mismatch";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("Docker-Content-Digest"), std::string::npos) << error.what();
    }
    try {
        client.fetch_manifest(Reference::parse(host + "/a@" + sha256_of("pinned").to_string()));
        FAIL() << "expected a digest mismatch";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("does not match the digest"), std::string::npos) << error.what();
        EXPECT_FALSE(error.temporary());
    }
}

std::string pattern_bytes(std::size_t size);

// The Range header of a request ("bytes=40-"), empty when none.
std::string range_of(const std::string& request) {
    const auto at = request.find("\r\nRange: ");
    return at == std::string::npos ? "" : request.substr(at + 9, request.find("\r\n", at + 2) - at - 9);
}

struct CollectingSink : ByteSink {
    using ByteSink::write;
    void write(std::span<const std::byte> bytes) override {
        text.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    std::string text;
};

TEST(ClientTest, BlobCutMidBodyResumesWithRange) {
    const std::string blob = pattern_bytes(100);
    ScriptedServer server([&](const std::string& request) {
        // The first answer promises 100 bytes and is cut after 40; the second sends the rest.
        if (range_of(request).empty())
            return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + blob.substr(0, 40);
        if (range_of(request) != "bytes=40-") return http_response("400 Bad Request", "");
        return http_response("206 Partial Content", blob.substr(40), "Content-Range: bytes 40-99/100\r\n");
    });
    Client client(fast_options());
    CollectingSink sink;
    client.fetch_blob(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a"), sha256_of(blob), 100,
                      sink);
    EXPECT_EQ(sink.text, blob);
    EXPECT_EQ(server.requests().size(), 2u);
}

TEST(ClientTest, ServerIgnoringRangeIsReadFromTheStartWithoutWritingAnyByteTwice) {
    const std::string blob = pattern_bytes(100);
    int calls = 0;
    ScriptedServer server([&](const std::string&) {
        if (++calls == 1)
            return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + blob.substr(0, 70);
        return http_response("200 OK", blob);  // the whole blob again, Range ignored
    });
    Client client(fast_options());
    CollectingSink sink;
    client.fetch_blob(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a"), sha256_of(blob), 100,
                      sink);
    EXPECT_EQ(sink.text, blob);
    ASSERT_EQ(server.requests().size(), 2u);
    EXPECT_EQ(range_of(server.requests()[1]), "bytes=70-");
}

TEST(ClientTest, BlobCutOnEveryAttemptGivesUpAsTemporary) {
    ScriptedServer server([&](const std::string&) {
        // Promises 100 bytes, sends 10, closes; a Range is ignored.
        return std::string("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n0123456789");
    });
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    Client client(fast_options());
    CollectingSink sink;
    try {
        client.fetch_blob(Reference::parse(host + "/a"), sha256_of("x"), 100, sink);
        FAIL() << "expected a cut transfer";
    } catch (const RegistryError& error) {
        EXPECT_TRUE(error.temporary()) << error.what();
        EXPECT_EQ(error.status(), 0);
        EXPECT_NE(std::string(error.what()).find("giving up after 4 failures (10 of 100 bytes received)"),
                  std::string::npos)
            << error.what();
    }
    EXPECT_EQ(sink.text, "0123456789");  // each answer restarted from zero: its first 10 bytes were here
    EXPECT_EQ(server.requests().size(), 4u);
}

TEST(ClientTest, PartialAnswerFromAnotherOffsetIsRefused) {
    const std::string blob = pattern_bytes(100);
    ScriptedServer server([&](const std::string& request) {
        if (range_of(request).empty())
            return "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nConnection: close\r\n\r\n" + blob.substr(0, 40);
        return http_response("206 Partial Content", blob.substr(50), "Content-Range: bytes 50-99/100\r\n");
    });
    Client client(fast_options());
    CollectingSink sink;
    try {
        client.fetch_blob(Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a"), sha256_of(blob),
                          100, sink);
        FAIL() << "expected a refused range";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("byte 40 with bytes from 50"), std::string::npos) << error.what();
        EXPECT_FALSE(error.temporary());
    }
    EXPECT_EQ(sink.text, blob.substr(0, 40));
}

TEST(ClientTest, InsecureRegistryFallsBackToPlainHttp) {
    ScriptedServer server([&](const std::string& request) {
        if (request[0] == 0x16) return std::string("HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n");
        return http_response("200 OK", k_manifest, "Content-Type: application/vnd.oci.image.manifest.v1+json\r\n");
    });
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    ClientOptions options = fast_options();
    options.insecure_registries = {host};
    Client client(options);
    EXPECT_EQ(client.fetch_manifest(Reference::parse(host + "/a:b")).bytes, k_manifest);
    EXPECT_EQ(client.fetch_manifest(Reference::parse(host + "/a:c")).bytes, k_manifest);
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 3u);  // one TLS hello, then HTTP only (the fallback is remembered)
    EXPECT_EQ(requests[0][0], 0x16);
    EXPECT_EQ(requests[1].rfind("GET /v2/a/manifests/b ", 0), 0u);
}

// The request line ("PATCH /v2/a/blobs/uploads/u?_state=1 HTTP/1.1"), a header's value, the body.
std::string request_line(const std::string& request) { return request.substr(0, request.find("\r\n")); }
std::string request_header(const std::string& request, const std::string& name) {
    const auto at = request.find("\r\n" + name + ": ");
    if (at == std::string::npos) return {};
    const auto start = at + name.size() + 4;
    return request.substr(start, request.find("\r\n", start) - start);
}
std::string request_body(const std::string& request) { return request.substr(request.find("\r\n\r\n") + 4); }

std::string pattern_bytes(std::size_t size) {
    std::string bytes(size, '\0');
    for (std::size_t i = 0; i < size; ++i) bytes[i] = static_cast<char>((i * 131 + i / 251) & 0xff);
    return bytes;
}

Descriptor blob_descriptor(const std::string& bytes) {
    return Descriptor{.media_type = "application/octet-stream", .digest = sha256_of(bytes),
                      .size = static_cast<std::int64_t>(bytes.size())};
}

TEST(ClientPushTest, ResumesAChunkedUploadCutMidPatchFromTheRegistrysOffset) {
    const std::string blob = pattern_bytes(10000);
    std::string stored;  // what the "registry" kept
    int patches = 0;
    int port = 0;
    ScriptedServer server([&](const std::string& request) {
        const std::string line = request_line(request);
        if (line.rfind("HEAD ", 0) == 0) return http_response("404 Not Found", "");
        if (line.rfind("POST ", 0) == 0)
            return http_response("202 Accepted", "", "Location: /v2/a/blobs/uploads/u1?_state=s0\r\n");
        if (line.rfind("PATCH ", 0) == 0) {
            const std::string range = request_header(request, "Content-Range");
            const std::size_t start = std::stoul(range.substr(0, range.find('-')));
            if (start != stored.size()) return http_response("416 Range Not Satisfiable", "");
            const std::string body = request_body(request);
            if (++patches == 2) {
                stored += body.substr(0, 2000);  // kept half of the chunk, then the connection broke
                return std::string();
            }
            stored += body;
            return http_response("202 Accepted", "",
                                 "Location: http://127.0.0.1:" + std::to_string(port) +
                                     "/v2/a/blobs/uploads/u1?_state=p" + std::to_string(patches) +
                                     "\r\nRange: 0-" + std::to_string(stored.size() - 1) + "\r\n");
        }
        if (line.rfind("GET ", 0) == 0)
            return http_response("204 No Content", "",
                                 "Location: /v2/a/blobs/uploads/u1?_state=resumed\r\nRange: 0-" +
                                     std::to_string(stored.size() - 1) + "\r\n");
        if (line.rfind("PUT ", 0) == 0 && stored == blob)
            return http_response("201 Created", "", "Docker-Content-Digest: " + sha256_of(blob).to_string() + "\r\n");
        return http_response("400 Bad Request", R"({"errors":[{"code":"BLOB_UPLOAD_INVALID"}]})");
    });
    port = server.port();
    ClientOptions options = fast_options();
    options.monolithic_upload_limit = 1000;
    options.upload_chunk_size = 4000;
    Client client(options);
    const Reference repository = Reference::parse("127.0.0.1:" + std::to_string(port) + "/a");
    EXPECT_EQ(client.push_blob(repository, blob_descriptor(blob), BlobSource::bytes(blob)), BlobPush::uploaded);
    EXPECT_EQ(stored, blob);

    std::vector<std::string> lines;
    for (const auto& request : server.requests()) lines.push_back(request_line(request));
    ASSERT_EQ(lines.size(), 7u) << testing::PrintToString(lines);
    EXPECT_EQ(lines[2], "PATCH /v2/a/blobs/uploads/u1?_state=s0 HTTP/1.1");
    EXPECT_EQ(lines[3], "PATCH /v2/a/blobs/uploads/u1?_state=p1 HTTP/1.1");  // absolute Location, query kept
    EXPECT_EQ(lines[4], "GET /v2/a/blobs/uploads/u1?_state=p1 HTTP/1.1");
    // The resumed PATCH starts where the registry said it stopped and re-sends nothing before.
    const std::string resumed = server.requests()[5];
    EXPECT_EQ(request_line(resumed), "PATCH /v2/a/blobs/uploads/u1?_state=resumed HTTP/1.1");
    EXPECT_EQ(request_header(resumed, "Content-Range"), "6000-9999");
    EXPECT_EQ(request_body(resumed), blob.substr(6000, 4000));
    EXPECT_EQ(lines[6], "PUT /v2/a/blobs/uploads/u1?_state=p3&digest=sha256%3A" + sha256_of(blob).hex() +
                            " HTTP/1.1");
    EXPECT_EQ(request_body(server.requests()[6]), "");
}

TEST(ClientPushTest, MonolithicPutRetriedAfterA500) {
    const std::string blob = "a small blob";
    int puts = 0;
    ScriptedServer server([&](const std::string& request) {
        const std::string line = request_line(request);
        if (line.rfind("HEAD ", 0) == 0) return http_response("404 Not Found", "");
        if (line.rfind("POST ", 0) == 0) return http_response("202 Accepted", "", "Location: /v2/a/uploads/x\r\n");
        if (line.rfind("GET ", 0) == 0) return http_response("204 No Content", "", "Range: 0-0\r\n");
        if (line.rfind("PUT ", 0) == 0 && ++puts == 1)
            return http_response("500 Internal Server Error", R"({"errors":[{"code":"UNKNOWN"}]})");
        if (line.rfind("PUT ", 0) == 0 && request_body(request) == blob) return http_response("201 Created", "");
        return http_response("400 Bad Request", "");
    });
    Client client(fast_options());
    const Reference repository = Reference::parse("127.0.0.1:" + std::to_string(server.port()) + "/a");
    EXPECT_EQ(client.push_blob(repository, blob_descriptor(blob), BlobSource::bytes(blob)), BlobPush::uploaded);
    EXPECT_EQ(puts, 2);
    const auto requests = server.requests();
    ASSERT_EQ(requests.size(), 5u);
    EXPECT_EQ(request_line(requests[2]), "PUT /v2/a/uploads/x?digest=sha256%3A" + sha256_of(blob).hex() + " HTTP/1.1");
    EXPECT_EQ(request_body(requests[4]), blob);
}

TEST(ClientPushTest, ManifestPutRetriedAfterA500AndDigestChecked) {
    int calls = 0;
    std::string stored_as = sha256_of(k_manifest).to_string();
    ScriptedServer server([&](const std::string& request) {
        if (++calls == 1) return http_response("500 Internal Server Error", "");
        if (request_header(request, "Content-Type") != k_oci_manifest || request_body(request) != k_manifest)
            return http_response("400 Bad Request", R"({"errors":[{"code":"MANIFEST_INVALID"}]})");
        return http_response("201 Created", "", "Docker-Content-Digest: " + stored_as + "\r\n");
    });
    Client client(fast_options());
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    EXPECT_EQ(client.push_manifest(Reference::parse(host + "/a:v1"), k_oci_manifest, k_manifest),
              sha256_of(k_manifest));
    EXPECT_EQ(request_line(server.requests()[1]), "PUT /v2/a/manifests/v1 HTTP/1.1");
    stored_as = sha256_of("something else").to_string();
    try {
        client.push_manifest(Reference::parse(host + "/a:v2"), k_oci_manifest, k_manifest);
        FAIL() << "expected a Docker-Content-Digest mismatch";
    } catch (const RegistryError& error) {
        EXPECT_NE(std::string(error.what()).find("a:v2`"), std::string::npos) << error.what();
    }
}

TEST(ClientPushTest, MountAnsweredWith202ContinuesAsAnUpload) {
    const std::string blob = "mounted or not";
    bool mount_allowed = false;
    ScriptedServer server([&](const std::string& request) {
        const std::string line = request_line(request);
        if (line.rfind("HEAD ", 0) == 0) return http_response("404 Not Found", "");
        if (line.rfind("POST ", 0) == 0 && mount_allowed) return http_response("201 Created", "");
        if (line.rfind("POST ", 0) == 0) return http_response("202 Accepted", "", "Location: /v2/b/blobs/uploads/m\r\n");
        if (line.rfind("PUT ", 0) == 0 && request_body(request) == blob) return http_response("201 Created", "");
        return http_response("400 Bad Request", "");
    });
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    BlobSource source = BlobSource::bytes(blob);
    source.mount_from = Reference::parse(host + "/team/a");
    Client client(fast_options());
    EXPECT_EQ(client.push_blob(Reference::parse(host + "/b"), blob_descriptor(blob), source), BlobPush::uploaded);
    auto requests = server.requests();
    ASSERT_EQ(requests.size(), 3u);
    EXPECT_EQ(request_line(requests[1]), "POST /v2/b/blobs/uploads/?mount=sha256%3A" + sha256_of(blob).hex() +
                                             "&from=team%2Fa HTTP/1.1");
    EXPECT_EQ(request_line(requests[2]).rfind("PUT /v2/b/blobs/uploads/m?digest=", 0), 0u);

    mount_allowed = true;
    EXPECT_EQ(client.push_blob(Reference::parse(host + "/b"), blob_descriptor(blob), source), BlobPush::mounted);
    EXPECT_EQ(server.requests().size(), 5u);  // HEAD and POST only: no bytes sent
}

TEST(ClientPushTest, PingReportsUnauthorized) {
    bool accept = false;
    ScriptedServer server([&](const std::string& request) {
        if (accept && request.find("Authorization: Basic") != std::string::npos) return http_response("200 OK", "{}");
        return http_response("401 Unauthorized", R"({"errors":[{"code":"UNAUTHORIZED"}]})",
                             "WWW-Authenticate: Basic realm=\"r\"\r\n");
    });
    const std::string host = "127.0.0.1:" + std::to_string(server.port());
    ClientOptions options = fast_options();
    options.credentials = std::make_shared<StaticCredentials>(
        std::map<std::string, Credential>{{host, Credential{.username = "u", .password = "secret-pw"}}});
    Client client(options);
    try {
        client.ping(host);
        FAIL() << "expected unauthorized";
    } catch (const RegistryError& error) {
        EXPECT_EQ(error.status(), 401);
        EXPECT_NE(std::string(error.what()).find("unauthorized"), std::string::npos) << error.what();
        EXPECT_EQ(std::string(error.what()).find("secret-pw"), std::string::npos) << error.what();
    }
    accept = true;
    Client fresh(options);
    EXPECT_NO_THROW(fresh.ping(host));
}

}  // namespace
}  // namespace cbuild::registry
