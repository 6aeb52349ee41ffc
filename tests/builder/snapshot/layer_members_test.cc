#include "builder/snapshot/layer_members.h"

#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "builder/snapshot/layer_writer.h"
#include "common/digest.h"
#include "tests/support/ci.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

// One gzip member inflated on its own: what it holds, or a failed expectation.
std::string inflate_member(std::string_view member) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 16 + 15), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(member.data()));
    z.avail_in = static_cast<uInt>(member.size());
    std::string out(1 << 16, '\0');
    std::string result;
    int status = Z_OK;
    while (status == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(out.data());
        z.avail_out = static_cast<uInt>(out.size());
        status = inflate(&z, Z_NO_FLUSH);
        result.append(out.data(), out.size() - z.avail_out);
    }
    EXPECT_EQ(status, Z_STREAM_END);
    EXPECT_EQ(z.avail_in, 0u) << "the member's bytes run past its end";
    inflateEnd(&z);
    return result;
}

// A context of host files, each entry carrying the content digest a COPY's cache key gives it.
class LayerMembersTest : public ::testing::Test {
protected:
    static constexpr int k_files = 1200;
    static constexpr std::size_t k_file_size = 8192;

    void SetUp() override {
        std::mt19937 random(7);
        for (int i = 0; i < k_files; ++i) {
            std::string content(k_file_size, '\0');
            // Half compressible text, half noise, as the benchmark context.
            for (std::size_t j = 0; j < content.size(); ++j)
                content[j] = i % 2 == 0 ? "layer tar gzip\n"[j % 15] : static_cast<char>(random());
            m_contents.push_back(content);
            put(i, content);
        }
    }

    void put(int index, const std::string& content) {
        std::ofstream(host(index), std::ios::binary | std::ios::trunc) << content;
        m_contents[static_cast<std::size_t>(index)] = content;
    }

    fs::path host(int index) const { return m_dir.path() / ("f" + std::to_string(index)); }

    std::vector<LayerEntry> entries() const {
        std::vector<LayerEntry> result;
        for (int i = 0; i < k_files; ++i) {
            LayerEntry e;
            e.path = "app/file-" + std::to_string(i);
            e.size = m_contents[static_cast<std::size_t>(i)].size();
            e.mtime_seconds = 1700000000;
            e.content.host_path = host(i).string();
            e.content.digest = sha256_of(m_contents[static_cast<std::size_t>(i)]);
            result.push_back(std::move(e));
        }
        return result;
    }

    struct Written {
        LayerDigests digests;
        std::string blob;
        fs::path file;
    };

    Written write(std::vector<LayerEntry> list, const LayerDonor* donor = nullptr, LayerOptions options = {}) {
        test::StringSink sink;
        LayerDigests digests = write_layer(std::move(list), {}, sink, options, donor);
        const fs::path file = m_dir.path() / ("blob-" + digests.digest.hex());
        std::ofstream(file, std::ios::binary) << sink.bytes();
        return {std::move(digests), sink.bytes(), file};
    }

    static LayerDonor donor_of(const Written& written) { return {written.file, *written.digests.members}; }

    test::TempDir m_dir;
    std::vector<std::string> m_contents;
};

TEST_F(LayerMembersTest, MembersTileTheBlobAndEachInflatesAlone) {
    const Written written = write(entries());
    ASSERT_TRUE(written.digests.members);
    const LayerMembers& members = *written.digests.members;
    EXPECT_EQ(members.blob, written.digests.digest);
    ASSERT_GE(members.members.size(), 4u) << "about 10 MB of tar should make several members";
    std::uint64_t offset = 0;
    std::uint64_t tar = 0;
    for (const LayerMember& member : members.members) {
        EXPECT_EQ(member.offset, offset);
        const std::string bytes = inflate_member(std::string_view(written.blob).substr(member.offset, member.size));
        EXPECT_EQ(bytes.size(), member.tar_size);
        EXPECT_EQ(crc32(0, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())), member.crc32);
        offset += member.size;
        tar += member.tar_size;
    }
    EXPECT_EQ(offset, written.blob.size());
    EXPECT_EQ(tar, written.digests.tar_size);
    // Every member of entries with known content has a fingerprint; the end-of-archive blocks'
    // own member has none.
    for (std::size_t i = 0; i + 1 < members.members.size(); ++i) EXPECT_TRUE(members.members[i].fingerprint);
    EXPECT_FALSE(members.members.back().fingerprint);
    EXPECT_EQ(members.members.back().tar_size, 1024u);
}

TEST_F(LayerMembersTest, OneChangedFileReusesTheOtherMembersAndGivesTheColdBlob) {
    const Written before = write(entries());
    std::string changed = m_contents[600];
    changed += "one more line\n";
    put(600, changed);
    const LayerDonor donor = donor_of(before);
    const Written reused = write(entries(), &donor);
    const Written cold = write(entries());
    EXPECT_EQ(reused.blob, cold.blob) << "a donor must not change a single byte of the blob";
    EXPECT_EQ(reused.digests.diff_id, cold.digests.diff_id);
    EXPECT_EQ(*reused.digests.members, *cold.digests.members);
    EXPECT_EQ(cold.digests.reused_bytes, 0u);
    EXPECT_GT(reused.digests.reused_bytes, reused.blob.size() / 2) << "most members are unchanged";
    EXPECT_LT(reused.digests.reused_bytes, reused.blob.size()) << "the changed file's member is compressed";
}

TEST_F(LayerMembersTest, AFileThatShrankReusesTheOtherMembersAndGivesTheColdBlob) {
    const Written before = write(entries());
    put(600, "changed\n");
    const LayerDonor donor = donor_of(before);
    const Written reused = write(entries(), &donor);
    const Written cold = write(entries());
    // The cut points after the file moved (it lost 8 KiB); the blob is still the cold one.
    EXPECT_EQ(*reused.digests.members, *cold.digests.members);
    EXPECT_EQ(reused.blob, cold.blob);
    EXPECT_GT(reused.digests.reused_bytes, 0u);
}

TEST_F(LayerMembersTest, AnInsertedFileMovesOnlyTheCutsNearIt) {
    const Written before = write(entries());
    std::vector<LayerEntry> more = entries();
    LayerEntry extra = more[300];
    extra.path = "app/file-300-new";
    more.push_back(extra);
    const LayerDonor donor = donor_of(before);
    const Written after = write(more, &donor);
    std::size_t shared = 0;
    for (const LayerMember& member : after.digests.members->members)
        for (const LayerMember& old : before.digests.members->members)
            if (member.fingerprint && member.fingerprint == old.fingerprint) ++shared;
    EXPECT_GE(shared + 3, after.digests.members->members.size()) << "all but the members near the insertion match";
    EXPECT_GT(after.digests.reused_bytes, 0u);
}

TEST_F(LayerMembersTest, AFileChangedAfterItWasHashedIsCaughtAndNothingIsReusedBlindly) {
    const Written before = write(entries());
    const LayerDonor donor = donor_of(before);
    // Same size, same recorded digest, other bytes: what a file edited between the cache key
    // and the layer write looks like.
    std::vector<LayerEntry> stale = entries();
    std::string edited = m_contents[10];
    edited[0] = static_cast<char>(edited[0] ^ 1);
    std::ofstream(host(10), std::ios::binary | std::ios::trunc) << edited;
    test::StringSink sink;
    EXPECT_THROW(write_layer(stale, {}, sink, LayerOptions{}, &donor), DonorMismatch);
}

TEST_F(LayerMembersTest, ADonorFromAnotherEngineOrWithoutItsBlobIsIgnored) {
    const Written before = write(entries());
    LayerDonor other_engine = donor_of(before);
    other_engine.members.engine = "zlib 1.2.13 level 6";
    EXPECT_EQ(write(entries(), &other_engine).digests.reused_bytes, 0u);
    LayerDonor missing = donor_of(before);
    missing.blob = m_dir.path() / "gone";
    EXPECT_EQ(write(entries(), &missing).digests.reused_bytes, 0u);
    LayerOptions level2;
    level2.level = 2;
    const LayerDonor donor = donor_of(before);
    EXPECT_EQ(write(entries(), &donor, level2).digests.reused_bytes, 0u) << "another level compresses otherwise";
}

TEST_F(LayerMembersTest, EntriesWithoutAContentDigestAreNeverReused) {
    std::vector<LayerEntry> unknown = entries();
    for (LayerEntry& e : unknown) e.content.digest.reset();
    const Written before = write(unknown);
    for (const LayerMember& member : before.digests.members->members) EXPECT_FALSE(member.fingerprint);
    const LayerDonor donor = donor_of(before);
    EXPECT_EQ(write(unknown, &donor).digests.reused_bytes, 0u);
}

TEST_F(LayerMembersTest, OtherCompressionsHaveNoMembers) {
    LayerOptions zstd;
    zstd.compression = Compression::zstd;
    EXPECT_FALSE(write(entries(), nullptr, zstd).digests.members);
    LayerOptions plain;
    plain.compression = Compression::uncompressed;
    EXPECT_FALSE(write(entries(), nullptr, plain).digests.members);
}

TEST(LayerMembersFormatTest, RoundTripsAndRejectsWhatItDidNotWrite) {
    LayerMembers members{.engine = "isa-l 2.30.0 level 1", .blob = sha256_of("blob"), .members = {}};
    members.members.push_back({sha256_of("a"), 0, 100, 4096, 0xdeadbeef});
    members.members.push_back({std::nullopt, 100, 30, 1024, 7});
    const std::string text = encode_layer_members(members);
    EXPECT_EQ(decode_layer_members(text), members);

    EXPECT_FALSE(decode_layer_members(""));
    EXPECT_FALSE(decode_layer_members("{}"));
    EXPECT_FALSE(decode_layer_members(text.substr(0, text.size() / 2))) << "a torn file";
    LayerMembers gap = members;
    gap.members[1].offset = 101;
    EXPECT_FALSE(decode_layer_members(encode_layer_members(gap))) << "members must tile the blob";
    std::string other_format = text;
    other_format.replace(other_format.find("members 1"), 9, "members 2");
    EXPECT_FALSE(decode_layer_members(other_format));
}

}  // namespace
}  // namespace cbuild::builder
