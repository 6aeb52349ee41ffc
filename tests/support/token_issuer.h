#pragma once
// A token server for the distribution registry's `auth: token` mode, in a thread on 127.0.0.1
// at a free port: `GET /token?service=S&scope=repository:NAME:ACTIONS…` answers
// `{"token", "access_token", "expires_in", "issued_at"}` where the token is a JWT signed RS256
// with a fresh RSA key whose self-signed certificate travels in the header's `x5c` (and is the
// registry's rootcertbundle). Anonymous requests are granted pull, requests with the right Basic
// credentials pull and push, wrong credentials get 401 (as Docker Hub's and Harbor's servers).
//
// It also speaks the OAuth2 POST flow of docker/distribution's token spec: `POST /token` with a
// form body `grant_type=refresh_token&refresh_token=R&service=S&scope=S1 S2&client_id=C`
// answers `{"access_token", "scope", "expires_in", "issued_at"}` granting what the account may
// (pull and push) when R is the one known refresh token, and 401 for any other R; another
// grant_type gets 400 `unsupported_grant_type`. With Options::oauth_post false every POST gets
// 404, as from a server without the flow.

#include <atomic>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/temp_dir.h"

namespace cbuild::test {

// What the registry's config.yml needs under `auth: token:`.
struct TokenAuthConfig {
    std::string realm;                      // http://127.0.0.1:PORT/token
    std::string service;
    std::string issuer;
    std::filesystem::path root_cert_bundle;  // PEM of the certificate that signs tokens
};

class TokenIssuer {
public:
    struct Options {
        std::string username{};  // the one account; empty: every Basic login is refused
        std::string password{};
        std::string service = "cbuild-test-registry";
        std::string issuer = "cbuild-test-token-issuer";
        std::chrono::seconds lifetime{300};
        // The identity token the POST flow accepts for `username`; empty: none is accepted.
        std::string refresh_token{};
        bool oauth_post = true;
    };

    // One answered request.
    struct Request {
        std::string method{};                // "GET" or "POST"
        std::string grant_type{};            // the POST's grant_type
        std::string client_id{};             // the POST's client_id
        bool refresh_token_sent = false;     // whether the POST carried a refresh_token (never its value)
        std::string username{};              // empty when anonymous
        std::vector<std::string> scopes{};   // as asked
        int status = 0;                      // 200 or 401 (400 for a malformed request)
        std::vector<std::string> granted{};  // "repository:NAME:pull,push" per scope granted
    };

    // Generates the key and certificate, binds a free port and starts serving. Throws
    // cbuild::Error when OpenSSL or the socket fails.
    explicit TokenIssuer(Options options);
    // Stops the server thread.
    ~TokenIssuer();
    TokenIssuer(const TokenIssuer&) = delete;
    TokenIssuer& operator=(const TokenIssuer&) = delete;

    TokenAuthConfig registry_config() const;

    // Every request answered so far, in order.
    std::vector<Request> requests() const;
    // How many requests asked for exactly `scope`.
    int requests_for(const std::string& scope) const;

private:
    void serve();
    void answer(int connection);
    void record(const Request& request);

    Options m_options;
    TempDir m_dir;
    std::string m_key_pem;
    std::string m_cert_der_base64;
    int m_listen_fd = -1;
    int m_port = 0;
    std::atomic<bool> m_stopping{false};
    mutable std::mutex m_mutex;
    std::vector<Request> m_requests;
    std::thread m_thread;
};

}  // namespace cbuild::test
