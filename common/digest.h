#pragma once
// Content digests ("sha256:<hex>") as a validated value type, and a streaming SHA-256 hasher.
// Every blob, layer, manifest and cache key in cbuild is named by a Digest.

#include <compare>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "common/error.h"

namespace cbuild {

// A string that is not a well-formed digest. The message names the string in backticks and
// says what is wrong with it.
class DigestError : public Error {
public:
    DigestError(std::string text, const std::string& reason);

    // The rejected string, verbatim.
    const std::string& text() const { return m_text; }

private:
    std::string m_text;
};

// A content digest: an algorithm and the lowercase hex encoding of the hash. Always valid: the
// only ways to get one are parse() and a hasher, so code holding a Digest never re-checks it.
// The algorithms are the ones registered by the OCI image spec and go-digest: sha256 (64 hex
// digits), sha384 (96) and sha512 (128).
class Digest {
public:
    // Parses "algorithm:hex". Throws DigestError for an unknown algorithm, a wrong length, or
    // any character outside [0-9a-f] in the hex part (uppercase included: digests are compared
    // as strings, so there must be exactly one spelling).
    static Digest parse(std::string_view text);

    // "sha256", "sha384" or "sha512".
    const std::string& algorithm() const { return m_algorithm; }
    // The lowercase hex encoding, without the "algorithm:" prefix.
    const std::string& hex() const { return m_hex; }
    // "algorithm:hex", the form parse() accepts and the OCI specs use.
    std::string to_string() const;

    friend bool operator==(const Digest&, const Digest&) = default;
    friend std::strong_ordering operator<=>(const Digest&, const Digest&) = default;

private:
    friend class Sha256;
    Digest(std::string algorithm, std::string hex);

    std::string m_algorithm;
    std::string m_hex;
};

// A streaming SHA-256: update() any number of times, then finish(). Move-only; a moved-from
// hasher may only be assigned to or destroyed. Throws cbuild::Error only if the crypto library
// itself fails (out of memory, a broken provider), never because of the data.
class Sha256 {
public:
    Sha256();
    ~Sha256();
    Sha256(Sha256&&) noexcept;
    Sha256& operator=(Sha256&&) noexcept;
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;

    // Feeds more bytes. The digest depends only on the concatenation, not on how it was split.
    void update(std::span<const std::byte> data);
    void update(std::string_view data);

    // The digest of everything fed since construction or the previous finish(); the hasher is
    // then empty again and can be reused.
    Digest finish();

private:
    // Holds the OpenSSL context, so that no OpenSSL type appears in this header.
    struct State;
    std::unique_ptr<State> m_state;
};

// The SHA-256 digest of `data`.
Digest sha256_of(std::string_view data);

}  // namespace cbuild

// Lets a Digest key an unordered container.
template <>
struct std::hash<cbuild::Digest> {
    std::size_t operator()(const cbuild::Digest& digest) const noexcept {
        return std::hash<std::string_view>{}(digest.hex()) ^
               (std::hash<std::string_view>{}(digest.algorithm()) << 1);
    }
};
