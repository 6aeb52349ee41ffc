#include "registry/internal/http.h"


#include <algorithm>
#include <cctype>
#include <exception>
#include <memory>
#include <string>
#include <vector>

#include "registry/internal/curl_library.h"

namespace cbuild::registry::internal {
namespace {

struct Transfer {
    const HttpRequest* request = nullptr;
    HttpResponse* response = nullptr;
    const CurlLibrary* curl = nullptr;
    CURL* handle = nullptr;
    std::exception_ptr failure{};
    bool too_large = false;
    std::int64_t sent = 0;  // body bytes handed to libcurl
    bool body_started = false;
};

std::string lowercase(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

std::string trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r' ||
                             text.back() == '\n'))
        text.remove_suffix(1);
    return std::string(text);
}

std::size_t on_header(char* data, std::size_t size, std::size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const std::string_view line(data, size * count);
    // A new status line starts a new response (a 100 Continue before the real one).
    if (line.rfind("HTTP/", 0) == 0) {
        transfer->response->headers.clear();
        return line.size();
    }
    const auto colon = line.find(':');
    if (colon != std::string_view::npos)
        transfer->response->headers.emplace_back(lowercase(std::string(line.substr(0, colon))),
                                                 trim(line.substr(colon + 1)));
    return line.size();
}

std::size_t on_data(char* data, std::size_t size, std::size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const std::size_t length = size * count;
    long status = 0;
    transfer->curl->easy_getinfo(transfer->handle, CURLINFO_RESPONSE_CODE, &status);
    try {
        if (status >= 200 && status < 300 && transfer->request->on_body) {
            if (!transfer->body_started) {
                transfer->body_started = true;
                transfer->response->status = status;
                if (transfer->request->on_body_start) transfer->request->on_body_start(*transfer->response);
            }
            transfer->request->on_body(
                std::span<const std::byte>(reinterpret_cast<const std::byte*>(data), length));
            transfer->response->streamed_bytes += length;
            return length;
        }
        if (transfer->response->body.size() + length > transfer->request->max_collected_body) {
            transfer->too_large = true;
            return 0;  // aborts the transfer
        }
        transfer->response->body.append(data, length);
        return length;
    } catch (...) {
        // Exceptions must not cross libcurl's C frames: keep it, abort, rethrow after.
        transfer->failure = std::current_exception();
        return 0;
    }
}

std::size_t on_read(char* data, std::size_t size, std::size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    if (!transfer->request->body) return 0;
    const HttpBody& body = *transfer->request->body;
    const std::int64_t left = body.size - transfer->sent;
    if (left <= 0) return 0;
    const std::size_t wanted = std::min(size * count, static_cast<std::size_t>(left));
    try {
        const std::size_t got =
            body.read(transfer->sent, std::span<std::byte>(reinterpret_cast<std::byte*>(data), wanted));
        if (got == 0 || got > wanted) throw Error("request body ended after " + std::to_string(transfer->sent) +
                                                  " of " + std::to_string(body.size) + " bytes");
        transfer->sent += static_cast<std::int64_t>(got);
        return got;
    } catch (...) {
        transfer->failure = std::current_exception();
        return CURL_READFUNC_ABORT;
    }
}

struct HandleDeleter {
    void operator()(CURL* handle) const { curl_library().easy_cleanup(handle); }
};
struct ListDeleter {
    void operator()(curl_slist* list) const { curl_library().slist_free_all(list); }
};

}  // namespace

std::optional<std::string> HttpResponse::header(std::string_view name) const {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
        if (it->first == name) return it->second;
    return std::nullopt;
}

HttpResponse perform(const HttpRequest& request) {
    const CurlLibrary& curl = curl_library();
    std::unique_ptr<CURL, HandleDeleter> handle(curl.easy_init());
    if (!handle) throw HttpTransportError("cannot create a libcurl handle", false, 0);
    CURL* h = handle.get();

    HttpResponse response;
    Transfer transfer{.request = &request, .response = &response, .curl = &curl, .handle = h};

    std::unique_ptr<curl_slist, ListDeleter> headers;
    std::vector<std::string> header_lines = request.headers;
    const bool sends_body = request.method != "GET" && request.method != "HEAD";
    // No "Expect: 100-continue": registries answer at once, and the wait would cost a second.
    if (sends_body) header_lines.emplace_back("Expect:");
    for (const auto& header : header_lines) {
        curl_slist* grown = curl.slist_append(headers.get(), header.c_str());
        if (!grown) throw HttpTransportError("out of memory building headers", false, 0);
        (void)headers.release();
        headers.reset(grown);
    }

    curl.easy_setopt(h, CURLOPT_URL, request.url.c_str());
    curl.easy_setopt(h, CURLOPT_HTTPHEADER, headers.get());
    curl.easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl.easy_setopt(h, CURLOPT_USERAGENT, "cbuild");
    curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 30L);
    // A stalled transfer (under 1 byte/s for a minute) is a connection error, so it is retried.
    curl.easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl.easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 60L);
    curl.easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl.easy_setopt(h, CURLOPT_HEADERDATA, &transfer);
    curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl.easy_setopt(h, CURLOPT_WRITEDATA, &transfer);
    if (request.method == "HEAD")
        curl.easy_setopt(h, CURLOPT_NOBODY, 1L);
    else if (request.method != "GET")
        curl.easy_setopt(h, CURLOPT_CUSTOMREQUEST, request.method.c_str());
    if (sends_body) {
        // UPLOAD sends Content-Length from INFILESIZE; CUSTOMREQUEST above sets the method.
        const std::int64_t size = request.body ? request.body->size : 0;
        curl.easy_setopt(h, CURLOPT_UPLOAD, 1L);
        curl.easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(size));
        curl.easy_setopt(h, CURLOPT_READFUNCTION, on_read);
        curl.easy_setopt(h, CURLOPT_READDATA, &transfer);
    }
    if (request.basic_auth) {
        curl.easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
        curl.easy_setopt(h, CURLOPT_USERNAME, request.basic_auth->first.c_str());
        curl.easy_setopt(h, CURLOPT_PASSWORD, request.basic_auth->second.c_str());
    }
    curl.easy_setopt(h, CURLOPT_SSL_VERIFYPEER, request.tls.verify ? 1L : 0L);
    curl.easy_setopt(h, CURLOPT_SSL_VERIFYHOST, request.tls.verify ? 2L : 0L);
    if (!request.tls.ca_file.empty()) curl.easy_setopt(h, CURLOPT_CAINFO, request.tls.ca_file.c_str());
    if (!request.tls.cert_file.empty()) curl.easy_setopt(h, CURLOPT_SSLCERT, request.tls.cert_file.c_str());
    if (!request.tls.key_file.empty()) curl.easy_setopt(h, CURLOPT_SSLKEY, request.tls.key_file.c_str());

    const CURLcode code = curl.easy_perform(h);
    if (transfer.failure) std::rethrow_exception(transfer.failure);
    if (transfer.too_large)
        throw HttpBodyTooLarge("response body over " + std::to_string(request.max_collected_body) +
                               " bytes");
    if (code != CURLE_OK) {
        const bool tls = code == CURLE_SSL_CONNECT_ERROR;
        throw HttpTransportError(curl.easy_strerror(code), tls, response.streamed_bytes);
    }
    curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &response.status);
    char* redirect = nullptr;
    if (curl.easy_getinfo(h, CURLINFO_REDIRECT_URL, &redirect) == CURLE_OK && redirect)
        response.redirect_url = redirect;
    return response;
}

}  // namespace cbuild::registry::internal
