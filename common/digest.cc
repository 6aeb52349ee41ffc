#include "common/digest.h"

#include <array>
#include <utility>

#include <openssl/err.h>
#include <openssl/evp.h>

namespace cbuild {

namespace {

struct Algorithm {
    std::string_view name;
    std::size_t hex_length;
};

// The algorithms go-digest registers, and so the ones a registry may hand us.
constexpr std::array k_algorithms{
    Algorithm{"sha256", 64},
    Algorithm{"sha384", 96},
    Algorithm{"sha512", 128},
};

bool is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

std::string hex_encode(const unsigned char* data, std::size_t size) {
    static constexpr char k_hex_digits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (std::size_t i = 0; i < size; ++i) {
        out += k_hex_digits[data[i] >> 4];
        out += k_hex_digits[data[i] & 0x0f];
    }
    return out;
}

[[noreturn]] void throw_openssl_error(const char* call) {
    std::string message = std::string("sha256: ") + call + " failed";
    if (const unsigned long code = ERR_get_error(); code != 0) {
        std::array<char, 256> buffer{};
        ERR_error_string_n(code, buffer.data(), buffer.size());
        message += ": ";
        message += buffer.data();
    }
    throw Error(message);
}

}  // namespace

DigestError::DigestError(std::string text, const std::string& reason)
    : Error("invalid digest `" + text + "`: " + reason), m_text(std::move(text)) {}

Digest::Digest(std::string algorithm, std::string hex)
    : m_algorithm(std::move(algorithm)), m_hex(std::move(hex)) {}

Digest Digest::parse(std::string_view text) {
    const std::size_t colon = text.find(':');
    if (colon == std::string_view::npos)
        throw DigestError(std::string(text), "expected `algorithm:hex`");
    const std::string_view name = text.substr(0, colon);
    const std::string_view hex = text.substr(colon + 1);

    const Algorithm* algorithm = nullptr;
    for (const Algorithm& candidate : k_algorithms)
        if (candidate.name == name) algorithm = &candidate;
    if (algorithm == nullptr)
        throw DigestError(std::string(text), "unsupported algorithm `" + std::string(name) +
                                                 "` (expected sha256, sha384 or sha512)");
    if (hex.size() != algorithm->hex_length)
        throw DigestError(std::string(text),
                          std::string(name) + " needs " + std::to_string(algorithm->hex_length) +
                              " hex digits, got " + std::to_string(hex.size()));
    for (std::size_t i = 0; i < hex.size(); ++i)
        if (!is_lower_hex(hex[i]))
            throw DigestError(std::string(text), "character " + std::to_string(colon + 2 + i) +
                                                     " is not a lowercase hex digit");
    return Digest(std::string(name), std::string(hex));
}

std::string Digest::to_string() const { return m_algorithm + ":" + m_hex; }

struct Sha256::State {
    EVP_MD_CTX* context = nullptr;

    State() {
        context = EVP_MD_CTX_new();
        if (context == nullptr) throw_openssl_error("EVP_MD_CTX_new");
        start();
    }
    ~State() { EVP_MD_CTX_free(context); }
    State(const State&) = delete;
    State& operator=(const State&) = delete;

    void start() {
        if (EVP_DigestInit_ex(context, EVP_sha256(), nullptr) != 1)
            throw_openssl_error("EVP_DigestInit_ex");
    }
};

Sha256::Sha256() : m_state(std::make_unique<State>()) {}
Sha256::~Sha256() = default;
Sha256::Sha256(Sha256&&) noexcept = default;
Sha256& Sha256::operator=(Sha256&&) noexcept = default;

void Sha256::update(std::span<const std::byte> data) {
    if (data.empty()) return;
    if (EVP_DigestUpdate(m_state->context, data.data(), data.size()) != 1)
        throw_openssl_error("EVP_DigestUpdate");
}

void Sha256::update(std::string_view data) { update(std::as_bytes(std::span(data))); }

Digest Sha256::finish() {
    std::array<unsigned char, EVP_MAX_MD_SIZE> hash{};
    unsigned int size = 0;
    if (EVP_DigestFinal_ex(m_state->context, hash.data(), &size) != 1)
        throw_openssl_error("EVP_DigestFinal_ex");
    m_state->start();
    return Digest("sha256", hex_encode(hash.data(), size));
}

Digest sha256_of(std::string_view data) {
    Sha256 hasher;
    hasher.update(data);
    return hasher.finish();
}

}  // namespace cbuild
