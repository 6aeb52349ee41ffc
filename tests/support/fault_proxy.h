#pragma once
// A fault-injecting HTTP/1.1 proxy on 127.0.0.1 in front of a real registry, for tests of what
// the client does when the network or the server misbehaves. It is a process of its own,
// cbuild_fault_proxy (fault_proxy_main.cc), which serves each connection on a thread of its own
// on three listeners:
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
//   control          the channel through which this object drives the process (below); never
//                    proxied, never logged.
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
// An entry is brought up to date before the client is sent what it records (the answer's head,
// each piece of its body, the cut), so once the client has had an answer log() shows it.
//
// The process. The constructor runs
//   cbuild_fault_proxy --upstream HOST:PORT [--upstream-authorization VALUE] --parent-pid PID
// with stdin from /dev/null, stdout a pipe to the object, the test's stderr and no other
// descriptor. It arms PR_SET_PDEATHSIG (SIGKILL) and exits at once if PID is no longer its
// parent, so it never outlives the test; Linux sends that signal when the thread that made the
// object ends, so make it on a thread that outlives it. It binds its listeners on free ports and
// writes them as its first line on stdout, "PROXY REDIRECT CONTROL\n" (decimal ports), then
// serves until killed: the destructor sends SIGTERM, SIGKILL if it has not ended 5 seconds
// later, and reaps it.
//
// The control protocol: HTTP/1.1 on 127.0.0.1:CONTROL, one request per connection, every
// answer with `Connection: close` and a Content-Length.
//   POST /rules  body: one rule as a JSON object, every member required:
//                  {"fault": "answer_status", "method": "GET", "path_contains": "/v2/", "skip": 0,
//                   "times": 1, "status": 500, "retry_after_seconds": -1, "bytes": 0,
//                   "body_hex": ""}
//                FaultRule's fields by name, `fault` as the enumerator's name, `body` as
//                lowercase hex (it may be any bytes). 204 once the rule is in force; 400 with
//                {"error": "…"} for a body that is not such an object.
//   GET /log     200 with the log as a JSON array, oldest first, of
//                  {"listener": "proxy" | "redirect", "method": "…", "target": "…", "range": "…",
//                   "content_range": "…", "authorization": false, "request_body_bytes": 0,
//                   "status": 0, "response_body_bytes": 0, "fault": "cut_response_body" | null}
//                (text that is not UTF-8 arrives with U+FFFD for each bad byte).
//   Anything else is answered 404.

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
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

    // Starts cbuild_fault_proxy and waits for its ports. Throws cbuild::IoError when it cannot
    // be spawned, cbuild::Error when it exits or says nothing before listening.
    explicit FaultProxy(Options options);
    // Ends the process (SIGTERM, then SIGKILL after a bounded wait) and reaps it.
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    std::string host() const;           // "127.0.0.1:PORT"
    std::string redirect_host() const;  // "127.0.0.1:PORT", another port

    // Adds `rule` after the rules added before it (matched as described above); it is in force
    // when this returns. Throws cbuild::Error when the process does not take it.
    void add_rule(FaultRule rule);
    // Every request so far, in the order their heads arrived. Throws cbuild::Error when the
    // process does not answer.
    std::vector<ProxiedRequest> log() const;
    // The logged requests on host() with `method` (empty: any) whose target contains `path`.
    std::vector<ProxiedRequest> requests(const std::string& method, const std::string& path) const;

private:
    // Ends the process as the destructor says and reaps it; returns its wait status.
    int stop() noexcept;

    pid_t m_pid = -1;
    int m_proxy_port = 0;
    int m_redirect_port = 0;
    int m_control_port = 0;
};

}  // namespace cbuild::test
