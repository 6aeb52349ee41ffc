#pragma once
// A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real registry, for tests of what
// the client does when the network or the server misbehaves. It runs in threads of the test
// process (one per connection) on two listeners:
//
//   host()           forwards every request to the registry (a fresh upstream connection per
//                    request, `Connection: close` upstream) with the client's Host header kept,
//                    so the registry's Location URLs lead back through the proxy; the client's
//                    connection is kept alive unless it asks otherwise. Bodies are framed by
//                    Content-Length, chunked, or (responses only) the end of the connection, and
//                    relayed in the framing they came in. `Expect: 100-continue` is answered by
//                    the proxy itself.
//   redirect_host()  "another host" (another loopback port) for the `redirect` fault: it serves
//                    a GET or HEAD by fetching the same path from the registry with the proxy's
//                    own Options::upstream_authorization (never the client's, as storage behind
//                    a signed URL), and records whether the client sent an Authorization header.
//
// Rules (add_rule) are matched in the order added against requests on host(): a request matches
// when its method equals FaultRule::method (empty: any) and its target contains
// FaultRule::path_contains. The first matching rule that has uses left (FaultRule::times;
// -1 for unlimited) is applied once to that request, unless the rule is still letting its first
// FaultRule::skip matches through untouched (each such match uses up one skip instead):
//   answer_status          answer `status` without forwarding, with a distribution error body
//                          ("UNAVAILABLE", or "TOOMANYREQUESTS" for 429) and `Retry-After: N`
//                          when retry_after_seconds ≥ 0;
//   cut_response_body      forward, then close the client's connection after `bytes` bytes of
//                          the response body (the head promised the whole body);
//   corrupt_response_body  forward, with the byte at offset `bytes` of the body XORed with 0x55;
//   replace_response_body  forward, then send `body` instead of the registry's body, chunked (so
//                          the client learns its size only by reading it);
//   redirect               answer `307` to the same target on redirect_host();
//   cut_request_body       forward the head and the first `bytes` bytes of the request body,
//                          end the upstream request there (the registry sees the body end
//                          early and answers), then close the client's connection without an
//                          answer.
//
// Every request is logged (log()): listener, method, target, the Range and Content-Range
// headers, whether an Authorization header came (its value is never kept), the request body
// bytes forwarded, the status answered (0: none), the response body bytes sent, and the fault.
// The proxy stops, closing every connection, when the object goes.

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace cbuild::test {

enum class Fault {
    answer_status,
    cut_response_body,
    corrupt_response_body,
    replace_response_body,
    redirect,
    cut_request_body,
};

struct FaultRule {
    Fault fault = Fault::answer_status;
    std::string method{};         // empty: any method
    std::string path_contains{};  // a substring of the request target
    int skip = 0;                 // matching requests let through before it applies
    int times = 1;                // how many matching requests it applies to; -1: all
    long status = 500;            // answer_status
    int retry_after_seconds = -1; // answer_status: Retry-After when ≥ 0
    std::uint64_t bytes = 0;      // cut_*: bytes let through; corrupt_response_body: the offset
    std::string body{};           // replace_response_body
};

// One request the proxy saw.
struct ProxiedRequest {
    enum class Listener { proxy, redirect };
    Listener listener = Listener::proxy;
    std::string method{};
    std::string target{};
    std::string range{};          // the Range header, if any
    std::string content_range{};  // the Content-Range header, if any
    bool authorization = false;   // whether an Authorization header came
    std::uint64_t request_body_bytes = 0;   // forwarded to the registry
    long status = 0;                        // answered to the client; 0 when none was
    std::uint64_t response_body_bytes = 0;  // sent to the client
    std::optional<Fault> fault{};
};

class FaultProxy {
public:
    struct Options {
        std::string upstream_host;  // the registry, "127.0.0.1:PORT"
        // Sent by redirect_host() to the registry, e.g. "Basic …" for an htpasswd registry.
        std::string upstream_authorization{};
    };

    // Binds both listeners on free loopback ports and starts serving. Throws cbuild::IoError
    // when a socket cannot be bound.
    explicit FaultProxy(Options options);
    // Stops accepting, closes every open connection and joins all threads.
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    std::string host() const;           // "127.0.0.1:PORT"
    std::string redirect_host() const;  // "127.0.0.1:PORT", another port

    // Adds `rule` after the rules added before it (matched as described above).
    void add_rule(FaultRule rule);
    // Every request so far, in the order their heads arrived.
    std::vector<ProxiedRequest> log() const;
    // The logged requests on host() with `method` (empty: any) whose target contains `path`.
    std::vector<ProxiedRequest> requests(const std::string& method, const std::string& path) const;

private:
    struct Listener;
    struct Connection;
    void accept_loop(Listener& listener);
    void serve(int fd, ProxiedRequest::Listener listener);
    bool serve_one(Connection& client, ProxiedRequest::Listener listener);
    std::optional<FaultRule> take_rule(const std::string& method, const std::string& target);
    std::size_t begin_log(ProxiedRequest entry);
    void update_log(std::size_t index, const std::function<void(ProxiedRequest&)>& change);

    Options m_options;
    std::unique_ptr<Listener> m_proxy;
    std::unique_ptr<Listener> m_redirect;
    std::atomic<bool> m_stopping{false};
    mutable std::mutex m_mutex;
    std::vector<FaultRule> m_rules;
    std::vector<ProxiedRequest> m_log;
    std::vector<int> m_open_fds;
    std::vector<std::thread> m_threads;
};

}  // namespace cbuild::test
