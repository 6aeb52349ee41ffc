#include "tests/support/fault_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "common/error.h"

namespace cbuild::test {
namespace {

// A hang guard for a peer that stops talking, far beyond what any test needs.
constexpr int k_receive_timeout_seconds = 60;
constexpr std::size_t k_max_head = 64 * 1024;

sockaddr_in loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

std::string lowercase(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
    return std::string(text);
}

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// The start line and header fields of a request or response.
struct Head {
    std::string start_line;
    std::vector<std::pair<std::string, std::string>> fields;  // names as sent

    static Head parse(const std::string& text) {
        Head head;
        std::size_t at = text.find("\r\n");
        head.start_line = text.substr(0, at);
        while (at != std::string::npos && at + 2 < text.size()) {
            const std::size_t next = text.find("\r\n", at + 2);
            const std::string line = text.substr(at + 2, next == std::string::npos ? std::string::npos : next - at - 2);
            at = next;
            const auto colon = line.find(':');
            if (colon == std::string::npos || colon == 0) continue;
            head.fields.emplace_back(line.substr(0, colon), trim(std::string_view(line).substr(colon + 1)));
        }
        return head;
    }

    std::optional<std::string> get(std::string_view name) const {
        for (const auto& [field, value] : fields)
            if (lowercase(field) == name) return value;
        return std::nullopt;
    }

    // The word `index` of the start line: method/target/version, or version/status/reason.
    std::string word(int index) const {
        std::size_t start = 0;
        for (int i = 0; i < index; ++i) {
            start = start_line.find(' ', start);
            if (start == std::string::npos) return {};
            ++start;
        }
        return start_line.substr(start, start_line.find(' ', start) - start);
    }

    // The head as sent on the wire without the fields named in `drop` (lowercase), plus `extra`
    // lines ("Name: value").
    std::string render(const std::vector<std::string>& drop, const std::vector<std::string>& extra) const {
        std::string out = start_line + "\r\n";
        for (const auto& [field, value] : fields)
            if (std::find(drop.begin(), drop.end(), lowercase(field)) == drop.end()) out += field + ": " + value + "\r\n";
        for (const auto& line : extra) out += line + "\r\n";
        return out + "\r\n";
    }
};

enum class Framing { none, length, chunked, until_close };

struct BodyFraming {
    Framing framing = Framing::none;
    std::uint64_t length = 0;
};

BodyFraming request_framing(const Head& head) {
    if (lowercase(head.get("transfer-encoding").value_or("")).find("chunked") != std::string::npos)
        return {Framing::chunked, 0};
    if (const auto length = head.get("content-length")) return {Framing::length, std::stoull(*length)};
    return {Framing::none, 0};
}

BodyFraming response_framing(const Head& head, const std::string& request_method) {
    const int status = std::atoi(head.word(1).c_str());
    if (request_method == "HEAD" || (status >= 100 && status < 200) || status == 204 || status == 304)
        return {Framing::none, 0};
    if (lowercase(head.get("transfer-encoding").value_or("")).find("chunked") != std::string::npos)
        return {Framing::chunked, 0};
    if (const auto length = head.get("content-length")) return {Framing::length, std::stoull(*length)};
    return {Framing::until_close, 0};
}

// The framing header lines for a body sent as `framing`.
std::vector<std::string> framing_fields(const BodyFraming& framing) {
    if (framing.framing == Framing::chunked) return {"Transfer-Encoding: chunked"};
    if (framing.framing == Framing::length) return {"Content-Length: " + std::to_string(framing.length)};
    return {};
}

// Writes a body in the framing it is sent with: raw, or as chunks ended by finish().
class BodyWriter {
public:
    BodyWriter(int fd, Framing framing) : m_fd(fd), m_chunked(framing == Framing::chunked) {}
    bool write(std::string_view bytes) {
        if (bytes.empty()) return true;
        if (!m_chunked) return send_all(m_fd, bytes);
        char size[32];
        std::snprintf(size, sizeof size, "%zx\r\n", bytes.size());
        return send_all(m_fd, size) && send_all(m_fd, bytes) && send_all(m_fd, "\r\n");
    }
    bool finish() { return !m_chunked || send_all(m_fd, "0\r\n\r\n"); }

private:
    int m_fd;
    bool m_chunked;
};

std::string reason_phrase(long status) {
    switch (status) {
        case 307: return "Temporary Redirect";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

}  // namespace

struct FaultProxy::Listener {
    int fd = -1;
    int port = 0;
    ProxiedRequest::Listener kind = ProxiedRequest::Listener::proxy;
    std::thread thread;
};

// One socket with what was read from it but not consumed yet.
struct FaultProxy::Connection {
    int fd = -1;
    std::string pending;

    bool fill() {
        char buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) return false;
            pending.append(buffer, static_cast<std::size_t>(n));
            return true;
        }
    }

    // The head up to and including its blank line; nullopt at the end of the connection.
    std::optional<std::string> read_head() {
        for (;;) {
            if (const auto end = pending.find("\r\n\r\n"); end != std::string::npos) {
                std::string head = pending.substr(0, end + 4);
                pending.erase(0, end + 4);
                return head;
            }
            if (pending.size() > k_max_head || !fill()) return std::nullopt;
        }
    }

    // One line without its CRLF (chunk sizes and trailers).
    std::optional<std::string> read_line() {
        for (;;) {
            if (const auto end = pending.find("\r\n"); end != std::string::npos) {
                std::string line = pending.substr(0, end);
                pending.erase(0, end + 2);
                return line;
            }
            if (pending.size() > k_max_head || !fill()) return std::nullopt;
        }
    }

    // Up to `count` bytes, handed to `sink` piece by piece; false when the connection ended
    // early or `sink` said stop.
    bool read_exact(std::uint64_t count, const std::function<bool(std::string_view)>& sink) {
        while (count > 0) {
            if (pending.empty() && !fill()) return false;
            const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(count, pending.size()));
            const std::string piece = pending.substr(0, take);
            pending.erase(0, take);
            count -= take;
            if (!sink(piece)) return false;
        }
        return true;
    }

    // A body of `framing` (decoded from chunks) to `sink`; false when it ended early or `sink`
    // said stop.
    bool read_body(const BodyFraming& framing, const std::function<bool(std::string_view)>& sink) {
        switch (framing.framing) {
            case Framing::none: return true;
            case Framing::length: return read_exact(framing.length, sink);
            case Framing::until_close:
                for (;;) {
                    if (!pending.empty()) {
                        const std::string piece = std::move(pending);
                        pending.clear();
                        if (!sink(piece)) return false;
                    }
                    if (!fill()) return true;
                }
            case Framing::chunked:
                for (;;) {
                    const auto size_line = read_line();
                    if (!size_line) return false;
                    std::uint64_t size = 0;
                    try {
                        size = std::stoull(size_line->substr(0, size_line->find(';')), nullptr, 16);
                    } catch (const std::exception&) {
                        return false;
                    }
                    if (size == 0) {
                        for (auto trailer = read_line(); trailer && !trailer->empty(); trailer = read_line()) {
                        }
                        return true;
                    }
                    if (!read_exact(size, sink)) return false;
                    if (const auto end = read_line(); !end || !end->empty()) return false;
                }
        }
        return false;
    }
};

FaultProxy::FaultProxy(Options options) : m_options(std::move(options)) {
    auto listen_on_free_port = [](ProxiedRequest::Listener kind) {
        auto listener = std::make_unique<Listener>();
        listener->kind = kind;
        listener->fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (listener->fd < 0) throw IoError("socket", "socket", errno);
        sockaddr_in address = loopback(0);
        socklen_t length = sizeof address;
        if (::bind(listener->fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
            ::listen(listener->fd, 64) != 0 ||
            ::getsockname(listener->fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
            const int error = errno;
            ::close(listener->fd);
            throw IoError("127.0.0.1", "bind", error);
        }
        listener->port = ntohs(address.sin_port);
        return listener;
    };
    m_proxy = listen_on_free_port(ProxiedRequest::Listener::proxy);
    m_redirect = listen_on_free_port(ProxiedRequest::Listener::redirect);
    m_proxy->thread = std::thread([this] { accept_loop(*m_proxy); });
    m_redirect->thread = std::thread([this] { accept_loop(*m_redirect); });
}

FaultProxy::~FaultProxy() {
    m_stopping = true;
    // shutdown() wakes a blocked accept() (Linux answers EINVAL on a shut-down listening socket).
    for (Listener* listener : {m_proxy.get(), m_redirect.get()}) ::shutdown(listener->fd, SHUT_RDWR);
    for (Listener* listener : {m_proxy.get(), m_redirect.get()}) {
        listener->thread.join();
        ::close(listener->fd);
    }
    {
        std::lock_guard lock(m_mutex);
        for (int fd : m_open_fds) ::shutdown(fd, SHUT_RDWR);
    }
    for (auto& thread : m_threads) thread.join();
}

std::string FaultProxy::host() const { return "127.0.0.1:" + std::to_string(m_proxy->port); }

std::string FaultProxy::redirect_host() const { return "127.0.0.1:" + std::to_string(m_redirect->port); }

void FaultProxy::add_rule(FaultRule rule) {
    std::lock_guard lock(m_mutex);
    m_rules.push_back(std::move(rule));
}

std::vector<ProxiedRequest> FaultProxy::log() const {
    std::lock_guard lock(m_mutex);
    return m_log;
}

std::vector<ProxiedRequest> FaultProxy::requests(const std::string& method, const std::string& path) const {
    std::vector<ProxiedRequest> found;
    for (auto& entry : log())
        if (entry.listener == ProxiedRequest::Listener::proxy && (method.empty() || entry.method == method) &&
            entry.target.find(path) != std::string::npos)
            found.push_back(std::move(entry));
    return found;
}

std::optional<FaultRule> FaultProxy::take_rule(const std::string& method, const std::string& target) {
    std::lock_guard lock(m_mutex);
    for (auto& rule : m_rules) {
        if (rule.times == 0 || (!rule.method.empty() && rule.method != method) ||
            target.find(rule.path_contains) == std::string::npos)
            continue;
        if (rule.skip > 0) {
            --rule.skip;
            return std::nullopt;
        }
        if (rule.times > 0) --rule.times;
        return rule;
    }
    return std::nullopt;
}

std::size_t FaultProxy::begin_log(ProxiedRequest entry) {
    std::lock_guard lock(m_mutex);
    m_log.push_back(std::move(entry));
    return m_log.size() - 1;
}

void FaultProxy::update_log(std::size_t index, const std::function<void(ProxiedRequest&)>& change) {
    std::lock_guard lock(m_mutex);
    change(m_log[index]);
}

void FaultProxy::accept_loop(Listener& listener) {
    while (!m_stopping) {
        const int fd = ::accept4(listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        std::lock_guard lock(m_mutex);
        if (m_stopping) {
            ::close(fd);
            return;
        }
        m_open_fds.push_back(fd);
        m_threads.emplace_back([this, fd, kind = listener.kind] { serve(fd, kind); });
    }
}

void FaultProxy::serve(int fd, ProxiedRequest::Listener listener) {
    timeval timeout{.tv_sec = k_receive_timeout_seconds, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    Connection client{.fd = fd, .pending = {}};
    while (!m_stopping && serve_one(client, listener)) {
    }
    std::lock_guard lock(m_mutex);
    m_open_fds.erase(std::find(m_open_fds.begin(), m_open_fds.end(), fd));
    ::close(fd);
}

// Serves one request of `client`; false when the connection is to be closed.
bool FaultProxy::serve_one(Connection& client, ProxiedRequest::Listener listener) {
    const auto head_text = client.read_head();
    if (!head_text) return false;
    const Head request = Head::parse(*head_text);
    const std::string method = request.word(0);
    const std::string target = request.word(1);
    const std::size_t entry = begin_log(ProxiedRequest{.listener = listener,
                                                       .method = method,
                                                       .target = target,
                                                       .range = request.get("range").value_or(""),
                                                       .content_range = request.get("content-range").value_or(""),
                                                       .authorization = request.get("authorization").has_value()});
    const bool keep_alive = request.word(2) == "HTTP/1.1" &&
                            lowercase(request.get("connection").value_or("")).find("close") == std::string::npos;
    if (lowercase(request.get("expect").value_or("")) == "100-continue" &&
        !send_all(client.fd, "HTTP/1.1 100 Continue\r\n\r\n"))
        return false;
    const BodyFraming request_body = request_framing(request);

    std::optional<FaultRule> rule;
    if (listener == ProxiedRequest::Listener::proxy) rule = take_rule(method, target);
    if (rule) update_log(entry, [&](ProxiedRequest& logged) { logged.fault = rule->fault; });

    // Answered here without the registry: drain the request body, then answer.
    auto answer_locally = [&](long status, const std::vector<std::string>& fields, const std::string& body) {
        if (!client.read_body(request_body, [](std::string_view) { return true; })) return false;
        std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
        for (const auto& field : fields) head += field + "\r\n";
        head += "Content-Length: " + std::to_string(body.size()) + "\r\n";
        if (!keep_alive) head += "Connection: close\r\n";
        const bool sent = send_all(client.fd, head + "\r\n" + body);
        update_log(entry, [&](ProxiedRequest& logged) {
            logged.status = status;
            logged.response_body_bytes = body.size();
        });
        return sent && keep_alive;
    };
    if (rule && rule->fault == Fault::answer_status) {
        std::vector<std::string> fields = {"Content-Type: application/json"};
        if (rule->retry_after_seconds >= 0) fields.push_back("Retry-After: " + std::to_string(rule->retry_after_seconds));
        const std::string code = rule->status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE";
        return answer_locally(rule->status, fields,
                              R"({"errors":[{"code":")" + code + R"(","message":"injected by the fault proxy"}]})");
    }
    if (rule && rule->fault == Fault::redirect)
        return answer_locally(307, {"Location: http://" + redirect_host() + target}, "");
    if (listener == ProxiedRequest::Listener::redirect && method != "GET" && method != "HEAD")
        return answer_locally(405, {}, "");

    // Forward to the registry on a connection of its own.
    Connection upstream{.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), .pending = {}};
    if (upstream.fd < 0) return false;
    {
        std::lock_guard lock(m_mutex);
        m_open_fds.push_back(upstream.fd);
    }
    struct Closer {
        FaultProxy* proxy;
        int fd;
        ~Closer() {
            std::lock_guard lock(proxy->m_mutex);
            proxy->m_open_fds.erase(std::find(proxy->m_open_fds.begin(), proxy->m_open_fds.end(), fd));
            ::close(fd);
        }
    } closer{this, upstream.fd};
    timeval timeout{.tv_sec = k_receive_timeout_seconds, .tv_usec = 0};
    ::setsockopt(upstream.fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    const std::string& upstream_host = m_options.upstream_host;
    sockaddr_in address = loopback(std::stoi(upstream_host.substr(upstream_host.rfind(':') + 1)));
    if (::connect(upstream.fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return answer_locally(502, {}, "");

    std::vector<std::string> drop = {"connection", "keep-alive", "proxy-connection", "expect", "transfer-encoding",
                                     "content-length"};
    std::vector<std::string> extra = framing_fields(request_body);
    extra.push_back("Connection: close");
    if (listener == ProxiedRequest::Listener::redirect) {
        // The storage host has its own credentials; the client's (if it wrongly sent any) stay here.
        drop.insert(drop.end(), {"authorization", "host"});
        extra.push_back("Host: " + upstream_host);
        if (!m_options.upstream_authorization.empty())
            extra.push_back("Authorization: " + m_options.upstream_authorization);
    }
    if (!send_all(upstream.fd, request.render(drop, extra))) return false;
    BodyWriter to_upstream(upstream.fd, request_body.framing);
    std::uint64_t forwarded = 0;
    const bool cut_request = rule && rule->fault == Fault::cut_request_body;
    const bool body_whole = client.read_body(request_body, [&](std::string_view piece) {
        if (cut_request) piece = piece.substr(0, static_cast<std::size_t>(std::min<std::uint64_t>(
                                                    piece.size(), rule->bytes - std::min(rule->bytes, forwarded))));
        if (!to_upstream.write(piece)) return false;
        forwarded += piece.size();
        return !(cut_request && forwarded >= rule->bytes);
    });
    update_log(entry, [&](ProxiedRequest& logged) { logged.request_body_bytes = forwarded; });
    if (cut_request || !body_whole) {
        // The registry sees the body end early; wait for its answer so that the upload's state
        // is settled before the client comes back, then hang up on the client unanswered.
        ::shutdown(upstream.fd, SHUT_WR);
        upstream.read_head();
        return false;
    }
    if (!to_upstream.finish()) return false;

    std::optional<Head> response;
    for (;;) {
        const auto text = upstream.read_head();
        if (!text) return answer_locally(502, {}, "");
        response = Head::parse(*text);
        if (!response->word(1).starts_with("1")) break;  // an interim 1xx answer: the real one follows
    }
    const long status = std::atol(response->word(1).c_str());
    const BodyFraming upstream_body = response_framing(*response, method);
    const bool replace = rule && rule->fault == Fault::replace_response_body;
    BodyFraming client_body = upstream_body;
    if (replace) client_body = {Framing::chunked, 0};
    const bool closes = !keep_alive || client_body.framing == Framing::until_close;
    std::vector<std::string> response_extra = framing_fields(client_body);
    if (closes) response_extra.push_back("Connection: close");
    if (!send_all(client.fd,
                  response->render({"connection", "keep-alive", "transfer-encoding", "content-length"}, response_extra)))
        return false;
    update_log(entry, [&](ProxiedRequest& logged) { logged.status = status; });

    BodyWriter to_client(client.fd, client_body.framing);
    std::uint64_t sent = 0;
    bool cut = false;
    auto count_sent = [&] { update_log(entry, [&](ProxiedRequest& logged) { logged.response_body_bytes = sent; }); };
    if (replace) {
        const bool ok = to_client.write(rule->body) && to_client.finish();
        sent = rule->body.size();
        count_sent();
        return ok && !closes;
    }
    const bool relayed = upstream.read_body(upstream_body, [&](std::string_view piece) {
        std::string bytes(piece);
        if (rule && rule->fault == Fault::corrupt_response_body && rule->bytes >= sent &&
            rule->bytes < sent + bytes.size())
            bytes[static_cast<std::size_t>(rule->bytes - sent)] ^= 0x55;
        if (rule && rule->fault == Fault::cut_response_body && sent + bytes.size() >= rule->bytes) {
            bytes.resize(static_cast<std::size_t>(rule->bytes - sent));
            cut = true;
        }
        const bool ok = to_client.write(bytes);
        sent += bytes.size();
        return ok && !cut;
    });
    count_sent();
    if (cut || !relayed) return false;
    return to_client.finish() && !closes;
}

}  // namespace cbuild::test
