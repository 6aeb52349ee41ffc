#include "tests/support/fault_proxy_engine.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>

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

// A listening socket on a free 127.0.0.1 port, non-blocking so that serve() never waits in
// accept() for a connection the client already gave up.
std::pair<UniqueFd, int> listen_on_free_port() {
    UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd) throw IoError("socket", "socket", errno);
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(fd.get(), 64) != 0 ||
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0)
        throw IoError("127.0.0.1", "bind", errno);
    return {std::move(fd), ntohs(address.sin_port)};
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
        case 200: return "OK";
        case 204: return "No Content";
        case 307: return "Temporary Redirect";
        case 400: return "Bad Request";
        case 404: return "Not Found";
        case 405: return "Method Not Allowed";
        case 429: return "Too Many Requests";
        case 500: return "Internal Server Error";
        case 502: return "Bad Gateway";
        case 503: return "Service Unavailable";
        default: return "Status";
    }
}

// One socket with what was read from it but not consumed yet.
struct Connection {
    UniqueFd socket;
    std::string pending{};

    int fd() const { return socket.get(); }

    bool fill() {
        char buffer[65536];
        for (;;) {
            const ssize_t n = ::recv(fd(), buffer, sizeof buffer, 0);
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

void set_receive_timeout(int fd) {
    timeval timeout{.tv_sec = k_receive_timeout_seconds, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
}

constexpr std::array<std::pair<Fault, std::string_view>, 6> k_fault_names = {{
    {Fault::answer_status, "answer_status"},
    {Fault::cut_response_body, "cut_response_body"},
    {Fault::corrupt_response_body, "corrupt_response_body"},
    {Fault::replace_response_body, "replace_response_body"},
    {Fault::redirect, "redirect"},
    {Fault::cut_request_body, "cut_request_body"},
}};

std::string fault_name(Fault fault) {
    for (const auto& [value, name] : k_fault_names)
        if (value == fault) return std::string(name);
    throw Error("fault proxy: no name for fault " + std::to_string(static_cast<int>(fault)));
}

Fault fault_named(const std::string& name) {
    for (const auto& [value, known] : k_fault_names)
        if (known == name) return value;
    throw Error("fault proxy: unknown fault `" + name + "`");
}

std::string hex_encode(std::string_view bytes) {
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(bytes.size() * 2);
    for (const char byte : bytes) {
        out += k_digits[static_cast<unsigned char>(byte) >> 4];
        out += k_digits[static_cast<unsigned char>(byte) & 0xf];
    }
    return out;
}

std::string hex_decode(const std::string& hex) {
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        throw Error("fault proxy: `body_hex` is not lowercase hex");
    };
    if (hex.size() % 2 != 0) throw Error("fault proxy: `body_hex` has an odd length");
    std::string out(hex.size() / 2, '\0');
    for (std::size_t i = 0; i < out.size(); ++i)
        out[i] = static_cast<char>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
    return out;
}

// nlohmann's own exceptions, as the cbuild::Error the contract promises.
template <typename Parse>
auto parse_body(const char* what, Parse parse) {
    try {
        return parse();
    } catch (const nlohmann::json::exception& error) {
        throw Error(std::string("fault proxy: malformed ") + what + ": " + error.what());
    }
}

}  // namespace

struct FaultProxyEngine::State {
    std::string upstream_host;
    int upstream_port = 0;
    std::string upstream_authorization;
    int redirect_port = 0;
    std::mutex mutex;
    std::vector<FaultRule> rules;
    std::vector<ProxiedRequest> log;

    std::optional<FaultRule> take_rule(const std::string& method, const std::string& target);
    std::size_t begin_log(ProxiedRequest entry);
    void update_log(std::size_t index, const std::function<void(ProxiedRequest&)>& change);
    void serve_proxied(Connection client, ProxiedRequest::Listener listener);
    bool serve_one(Connection& client, ProxiedRequest::Listener listener);
    void serve_control(Connection client);
};

FaultProxyEngine::FaultProxyEngine(std::string upstream_host, std::string upstream_authorization)
    : m_state(std::make_shared<State>()) {
    const auto colon = upstream_host.rfind(':');
    const int upstream_port = colon == std::string::npos ? 0 : std::atoi(upstream_host.c_str() + colon + 1);
    if (upstream_port <= 0 || upstream_port > 65535)
        throw Error("fault proxy: upstream `" + upstream_host + "` is not HOST:PORT");
    m_state->upstream_host = std::move(upstream_host);
    m_state->upstream_port = upstream_port;
    m_state->upstream_authorization = std::move(upstream_authorization);
    std::tie(m_proxy, m_ports.proxy) = listen_on_free_port();
    std::tie(m_redirect, m_ports.redirect) = listen_on_free_port();
    std::tie(m_control, m_ports.control) = listen_on_free_port();
    m_state->redirect_port = m_ports.redirect;
}

FaultProxyEngine::~FaultProxyEngine() = default;

void FaultProxyEngine::serve() {
    // What each listener serves: a proxied listener's kind, or the control channel (nullopt).
    const std::array<std::optional<ProxiedRequest::Listener>, 3> kinds = {
        ProxiedRequest::Listener::proxy, ProxiedRequest::Listener::redirect, std::nullopt};
    std::array<pollfd, 3> listeners = {{{m_proxy.get(), POLLIN, 0}, {m_redirect.get(), POLLIN, 0},
                                         {m_control.get(), POLLIN, 0}}};
    for (;;) {
        if (::poll(listeners.data(), listeners.size(), -1) < 0) {
            if (errno == EINTR) continue;
            throw IoError("127.0.0.1", "poll", errno);
        }
        for (std::size_t i = 0; i < listeners.size(); ++i) {
            if (listeners[i].revents == 0) continue;
            UniqueFd accepted(::accept4(listeners[i].fd, nullptr, nullptr, SOCK_CLOEXEC));
            if (!accepted) {
                if (errno == EINTR || errno == EAGAIN || errno == ECONNABORTED) continue;
                throw IoError("127.0.0.1", "accept", errno);
            }
            set_receive_timeout(accepted.get());
            std::thread([state = m_state, connection = Connection{.socket = std::move(accepted)},
                         kind = kinds[i]]() mutable {
                // The one place a connection's failure can surface: say it and drop the
                // connection, as a server would, rather than end the proxy of a whole test.
                try {
                    if (kind)
                        state->serve_proxied(std::move(connection), *kind);
                    else
                        state->serve_control(std::move(connection));
                } catch (const std::exception& error) {
                    std::fprintf(stderr, "cbuild_fault_proxy: connection dropped: %s\n", error.what());
                }
            }).detach();
        }
    }
}

std::optional<FaultRule> FaultProxyEngine::State::take_rule(const std::string& method, const std::string& target) {
    std::lock_guard lock(mutex);
    for (auto& rule : rules) {
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

std::size_t FaultProxyEngine::State::begin_log(ProxiedRequest entry) {
    std::lock_guard lock(mutex);
    log.push_back(std::move(entry));
    return log.size() - 1;
}

void FaultProxyEngine::State::update_log(std::size_t index, const std::function<void(ProxiedRequest&)>& change) {
    std::lock_guard lock(mutex);
    change(log[index]);
}

void FaultProxyEngine::State::serve_proxied(Connection client, ProxiedRequest::Listener listener) {
    while (serve_one(client, listener)) {
    }
}

// Serves one request of `client`; false when the connection is to be closed. The log entry is
// brought up to date before the client is sent what it records, so a client that has had an
// answer (or lost it to a cut) finds it in the log.
bool FaultProxyEngine::State::serve_one(Connection& client, ProxiedRequest::Listener listener) {
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
        !send_all(client.fd(), "HTTP/1.1 100 Continue\r\n\r\n"))
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
        update_log(entry, [&](ProxiedRequest& logged) {
            logged.status = status;
            logged.response_body_bytes = body.size();
        });
        return send_all(client.fd(), head + "\r\n" + body) && keep_alive;
    };
    if (rule && rule->fault == Fault::answer_status) {
        std::vector<std::string> fields = {"Content-Type: application/json"};
        if (rule->retry_after_seconds >= 0) fields.push_back("Retry-After: " + std::to_string(rule->retry_after_seconds));
        const std::string code = rule->status == 429 ? "TOOMANYREQUESTS" : "UNAVAILABLE";
        return answer_locally(rule->status, fields,
                              R"({"errors":[{"code":")" + code + R"(","message":"injected by the fault proxy"}]})");
    }
    if (rule && rule->fault == Fault::redirect)
        return answer_locally(307, {"Location: http://127.0.0.1:" + std::to_string(redirect_port) + target}, "");
    if (listener == ProxiedRequest::Listener::redirect && method != "GET" && method != "HEAD")
        return answer_locally(405, {}, "");

    // Forward to the registry on a connection of its own.
    Connection upstream{.socket = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))};
    if (!upstream.socket) return false;
    set_receive_timeout(upstream.fd());
    sockaddr_in address = loopback(upstream_port);
    if (::connect(upstream.fd(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0)
        return answer_locally(502, {}, "");

    std::vector<std::string> drop = {"connection", "keep-alive", "proxy-connection", "expect", "transfer-encoding",
                                     "content-length"};
    std::vector<std::string> extra = framing_fields(request_body);
    extra.push_back("Connection: close");
    if (listener == ProxiedRequest::Listener::redirect) {
        // The storage host has its own credentials; the client's (if it wrongly sent any) stay here.
        drop.insert(drop.end(), {"authorization", "host"});
        extra.push_back("Host: " + upstream_host);
        if (!upstream_authorization.empty()) extra.push_back("Authorization: " + upstream_authorization);
    }
    if (!send_all(upstream.fd(), request.render(drop, extra))) return false;
    BodyWriter to_upstream(upstream.fd(), request_body.framing);
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
        ::shutdown(upstream.fd(), SHUT_WR);
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
    update_log(entry, [&](ProxiedRequest& logged) { logged.status = status; });
    if (!send_all(client.fd(),
                  response->render({"connection", "keep-alive", "transfer-encoding", "content-length"}, response_extra)))
        return false;

    BodyWriter to_client(client.fd(), client_body.framing);
    std::uint64_t sent = 0;
    auto count_sent = [&](std::uint64_t bytes) {
        sent += bytes;
        update_log(entry, [&](ProxiedRequest& logged) { logged.response_body_bytes = sent; });
    };
    if (replace) {
        count_sent(rule->body.size());
        return to_client.write(rule->body) && to_client.finish() && !closes;
    }
    bool cut = false;
    const bool relayed = upstream.read_body(upstream_body, [&](std::string_view piece) {
        std::string bytes(piece);
        if (rule && rule->fault == Fault::corrupt_response_body && rule->bytes >= sent &&
            rule->bytes < sent + bytes.size())
            bytes[static_cast<std::size_t>(rule->bytes - sent)] ^= 0x55;
        if (rule && rule->fault == Fault::cut_response_body && sent + bytes.size() >= rule->bytes) {
            bytes.resize(static_cast<std::size_t>(rule->bytes - sent));
            cut = true;
        }
        count_sent(bytes.size());
        return to_client.write(bytes) && !cut;
    });
    if (cut || !relayed) return false;
    return to_client.finish() && !closes;
}

// One control request per connection, answered with `Connection: close`.
void FaultProxyEngine::State::serve_control(Connection client) {
    const auto head_text = client.read_head();
    if (!head_text) return;
    const Head request = Head::parse(*head_text);
    std::string body;
    if (!client.read_body(request_framing(request), [&](std::string_view piece) {
            body += piece;
            return true;
        }))
        return;
    auto answer = [&](long status, const std::string& content) {
        std::string head = "HTTP/1.1 " + std::to_string(status) + " " + reason_phrase(status) + "\r\n";
        if (!content.empty()) head += "Content-Type: application/json\r\n";
        send_all(client.fd(),
                 head + "Content-Length: " + std::to_string(content.size()) + "\r\nConnection: close\r\n\r\n" + content);
    };
    const std::string method = request.word(0);
    const std::string target = request.word(1);
    if (method == "POST" && target == "/rules") {
        FaultRule rule;
        try {
            rule = rule_from_json(body);
        } catch (const Error& error) {
            answer(400, nlohmann::json{{"error", error.what()}}.dump());
            return;
        }
        {
            std::lock_guard lock(mutex);
            rules.push_back(std::move(rule));
        }
        answer(204, "");
    } else if (method == "GET" && target == "/log") {
        std::vector<ProxiedRequest> copy;
        {
            std::lock_guard lock(mutex);
            copy = log;
        }
        answer(200, log_to_json(copy));
    } else {
        answer(404, "");
    }
}

std::string control_exchange(int port, const std::string& method, const std::string& target,
                             const std::string& body) {
    const std::string where = "127.0.0.1:" + std::to_string(port);
    const std::string what = "control " + method + " " + target + ": ";
    Connection server{.socket = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0))};
    if (!server.socket) throw IoError(where, what + "socket", errno);
    set_receive_timeout(server.fd());
    const sockaddr_in address = loopback(port);
    if (::connect(server.fd(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0)
        throw IoError(where, what + "connect", errno);
    const std::string request = method + " " + target + " HTTP/1.1\r\nHost: " + where +
                                "\r\nContent-Type: application/json\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    if (!send_all(server.fd(), request)) throw IoError(where, what + "send", errno);
    const auto head_text = server.read_head();
    if (!head_text) throw Error("`" + where + "`: " + what + "the fault proxy closed the connection unanswered");
    const Head head = Head::parse(*head_text);
    std::string answer;
    const bool whole = server.read_body(response_framing(head, method), [&](std::string_view piece) {
        answer += piece;
        return true;
    });
    const int status = std::atoi(head.word(1).c_str());
    if (!whole || status < 200 || status > 299)
        throw Error("`" + where + "`: " + what + "the fault proxy answered " + head.start_line +
                    (whole ? ": " + answer : " (cut short)"));
    return answer;
}

std::string rule_to_json(const FaultRule& rule) {
    return nlohmann::json{{"fault", fault_name(rule.fault)},
                          {"method", rule.method},
                          {"path_contains", rule.path_contains},
                          {"skip", rule.skip},
                          {"times", rule.times},
                          {"status", rule.status},
                          {"retry_after_seconds", rule.retry_after_seconds},
                          {"bytes", rule.bytes},
                          {"body_hex", hex_encode(rule.body)}}
        .dump();
}

FaultRule rule_from_json(const std::string& text) {
    return parse_body("rule", [&] {
        const auto json = nlohmann::json::parse(text);
        return FaultRule{.fault = fault_named(json.at("fault").get<std::string>()),
                         .method = json.at("method").get<std::string>(),
                         .path_contains = json.at("path_contains").get<std::string>(),
                         .skip = json.at("skip").get<int>(),
                         .times = json.at("times").get<int>(),
                         .status = json.at("status").get<long>(),
                         .retry_after_seconds = json.at("retry_after_seconds").get<int>(),
                         .bytes = json.at("bytes").get<std::uint64_t>(),
                         .body = hex_decode(json.at("body_hex").get<std::string>())};
    });
}

std::string log_to_json(const std::vector<ProxiedRequest>& log) {
    nlohmann::json entries = nlohmann::json::array();
    for (const auto& request : log)
        entries.push_back(
            {{"listener", request.listener == ProxiedRequest::Listener::redirect ? "redirect" : "proxy"},
             {"method", request.method},
             {"target", request.target},
             {"range", request.range},
             {"content_range", request.content_range},
             {"authorization", request.authorization},
             {"request_body_bytes", request.request_body_bytes},
             {"status", request.status},
             {"response_body_bytes", request.response_body_bytes},
             {"fault", request.fault ? nlohmann::json(fault_name(*request.fault)) : nlohmann::json(nullptr)}});
    // A target is whatever bytes the client sent: ones that are not UTF-8 become U+FFFD rather
    // than make the whole log unsendable.
    return entries.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::vector<ProxiedRequest> log_from_json(const std::string& text) {
    return parse_body("log", [&] {
        std::vector<ProxiedRequest> log;
        for (const auto& entry : nlohmann::json::parse(text)) {
            const std::string listener = entry.at("listener").get<std::string>();
            if (listener != "proxy" && listener != "redirect")
                throw Error("fault proxy: unknown listener `" + listener + "`");
            std::optional<Fault> fault;
            if (!entry.at("fault").is_null()) fault = fault_named(entry.at("fault").get<std::string>());
            log.push_back(ProxiedRequest{
                .listener = listener == "redirect" ? ProxiedRequest::Listener::redirect : ProxiedRequest::Listener::proxy,
                .method = entry.at("method").get<std::string>(),
                .target = entry.at("target").get<std::string>(),
                .range = entry.at("range").get<std::string>(),
                .content_range = entry.at("content_range").get<std::string>(),
                .authorization = entry.at("authorization").get<bool>(),
                .request_body_bytes = entry.at("request_body_bytes").get<std::uint64_t>(),
                .status = entry.at("status").get<long>(),
                .response_body_bytes = entry.at("response_body_bytes").get<std::uint64_t>(),
                .fault = fault});
        }
        return log;
    });
}

}  // namespace cbuild::test
