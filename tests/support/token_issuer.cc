#include "tests/support/token_issuer.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <ctime>
#include <optional>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "common/error.h"
#include "tests/support/command.h"

namespace cbuild::test {
namespace {

template <auto free_function>
struct Deleter {
    template <typename T>
    void operator()(T* p) const {
        free_function(p);
    }
};
using PKeyPtr = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509_free>>;
using BioPtr = std::unique_ptr<BIO, Deleter<BIO_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX_free>>;

[[noreturn]] void openssl_failed(const std::string& what) { throw Error("token issuer: OpenSSL " + what + " failed"); }

std::string bio_text(BIO* bio) {
    char* data = nullptr;
    const long length = BIO_get_mem_data(bio, &data);
    return std::string(data, static_cast<std::size_t>(length));
}

std::string base64(std::string_view bytes) {
    std::string out(4 * ((bytes.size() + 2) / 3) + 1, '\0');
    const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()));
    out.resize(static_cast<std::size_t>(n));
    return out;
}

// JWS's base64url without padding.
std::string base64url(std::string_view bytes) {
    std::string out = base64(bytes);
    while (!out.empty() && out.back() == '=') out.pop_back();
    for (char& c : out) c = c == '+' ? '-' : c == '/' ? '_' : c;
    return out;
}

std::optional<std::string> base64_decode(const std::string& text) {
    if (text.empty() || text.size() % 4 != 0) return std::nullopt;
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()), static_cast<int>(text.size()));
    if (n < 0) return std::nullopt;
    std::size_t size = static_cast<std::size_t>(n);
    for (std::size_t i = text.size(); i > 0 && text[i - 1] == '='; --i) --size;  // DecodeBlock keeps padding zeros
    out.resize(size);
    return out;
}

std::string percent_decode(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
                   std::isxdigit(static_cast<unsigned char>(text[i + 2]))) {
            out += static_cast<char>(std::stoi(std::string(text.substr(i + 1, 2)), nullptr, 16));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

std::string random_hex(int bytes) {
    std::vector<unsigned char> raw(static_cast<std::size_t>(bytes));
    if (RAND_bytes(raw.data(), bytes) != 1) openssl_failed("RAND_bytes");
    static constexpr char k_digits[] = "0123456789abcdef";
    std::string out;
    for (unsigned char c : raw) out += {k_digits[c >> 4], k_digits[c & 15]};
    return out;
}

std::string sign_rs256(const std::string& key_pem, const std::string& input) {
    BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
    PKeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    MdCtxPtr context(EVP_MD_CTX_new());
    if (!key || !context || EVP_DigestSignInit(context.get(), nullptr, EVP_sha256(), nullptr, key.get()) != 1)
        openssl_failed("EVP_DigestSignInit");
    std::size_t length = 0;
    const auto* data = reinterpret_cast<const unsigned char*>(input.data());
    if (EVP_DigestSign(context.get(), nullptr, &length, data, input.size()) != 1) openssl_failed("EVP_DigestSign");
    std::string signature(length, '\0');
    if (EVP_DigestSign(context.get(), reinterpret_cast<unsigned char*>(signature.data()), &length, data,
                       input.size()) != 1)
        openssl_failed("EVP_DigestSign");
    signature.resize(length);
    return signature;
}

std::string rfc3339(std::int64_t seconds) {
    const std::time_t time = static_cast<std::time_t>(seconds);
    std::tm parts{};
    gmtime_r(&time, &parts);
    char text[32];
    std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &parts);
    return text;
}

void add_extension(X509* cert, int nid, const char* value) {
    X509V3_CTX context;
    X509V3_set_ctx_nodb(&context);
    X509V3_set_ctx(&context, cert, cert, nullptr, nullptr, 0);
    X509_EXTENSION* extension = X509V3_EXT_conf_nid(nullptr, &context, nid, value);
    if (!extension || X509_add_ext(cert, extension, -1) != 1) openssl_failed("X509_add_ext");
    X509_EXTENSION_free(extension);
}

// The grant for one `type:name:actions` scope: the asked actions this caller may have.
std::optional<std::string> grant(const std::string& scope, bool authenticated, nlohmann::json& access) {
    const auto first = scope.find(':');
    const auto last = scope.rfind(':');
    if (first == std::string::npos || last == first) return std::nullopt;
    const std::string type = scope.substr(0, first);
    const std::string name = scope.substr(first + 1, last - first - 1);
    if (type != "repository") return std::nullopt;
    std::set<std::string> allowed = {"pull"};
    if (authenticated) allowed.insert("push");
    nlohmann::json actions = nlohmann::json::array();
    std::string granted;
    std::stringstream asked(scope.substr(last + 1));
    for (std::string action; std::getline(asked, action, ',');) {
        if (!allowed.contains(action)) continue;
        actions.push_back(action);
        granted += (granted.empty() ? "" : ",") + action;
    }
    access.push_back({{"type", type}, {"name", name}, {"actions", actions}});
    return type + ":" + name + ":" + granted;
}

void send_all(int fd, const std::string& bytes) {
    std::size_t sent = 0;
    while (sent < bytes.size()) {
        const ssize_t n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) return;
        sent += static_cast<std::size_t>(n);
    }
}

void respond(int fd, int status, const std::string& body, const std::string& extra_headers = "") {
    const std::string reason = status == 200 ? "OK" : status == 401 ? "Unauthorized" : status == 404 ? "Not Found"
                                                                                                      : "Bad Request";
    send_all(fd, "HTTP/1.1 " + std::to_string(status) + " " + reason +
                     "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\n" + extra_headers + "\r\n" + body);
}

}  // namespace

TokenIssuer::TokenIssuer(Options options) : m_options(std::move(options)) {
    PKeyPtr key(EVP_RSA_gen(2048));
    if (!key) openssl_failed("EVP_RSA_gen");
    X509Ptr cert(X509_new());
    if (!cert) openssl_failed("X509_new");
    X509_set_version(cert.get(), 2);
    ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), 1);
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2 * 24 * 3600);
    X509_set_pubkey(cert.get(), key.get());
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("cbuild test token issuer"),
                               -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign");
    add_extension(cert.get(), NID_subject_key_identifier, "hash");
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) openssl_failed("X509_sign");

    BioPtr key_bio(BIO_new(BIO_s_mem()));
    BioPtr cert_bio(BIO_new(BIO_s_mem()));
    if (PEM_write_bio_PrivateKey(key_bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
        PEM_write_bio_X509(cert_bio.get(), cert.get()) != 1)
        openssl_failed("PEM_write");
    m_key_pem = bio_text(key_bio.get());
    write_file(m_dir.path() / "token-issuer.crt", bio_text(cert_bio.get()));
    unsigned char* der = nullptr;
    const int der_length = i2d_X509(cert.get(), &der);
    if (der_length <= 0) openssl_failed("i2d_X509");
    m_cert_der_base64 = base64(std::string_view(reinterpret_cast<const char*>(der), static_cast<std::size_t>(der_length)));
    OPENSSL_free(der);

    m_listen_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (m_listen_fd < 0) throw IoError("socket", "socket", errno);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (bind(m_listen_fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(m_listen_fd, reinterpret_cast<sockaddr*>(&address), &length) != 0 || listen(m_listen_fd, 64) != 0) {
        const int error = errno;
        close(m_listen_fd);
        throw IoError("127.0.0.1", "bind", error);
    }
    m_port = ntohs(address.sin_port);
    m_thread = std::thread([this] { serve(); });
}

TokenIssuer::~TokenIssuer() {
    m_stopping = true;
    // Wakes the blocked accept() (Linux returns EINVAL on a shut-down listening socket).
    shutdown(m_listen_fd, SHUT_RDWR);
    m_thread.join();
    close(m_listen_fd);
}

TokenAuthConfig TokenIssuer::registry_config() const {
    return TokenAuthConfig{.realm = "http://127.0.0.1:" + std::to_string(m_port) + "/token",
                           .service = m_options.service,
                           .issuer = m_options.issuer,
                           .root_cert_bundle = m_dir.path() / "token-issuer.crt"};
}

std::vector<TokenIssuer::Request> TokenIssuer::requests() const {
    std::lock_guard lock(m_mutex);
    return m_requests;
}

int TokenIssuer::requests_for(const std::string& scope) const {
    std::lock_guard lock(m_mutex);
    int count = 0;
    for (const auto& request : m_requests)
        for (const auto& asked : request.scopes) count += asked == scope ? 1 : 0;
    return count;
}

void TokenIssuer::serve() {
    while (!m_stopping) {
        const int connection = accept4(m_listen_fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;
            return;
        }
        // A client that connects and never sends must not hang the server for ever.
        timeval timeout{.tv_sec = 10, .tv_usec = 0};
        setsockopt(connection, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
        answer(connection);
        close(connection);
    }
}

void TokenIssuer::answer(int connection) {
    std::string received;
    char buffer[4096];
    while (received.find("\r\n\r\n") == std::string::npos && received.size() < 65536) {
        const ssize_t n = recv(connection, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        received.append(buffer, static_cast<std::size_t>(n));
    }
    const std::size_t head_end = received.find("\r\n\r\n");
    if (head_end == std::string::npos) return;
    std::istringstream lines(received.substr(0, head_end));
    std::string method, target, version;
    lines >> method >> target >> version;
    std::string line;
    std::getline(lines, line);
    std::string authorization;
    std::size_t content_length = 0;
    while (std::getline(lines, line)) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const auto colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string field = line.substr(0, colon);
        for (char& c : field) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const auto value_start = line.find_first_not_of(' ', colon + 1);
        const std::string value = value_start == std::string::npos ? "" : line.substr(value_start);
        if (field == "authorization") authorization = value;
        if (field == "content-length") content_length = std::min<std::size_t>(std::stoul(value), 1 << 20);
    }
    std::string body = received.substr(head_end + 4);
    while (body.size() < content_length) {
        const ssize_t n = recv(connection, buffer, sizeof buffer, 0);
        if (n <= 0) return;
        body.append(buffer, static_cast<std::size_t>(n));
    }
    const auto question = target.find('?');
    const bool is_get = method == "GET", is_post = method == "POST" && m_options.oauth_post;
    if (!(is_get || is_post) || target.substr(0, question) != "/token") {
        respond(connection, 404, R"({"errors":[{"code":"NOT_FOUND","message":"no such endpoint"}]})");
        return;
    }

    // GET carries its parameters in the query, POST in an x-www-form-urlencoded body.
    Request request{.method = method};
    std::string service, refresh_token;
    std::stringstream parameters(is_post ? body : question == std::string::npos ? "" : target.substr(question + 1));
    for (std::string pair; std::getline(parameters, pair, '&');) {
        const auto equals = pair.find('=');
        const std::string key = percent_decode(pair.substr(0, equals));
        const std::string value = equals == std::string::npos ? "" : percent_decode(pair.substr(equals + 1));
        if (key == "scope") {
            // The POST flow sends all scopes space-separated in one parameter.
            std::stringstream scopes(value);
            for (std::string one; std::getline(scopes, one, ' ');)
                if (!one.empty()) request.scopes.push_back(one);
        }
        if (key == "service") service = value;
        if (key == "grant_type") request.grant_type = value;
        if (key == "client_id") request.client_id = value;
        if (key == "refresh_token") {
            refresh_token = value;
            request.refresh_token_sent = true;
        }
    }

    bool authenticated = false;
    if (is_post) {
        if (request.grant_type != "refresh_token") {
            request.status = 400;
            record(request);
            respond(connection, 400, R"({"error":"unsupported_grant_type"})");
            return;
        }
        authenticated = !m_options.refresh_token.empty() && refresh_token == m_options.refresh_token;
        if (!authenticated) {
            request.status = 401;
            record(request);
            respond(connection, 401,
                    R"({"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]})");
            return;
        }
        request.username = m_options.username;
    } else if (!authorization.empty()) {
        const auto decoded = authorization.starts_with("Basic ") ? base64_decode(authorization.substr(6)) : std::nullopt;
        const auto colon = decoded ? decoded->find(':') : std::string::npos;
        if (colon != std::string::npos) request.username = decoded->substr(0, colon);
        authenticated = colon != std::string::npos && !m_options.username.empty() &&
                        request.username == m_options.username && decoded->substr(colon + 1) == m_options.password;
        if (!authenticated) {
            request.status = 401;
            record(request);
            respond(connection, 401,
                    R"({"errors":[{"code":"UNAUTHORIZED","message":"authentication required: bad username or password"}]})",
                    "WWW-Authenticate: Basic realm=\"cbuild-test\"\r\n");
            return;
        }
    }
    if (service != m_options.service) {
        request.status = 400;
        record(request);
        respond(connection, 400, R"({"errors":[{"code":"UNSUPPORTED","message":"unknown service"}]})");
        return;
    }

    nlohmann::json access = nlohmann::json::array();
    for (const auto& scope : request.scopes)
        if (auto granted = grant(scope, authenticated, access)) request.granted.push_back(*granted);
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    const nlohmann::json header = {{"typ", "JWT"}, {"alg", "RS256"}, {"x5c", {m_cert_der_base64}}};
    const nlohmann::json claims = {{"iss", m_options.issuer},
                                   {"sub", request.username},
                                   {"aud", m_options.service},
                                   {"exp", now + m_options.lifetime.count()},
                                   {"nbf", now - 10},
                                   {"iat", now},
                                   {"jti", random_hex(16)},
                                   {"access", access}};
    const std::string signing_input = base64url(header.dump()) + "." + base64url(claims.dump());
    const std::string token = signing_input + "." + base64url(sign_rs256(m_key_pem, signing_input));
    nlohmann::json answer = {{"access_token", token},
                             {"expires_in", m_options.lifetime.count()},
                             {"issued_at", rfc3339(now)}};
    if (is_post) {
        std::string granted;
        for (const auto& one : request.granted) granted += (granted.empty() ? "" : " ") + one;
        answer["scope"] = granted;
    } else {
        answer["token"] = token;
    }
    request.status = 200;
    record(request);
    respond(connection, 200, answer.dump());
}

// Before the answer goes out, so a test that has the answer also sees the record.
void TokenIssuer::record(const Request& request) {
    std::lock_guard lock(m_mutex);
    m_requests.push_back(request);
}

}  // namespace cbuild::test
