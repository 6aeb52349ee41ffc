#include "common/digest.h"

#include <string>
#include <unordered_set>
#include <vector>

#include <gtest/gtest.h>

namespace cbuild {
namespace {

// FIPS 180-2 test vectors.
constexpr const char* k_empty_sha256 =
    "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
constexpr const char* k_abc_sha256 =
    "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
constexpr const char* k_two_blocks_sha256 =
    "sha256:248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1";
constexpr const char* k_two_blocks_input =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

TEST(Sha256Test, KnownVectors) {
    EXPECT_EQ(sha256_of("").to_string(), k_empty_sha256);
    EXPECT_EQ(sha256_of("abc").to_string(), k_abc_sha256);
    EXPECT_EQ(sha256_of(k_two_blocks_input).to_string(), k_two_blocks_sha256);
}

TEST(Sha256Test, FinishWithoutUpdateIsEmptyDigest) {
    Sha256 hasher;
    EXPECT_EQ(hasher.finish().to_string(), k_empty_sha256);
}

TEST(Sha256Test, StreamingInPiecesEqualsOneShot) {
    std::string data;
    for (int i = 0; i < 10000; ++i) data += static_cast<char>(i * 31 % 251);
    const Digest expected = sha256_of(data);

    // Piece sizes on both sides of the 64-byte block size.
    for (std::size_t piece : {1u, 3u, 63u, 64u, 65u, 1000u, 9999u}) {
        Sha256 hasher;
        for (std::size_t at = 0; at < data.size(); at += piece)
            hasher.update(std::string_view(data).substr(at, piece));
        EXPECT_EQ(hasher.finish(), expected) << "piece size " << piece;
    }
}

TEST(Sha256Test, SpanAndStringViewAgree) {
    const std::string text = "abc";
    Sha256 hasher;
    hasher.update(std::as_bytes(std::span(text)));
    hasher.update(std::span<const std::byte>{});
    EXPECT_EQ(hasher.finish().to_string(), k_abc_sha256);
}

TEST(Sha256Test, FinishResetsForReuse) {
    Sha256 hasher;
    hasher.update("abc");
    EXPECT_EQ(hasher.finish().to_string(), k_abc_sha256);
    EXPECT_EQ(hasher.finish().to_string(), k_empty_sha256);
    hasher.update("a");
    hasher.update("bc");
    EXPECT_EQ(hasher.finish().to_string(), k_abc_sha256);
}

TEST(Sha256Test, MovedHasherKeepsItsState) {
    Sha256 first;
    first.update("ab");
    Sha256 second = std::move(first);
    second.update("c");
    EXPECT_EQ(second.finish().to_string(), k_abc_sha256);
}

TEST(DigestTest, ParseRoundTrips) {
    const Digest digest = Digest::parse(k_abc_sha256);
    EXPECT_EQ(digest.algorithm(), "sha256");
    EXPECT_EQ(digest.hex(), std::string(k_abc_sha256).substr(7));
    EXPECT_EQ(digest.to_string(), k_abc_sha256);
    EXPECT_EQ(digest, sha256_of("abc"));
}

TEST(DigestTest, ParseAcceptsSha384AndSha512) {
    EXPECT_EQ(Digest::parse("sha384:" + std::string(96, 'a')).algorithm(), "sha384");
    EXPECT_EQ(Digest::parse("sha512:" + std::string(128, '0')).algorithm(), "sha512");
}

TEST(DigestTest, ParseRejectsMalformed) {
    const std::string hex64(64, 'a');
    const std::vector<std::string> bad = {
        "",
        "sha256",
        "sha256:",
        hex64,                                    // no algorithm
        ":" + hex64,                              // empty algorithm
        "md5:" + hex64,                           // unsupported algorithm
        "sha1:" + std::string(40, 'a'),           // unsupported algorithm
        "SHA256:" + hex64,                        // algorithm is case-sensitive
        "sha256:" + std::string(63, 'a'),         // short
        "sha256:" + std::string(65, 'a'),         // long
        "sha256:" + std::string(63, 'a') + "A",   // uppercase hex
        "sha256:" + std::string(63, 'a') + "g",   // not hex
        "sha256:" + std::string(63, 'a') + " ",   // trailing space
        " sha256:" + hex64,                       // leading space
        "sha256:" + hex64 + "\n",                 // trailing newline
        "sha512:" + hex64,                        // sha512 needs 128 digits
    };
    for (const std::string& text : bad) {
        EXPECT_THROW(Digest::parse(text), DigestError) << "`" << text << "`";
    }
}

TEST(DigestTest, ErrorNamesTheStringAndReason) {
    const std::string text = "sha256:" + std::string(63, 'a') + "A";
    try {
        Digest::parse(text);
        FAIL() << "expected DigestError";
    } catch (const DigestError& error) {
        EXPECT_EQ(error.text(), text);
        const std::string message = error.what();
        EXPECT_NE(message.find("`" + text + "`"), std::string::npos) << message;
        EXPECT_NE(message.find("lowercase hex"), std::string::npos) << message;
    }
    try {
        Digest::parse("md5:abc");
        FAIL() << "expected DigestError";
    } catch (const Error& error) {  // catchable as the base type
        EXPECT_NE(std::string(error.what()).find("`md5`"), std::string::npos) << error.what();
    }
}

TEST(DigestTest, ComparisonAndHash) {
    const Digest a = sha256_of("a");
    const Digest b = sha256_of("b");
    EXPECT_EQ(a, Digest::parse(a.to_string()));
    EXPECT_NE(a, b);
    EXPECT_EQ(a < b, a.to_string() < b.to_string());

    std::unordered_set<Digest> set{a, b, Digest::parse(a.to_string())};
    EXPECT_EQ(set.size(), 2u);
    EXPECT_TRUE(set.contains(b));
}

}  // namespace
}  // namespace cbuild
