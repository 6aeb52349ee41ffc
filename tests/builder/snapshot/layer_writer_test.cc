#include "builder/snapshot/layer_writer.h"

#include <algorithm>
#include <clocale>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <vector>

#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "common/digest.h"
#include "tests/support/temp_dir.h"

namespace cbuild::builder {
namespace {

namespace fs = std::filesystem;

class MemorySink : public ByteSink {
public:
    void write(std::span<const std::byte> bytes) override {
        data.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    using ByteSink::write;
    std::string data;
};

// Counts bytes, keeps none; throws IoError once `fail_after` bytes have been written.
class CountingSink : public ByteSink {
public:
    explicit CountingSink(std::uint64_t fail_after = UINT64_MAX) : m_fail_after(fail_after) {}
    void write(std::span<const std::byte> bytes) override {
        size += bytes.size();
        if (size > m_fail_after) throw IoError("blob", "write", ENOSPC);
    }
    using ByteSink::write;
    std::uint64_t size = 0;

private:
    std::uint64_t m_fail_after;
};

// Decompressed independently of the writer: zlib for gzip (member after member, as Go's reader
// does), libzstd for zstd.
std::string decompress(const std::string& blob, Compression compression) {
    std::string out(1 << 16, '\0');
    std::string result;
    if (compression == Compression::gzip) {
        z_stream z{};
        EXPECT_EQ(inflateInit2(&z, 16 + 15), Z_OK);  // 16: gzip wrapper required
        z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(blob.data()));
        z.avail_in = static_cast<uInt>(blob.size());
        int status = Z_OK;
        for (;;) {
            z.next_out = reinterpret_cast<Bytef*>(out.data());
            z.avail_out = static_cast<uInt>(out.size());
            status = inflate(&z, Z_NO_FLUSH);
            result.append(out.data(), out.size() - z.avail_out);
            if (status == Z_STREAM_END && z.avail_in > 0) status = inflateReset(&z);  // the next member
            if (status != Z_OK) break;
        }
        EXPECT_EQ(status, Z_STREAM_END) << "a member is truncated or corrupt";
        inflateEnd(&z);
    } else if (compression == Compression::zstd) {
        ZSTD_DCtx* context = ZSTD_createDCtx();
        ZSTD_inBuffer input{blob.data(), blob.size(), 0};
        std::size_t status = 1;
        while (input.pos < input.size) {
            ZSTD_outBuffer output{out.data(), out.size(), 0};
            status = ZSTD_decompressStream(context, &output, &input);
            EXPECT_FALSE(ZSTD_isError(status)) << ZSTD_getErrorName(status);
            if (ZSTD_isError(status)) break;
            result.append(out.data(), output.pos);
        }
        EXPECT_EQ(status, 0u) << "truncated zstd frame";
        ZSTD_freeDCtx(context);
    } else {
        result = blob;
    }
    return result;
}

// One entry as libarchive reads it back.
struct ReadEntry {
    std::string path;
    unsigned type = 0, perm = 0;
    std::int64_t uid = 0, gid = 0, mtime = 0, size = 0;
    long mtime_nsec = 0;
    bool atime_set = false, ctime_set = false;
    std::string uname, gname, symlink, hardlink, content;
    unsigned rdev_major = 0, rdev_minor = 0;
    std::map<std::string, std::string> xattrs;
};

std::vector<ReadEntry> read_tar(const std::string& tar) {
    archive* reader = archive_read_new();
    archive_read_support_format_tar(reader);
    EXPECT_EQ(archive_read_open_memory(reader, tar.data(), tar.size()), ARCHIVE_OK);
    std::vector<ReadEntry> entries;
    archive_entry* e = nullptr;
    auto text = [](const char* s) { return std::string(s != nullptr ? s : ""); };
    // ARCHIVE_WARN: a name this locale cannot represent; the bytes are still read.
    for (int status; (status = archive_read_next_header(reader, &e)) == ARCHIVE_OK || status == ARCHIVE_WARN;) {
        ReadEntry r;
        r.path = text(archive_entry_pathname(e));
        r.type = archive_entry_filetype(e), r.perm = archive_entry_perm(e), r.size = archive_entry_size(e);
        r.uid = archive_entry_uid(e), r.gid = archive_entry_gid(e);
        r.uname = text(archive_entry_uname(e)), r.gname = text(archive_entry_gname(e));
        r.mtime = archive_entry_mtime(e), r.mtime_nsec = archive_entry_mtime_nsec(e);
        r.atime_set = archive_entry_atime_is_set(e), r.ctime_set = archive_entry_ctime_is_set(e);
        r.symlink = text(archive_entry_symlink(e)), r.hardlink = text(archive_entry_hardlink(e));
        r.rdev_major = archive_entry_rdevmajor(e), r.rdev_minor = archive_entry_rdevminor(e);
        const char* name = nullptr;
        const void* value = nullptr;
        std::size_t value_size = archive_entry_xattr_reset(e);
        while (archive_entry_xattr_next(e, &name, &value, &value_size) == ARCHIVE_OK)
            r.xattrs[name] = std::string(static_cast<const char*>(value), value_size);
        char buffer[65536];
        for (la_ssize_t got; (got = archive_read_data(reader, buffer, sizeof buffer)) > 0;) r.content.append(buffer, got);
        entries.push_back(std::move(r));
    }
    archive_read_free(reader);
    return entries;
}

// Every header field of `r` but content and xattrs, on one line; atime and ctime only if set.
std::string summary(const ReadEntry& r) {
    char fields[512];
    std::snprintf(fields, sizeof fields, " %06o %04o %lld:%lld '%s':'%s' mtime %lld.%ld%s size %lld link '%s' hard '%s' dev %u,%u",
                  r.type, r.perm, static_cast<long long>(r.uid), static_cast<long long>(r.gid), r.uname.c_str(),
                  r.gname.c_str(), static_cast<long long>(r.mtime), r.mtime_nsec,
                  r.atime_set || r.ctime_set ? " atime/ctime set" : "", static_cast<long long>(r.size),
                  r.symlink.c_str(), r.hardlink.c_str(), r.rdev_major, r.rdev_minor);
    return r.path + fields;
}

// A ustar header as it sits in the bytes, with the pax records before it: what libarchive's
// reader would normalise away (empty uname, which keys exist, how the name is encoded).
struct RawHeader {
    std::string name, uname, gname;
    std::map<std::string, std::string> pax;
};

std::vector<RawHeader> raw_headers(const std::string& tar, std::size_t* end_zero_bytes = nullptr) {
    std::vector<RawHeader> headers;
    std::map<std::string, std::string> pending;
    std::size_t at = 0;
    for (; at + 512 <= tar.size();) {
        const std::string_view block(tar.data() + at, 512);
        if (block.find_first_not_of('\0') == std::string_view::npos) break;
        auto field = [&](std::size_t offset, std::size_t length) {
            const std::string_view f = block.substr(offset, length);
            return std::string(f.substr(0, f.find('\0')));
        };
        const std::size_t size = std::stoull(field(124, 12), nullptr, 8);
        const std::string data = tar.substr(at + 512, size);
        at += 512 + (size + 511) / 512 * 512;
        if (block[156] == 'x') {
            for (std::size_t p = 0; p < data.size();) {
                const std::size_t length = std::stoul(data.substr(p));
                const std::string record = data.substr(p, length - 1);  // without '\n'
                const std::string key_value = record.substr(record.find(' ') + 1);
                pending[key_value.substr(0, key_value.find('='))] = key_value.substr(key_value.find('=') + 1);
                p += length;
            }
            continue;
        }
        RawHeader h;
        const std::string prefix = field(345, 155);
        h.name = pending.count("path") ? pending["path"] : (prefix.empty() ? "" : prefix + "/") + field(0, 100);
        h.uname = field(265, 32);
        h.gname = field(297, 32);
        h.pax = std::exchange(pending, {});
        headers.push_back(std::move(h));
    }
    if (end_zero_bytes != nullptr) *end_zero_bytes = tar.size() - at;
    return headers;
}

LayerOptions options(Compression compression, std::optional<int> level = std::nullopt, unsigned threads = 0) {
    LayerOptions o;
    o.compression = compression;
    o.level = level;
    o.threads = threads;
    return o;
}

LayerEntry make_file(std::string path, std::string content, std::uint32_t mode = 0644) {
    LayerEntry e;
    e.path = std::move(path);
    e.mode = mode;
    e.size = content.size();
    e.content.bytes = std::make_shared<const std::string>(std::move(content));
    return e;
}

LayerEntry make_entry(std::string path, EntryType type, std::string link_target = {}, std::uint32_t mode = 0755) {
    LayerEntry e;
    e.path = std::move(path);
    e.type = type;
    e.mode = mode;
    e.link_target = std::move(link_target);
    return e;
}

// Text-like bytes that compress, from a fixed seed.
std::string pseudo_text(std::size_t size, unsigned seed) {
    std::mt19937 random(seed);
    static const std::vector<std::string> words = {"layer ", "tar ", "digest ", "zstd ", "gzip ", "\n", "cbuild ", "0x1f "};
    std::string text;
    while (text.size() < size) text += words[random() % words.size()];
    text.resize(size);
    return text;
}

struct Written {
    LayerDigests digests;
    std::string blob, tar;
};

Written write(std::vector<LayerEntry> entries, std::vector<Whiteout> whiteouts = {}, LayerOptions options = {}) {
    MemorySink sink;
    LayerDigests digests = write_layer(std::move(entries), std::move(whiteouts), sink, options);
    std::string tar = decompress(sink.data, options.compression);
    return {std::move(digests), std::move(sink.data), std::move(tar)};
}

std::vector<std::string> paths_of(const std::vector<ReadEntry>& entries) {
    std::vector<std::string> paths;
    for (const ReadEntry& e : entries) paths.push_back(e.path);
    return paths;
}

class LayerWriterTest : public ::testing::Test {
protected:
    fs::path write_host_file(const std::string& name, const std::string& content) {
        const fs::path path = m_dir.path() / name;
        std::ofstream(path, std::ios::binary) << content;
        return path;
    }
    LayerEntry host_file(std::string path, const fs::path& host, std::uint64_t size) {
        LayerEntry e;
        e.path = std::move(path);
        e.size = size;
        e.content.host_path = host.string();
        return e;
    }
    test::TempDir m_dir;
};

TEST(LayerOptionsTest, CompressionNamesAndMediaTypes) {
    EXPECT_EQ(parse_compression("gzip"), Compression::gzip);
    EXPECT_EQ(parse_compression("zstd"), Compression::zstd);
    EXPECT_EQ(parse_compression("uncompressed"), Compression::uncompressed);
    EXPECT_EQ(layer_media_type(Compression::gzip), "application/vnd.oci.image.layer.v1.tar+gzip");
    EXPECT_EQ(layer_media_type(Compression::zstd), "application/vnd.oci.image.layer.v1.tar+zstd");
    EXPECT_EQ(layer_media_type(Compression::uncompressed), "application/vnd.oci.image.layer.v1.tar");
    for (const char* bad : {"lz4", "GZIP", "", "gzip "}) {
        try {
            parse_compression(bad);
            ADD_FAILURE() << "accepted `" << bad << "`";
        } catch (const UsageError& error) {
            EXPECT_NE(std::string(error.what()).find("`" + std::string(bad) + "`"), std::string::npos) << error.what();
        }
    }
}

TEST(LayerOptionsTest, LevelsAreCheckedPerCompression) {
    for (int ok : {0, 1, 3, 4, 9}) EXPECT_NO_THROW(validate_level(Compression::gzip, ok));
    for (int ok : {1, 3, 19, 22}) EXPECT_NO_THROW(validate_level(Compression::zstd, ok));
    for (Compression c : {Compression::gzip, Compression::zstd, Compression::uncompressed})
        EXPECT_NO_THROW(validate_level(c, std::nullopt));
    EXPECT_THROW(validate_level(Compression::uncompressed, 1), UsageError);
    const std::pair<Compression, int> bad[] = {{Compression::gzip, 10}, {Compression::gzip, -1},
                                               {Compression::zstd, 0}, {Compression::zstd, 23}};
    for (const auto& [compression, level] : bad) {
        try {
            validate_level(compression, level);
            ADD_FAILURE() << "accepted level " << level;
        } catch (const UsageError& error) {
            EXPECT_NE(std::string(error.what()).find(std::to_string(level)), std::string::npos) << error.what();
        }
    }
    CountingSink sink;
    EXPECT_THROW(write_layer({}, {}, sink, options(Compression::gzip, 12)), UsageError);
    EXPECT_EQ(sink.size, 0u);
}

TEST_F(LayerWriterTest, EveryHeaderFieldAndContentRoundTrips) {
    const std::string host_content = pseudo_text(300'000, 1);
    const fs::path host = write_host_file("host.txt", host_content);
    const std::string long_dir(120, 'd');
    std::vector<LayerEntry> entries;
    entries.push_back(make_entry("app", EntryType::directory, {}, 02755));
    entries.push_back(make_entry("tmp", EntryType::directory, {}, 01777));
    entries.push_back(host_file("app/host.txt", host, host_content.size()));
    entries.back().mtime_seconds = 1'700'000'000;
    entries.back().mtime_nanoseconds = 123'456'789;
    entries.push_back(make_file("app/suid", "#!/bin/sh\n", 04755));
    entries.back().uid = 1'000'000;  // too large for the ustar field: a pax `uid` record
    entries.back().gid = 42;
    entries.back().xattrs = {{"security.capability", std::string("\x01\x00\x00\x02", 4)}, {"user.note", "hi"}};
    entries.push_back(make_entry("app/link", EntryType::symlink, "host.txt", 0777));
    entries.push_back(make_entry("app/z-hard", EntryType::hardlink, "app/suid", 0644));
    entries.push_back(make_entry("dev/null", EntryType::char_device, {}, 0666));
    entries.back().device_major = 1;
    entries.back().device_minor = 3;
    entries.push_back(make_entry("dev/sda", EntryType::block_device, {}, 0660));
    entries.back().device_major = 8;
    entries.push_back(make_entry("run/fifo", EntryType::fifo, {}, 0600));
    entries.push_back(make_file(long_dir + "/caf\xc3\xa9.txt", "long"));
    entries.push_back(make_file("empty", ""));

    const Written written = write(entries);
    const std::vector<ReadEntry> read = read_tar(written.tar);
    std::vector<std::string> summaries;
    for (const ReadEntry& r : read) summaries.push_back(summary(r));
    const std::string none = " link '' hard '' dev 0,0";  // (libarchive reads hardlinks without a type)
    EXPECT_EQ(summaries, (std::vector<std::string>{
                             "app/ 040000 2755 0:0 '':'' mtime 0.0 size 0" + none,
                             "app/host.txt 100000 0644 0:0 '':'' mtime 1700000000.123456789 size 300000" + none,
                             "app/link 120000 0777 0:0 '':'' mtime 0.0 size 0 link 'host.txt' hard '' dev 0,0",
                             "app/suid 100000 4755 1000000:42 '':'' mtime 0.0 size 10" + none,
                             "app/z-hard 000000 0644 0:0 '':'' mtime 0.0 size 0 link '' hard 'app/suid' dev 0,0",
                             long_dir + "/caf\xc3\xa9.txt 100000 0644 0:0 '':'' mtime 0.0 size 4" + none,
                             "dev/null 020000 0666 0:0 '':'' mtime 0.0 size 0 link '' hard '' dev 1,3",
                             "dev/sda 060000 0660 0:0 '':'' mtime 0.0 size 0 link '' hard '' dev 8,0",
                             "empty 100000 0644 0:0 '':'' mtime 0.0 size 0" + none,
                             "run/fifo 010000 0600 0:0 '':'' mtime 0.0 size 0" + none,
                             "tmp/ 040000 1777 0:0 '':'' mtime 0.0 size 0" + none}));
    ASSERT_EQ(read.size(), 11u);
    EXPECT_EQ(read[1].content, host_content);
    EXPECT_EQ(read[3].content, "#!/bin/sh\n");
    EXPECT_EQ(read[3].xattrs, entries[3].xattrs);
    EXPECT_EQ(read[5].content, "long");

    // What the reader hides: empty name fields, SCHILY xattrs only, no atime/ctime records,
    // a raw UTF-8 path record, and no 10 KiB record padding after the two end blocks.
    std::size_t end_zero_bytes = 0;
    for (const RawHeader& h : raw_headers(written.tar, &end_zero_bytes)) {
        EXPECT_TRUE(h.uname.empty() && h.gname.empty()) << h.name;
        for (const auto& [key, value] : h.pax) {
            EXPECT_TRUE(key == "path" || key == "mtime" || key == "uid" || key.starts_with("SCHILY.xattr."))
                << h.name << ": " << key;
        }
        if (h.name.starts_with(long_dir)) {
            EXPECT_EQ(h.pax.at("path"), long_dir + "/caf\xc3\xa9.txt");
        }
        if (h.name == "app/suid") {
            EXPECT_EQ(h.pax.at("SCHILY.xattr.user.note"), "hi");
        }
    }
    EXPECT_EQ(end_zero_bytes, 1024u);
}

struct CompressionCase {
    Compression compression;
    std::optional<int> level;
};

class LayerCompressionTest : public ::testing::TestWithParam<CompressionCase> {};

TEST_P(LayerCompressionTest, DigestsMatchAnIndependentComputation) {
    std::vector<LayerEntry> entries;
    for (int i = 0; i < 20; ++i) entries.push_back(make_file("f" + std::to_string(i), pseudo_text(20'000 * i, i)));
    const LayerOptions options = cbuild::builder::options(GetParam().compression, GetParam().level);
    const Written written = write(entries, {}, options);

    EXPECT_EQ(written.digests.diff_id, sha256_of(written.tar));
    EXPECT_EQ(written.digests.digest, sha256_of(written.blob));
    EXPECT_EQ(written.digests.size, written.blob.size());
    EXPECT_EQ(written.digests.tar_size, written.tar.size());
    EXPECT_EQ(written.digests.media_type, layer_media_type(options.compression));
    const std::vector<ReadEntry> read = read_tar(written.tar);
    ASSERT_EQ(read.size(), entries.size());
    for (const ReadEntry& r : read) EXPECT_EQ(r.content, *entries[std::stoi(r.path.substr(1))].content.bytes);

    if (options.compression == Compression::uncompressed) {
        EXPECT_EQ(written.digests.digest, written.digests.diff_id);
        return;
    }
    // The command-line tools agree the blob is sound.
    test::TempDir dir;
    const bool gzip = options.compression == Compression::gzip;
    const fs::path blob = dir.path() / (gzip ? "layer.tar.gz" : "layer.tar.zst");
    std::ofstream(blob, std::ios::binary) << written.blob;
    const std::string command = (gzip ? "gzip -t " : "zstd -q -t ") + blob.string();
    if (gzip || std::system("command -v zstd >/dev/null") == 0) {
        EXPECT_EQ(std::system(command.c_str()), 0) << command;
    }
    if (gzip) {
        // The fixed RFC 1952 header: deflate, no flags, mtime 0, XFL 0, OS unknown.
        EXPECT_EQ(written.blob.substr(0, 10), std::string("\x1f\x8b\x08\0\0\0\0\0\0\xff", 10));
        if (GetParam().level == 0) {
            EXPECT_GT(written.digests.size, written.digests.tar_size);  // stored
        } else {
            EXPECT_LT(written.digests.size, written.digests.tar_size / 2);
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    AllCompressions, LayerCompressionTest,
    ::testing::Values(CompressionCase{Compression::gzip, std::nullopt}, CompressionCase{Compression::gzip, 0},
                      CompressionCase{Compression::gzip, 1}, CompressionCase{Compression::gzip, 2},
                      CompressionCase{Compression::gzip, 3}, CompressionCase{Compression::gzip, 6},
                      CompressionCase{Compression::gzip, 9}, CompressionCase{Compression::zstd, std::nullopt},
                      CompressionCase{Compression::zstd, 1}, CompressionCase{Compression::zstd, 19},
                      CompressionCase{Compression::uncompressed, std::nullopt}),
    [](const auto& param_info) {
        const CompressionCase& c = param_info.param;
        return std::string(compression_name(c.compression)) + (c.level ? "_level" + std::to_string(*c.level) : "_default");
    });

TEST_F(LayerWriterTest, HigherGzipLevelsCompressMore) {
    std::vector<LayerEntry> entries{make_file("text", pseudo_text(2'000'000, 7))};
    std::map<int, std::uint64_t> size;
    for (int level : {1, 6, 9}) size[level] = write(entries, {}, options(Compression::gzip, level)).digests.size;
    EXPECT_LT(size[6], size[1]);
    EXPECT_LE(size[9], size[6]);
}

TEST_F(LayerWriterTest, SameEntriesGiveSameBytesWhateverTheOrderOrHostDirectory) {
    auto context = [&](const std::string& root) {
        fs::create_directories(m_dir.path() / root / "src");
        std::vector<LayerEntry> entries{make_entry("app", EntryType::directory), make_entry("app/src", EntryType::directory)};
        for (int i = 0; i < 30; ++i) {
            const std::string content = pseudo_text(1000 * i, i);
            const std::string name = "src/file" + std::to_string(i) + (i % 2 ? ".cc" : ".h");
            entries.push_back(host_file("app/" + name, write_host_file(root + "/" + name, content), content.size()));
        }
        return entries;
    };
    std::vector<LayerEntry> first = context("one");
    std::vector<LayerEntry> second = context("another/dir");
    std::reverse(second.begin(), second.end());
    std::shuffle(second.begin(), second.end() - 10, std::mt19937(5));
    const std::vector<Whiteout> whiteouts{{"old", false}, {"app/cache", true}};
    for (Compression compression : {Compression::gzip, Compression::zstd}) {
        const LayerDigests a = write(first, whiteouts, options(compression)).digests;
        const LayerDigests b = write(second, {whiteouts.rbegin(), whiteouts.rend()}, options(compression)).digests;
        EXPECT_EQ(a.diff_id, b.diff_id);
        EXPECT_EQ(a.digest, b.digest);
    }
}

TEST_F(LayerWriterTest, ThreadCountDoesNotChangeTheBytes) {
    // Big enough for several zstd jobs (8 MiB each at level 3) and many pipeline chunks.
    std::vector<LayerEntry> entries{make_file("a", pseudo_text(20'000'000, 3)), make_file("b", pseudo_text(5'000'000, 4))};
    for (Compression compression : {Compression::gzip, Compression::zstd, Compression::uncompressed}) {
        std::vector<Digest> digests;
        for (unsigned threads : {1u, 2u, 4u, 0u}) {
            CountingSink sink;
            const LayerDigests d = write_layer(entries, {}, sink, options(compression, std::nullopt, threads));
            EXPECT_EQ(d.size, sink.size);
            digests.push_back(d.digest);
        }
        EXPECT_EQ(std::count(digests.begin(), digests.end(), digests.front()), 4) << compression_name(compression);
    }
}

TEST_F(LayerWriterTest, SourceDateEpochClampsOnlyLaterMtimes) {
    constexpr std::int64_t epoch = 1'600'000'000;
    std::vector<LayerEntry> entries;
    for (auto [name, seconds, nanoseconds] : {std::tuple{"before", epoch - 10, 5u}, std::tuple{"at", epoch, 0u},
                                             std::tuple{"just-after", epoch, 1u}, std::tuple{"after", epoch + 99, 7u}}) {
        entries.push_back(make_file(name, "x"));
        entries.back().mtime_seconds = seconds;
        entries.back().mtime_nanoseconds = nanoseconds;
    }
    LayerOptions clamped;
    clamped.source_date_epoch = epoch;
    const Written written = write(entries, {{"gone", false}}, clamped);
    std::map<std::string, std::pair<std::int64_t, long>> mtimes;
    for (const ReadEntry& r : read_tar(written.tar)) {
        mtimes[r.path] = {r.mtime, r.mtime_nsec};
        EXPECT_FALSE(r.atime_set || r.ctime_set) << r.path;
    }
    EXPECT_EQ(mtimes["before"], std::pair(epoch - 10, 5L));
    EXPECT_EQ(mtimes["at"], std::pair(epoch, 0L));
    EXPECT_EQ(mtimes["just-after"], std::pair(epoch, 0L));
    EXPECT_EQ(mtimes["after"], std::pair(epoch, 0L));
    EXPECT_EQ(mtimes[".wh.gone"], std::pair(epoch, 0L));
    EXPECT_NE(write(entries).digests.diff_id, written.digests.diff_id);
}

TEST_F(LayerWriterTest, WhiteoutsAndOpaqueDirectoriesComeFirstInTheirDirectory) {
    std::vector<LayerEntry> entries{make_file("a/x", "x"), make_entry("a", EntryType::directory),
                                    make_entry("d", EntryType::directory), make_file("d/y", "y"), make_file("-top", "t")};
    const std::vector<Whiteout> whiteouts{{"a/b", false}, {"c", false}, {"d", true}, {"a/z/deep", false}};
    const std::vector<ReadEntry> read = read_tar(write(entries, whiteouts).tar);
    EXPECT_EQ(paths_of(read), (std::vector<std::string>{".wh.c", "-top", "a/", "a/.wh.b", "a/x", "a/z/.wh.deep",
                                                        "d/", "d/.wh..wh..opq", "d/y"}));
    for (const ReadEntry& r : read) {
        if (r.path.find(".wh.") == std::string::npos) continue;
        EXPECT_EQ(r.type, AE_IFREG) << r.path;
        EXPECT_EQ(r.size, 0) << r.path;
        EXPECT_EQ(r.perm, 0u) << r.path;
        EXPECT_EQ(r.mtime, 0) << r.path;
    }
}

TEST_F(LayerWriterTest, ParentsPrecedeChildrenComparingPathComponents) {
    std::vector<LayerEntry> entries{make_file("ab", ""), make_file("a.txt", ""), make_file("a-b", ""),
                                    make_file("a/b/c", ""), make_entry("a/b", EntryType::directory),
                                    make_entry("a", EntryType::directory), make_file("a/B", "")};
    EXPECT_EQ(paths_of(read_tar(write(entries).tar)),
              (std::vector<std::string>{"a/", "a/B", "a/b/", "a/b/c", "a-b", "a.txt", "ab"}));
}

TEST_F(LayerWriterTest, MalformedAndDuplicatePathsAreRejected) {
    for (const std::string bad : {"", "/abs", "dir/", "a//b", "a/./b", "../x", "a/..", ".wh.x", "d/.wh..wh..opq"}) {
        try {
            write({make_file(bad, "")});
            ADD_FAILURE() << "accepted `" << bad << "`";
        } catch (const LayerError& error) {
            EXPECT_EQ(error.path(), bad);
        }
    }
    EXPECT_THROW(write({make_file("same", "1"), make_file("same", "2")}), LayerError);
    EXPECT_THROW(write({}, {{"/gone", false}}), LayerError);
    LayerEntry bad_xattr = make_file("f", "");
    bad_xattr.xattrs["user.a=b"] = "v";
    EXPECT_THROW(write({bad_xattr}), LayerError);
}

TEST_F(LayerWriterTest, FileThatChangedSizeIsRejected) {
    const fs::path host = write_host_file("grown.txt", "twelve bytes");
    for (std::uint64_t recorded : {10u, 20u}) {
        for (unsigned threads : {1u, 2u}) {
            try {
                CountingSink sink;
                write_layer({host_file("app/grown.txt", host, recorded)}, {}, sink, options(Compression::gzip, std::nullopt, threads));
                ADD_FAILURE() << "accepted a size of " << recorded;
            } catch (const LayerError& error) {
                EXPECT_EQ(error.path(), "app/grown.txt");
                EXPECT_NE(std::string(error.what()).find("changed during the build"), std::string::npos) << error.what();
            }
        }
    }
    LayerEntry short_bytes = make_file("mem", "abc");
    short_bytes.size = 4;
    EXPECT_THROW(write({short_bytes}), LayerError);
    EXPECT_THROW(write({host_file("missing", m_dir.path() / "missing", 1)}), IoError);
}

TEST_F(LayerWriterTest, HardlinkGroupsPutTheContentFirst) {
    LayerEntry target = make_file("z/target", "shared", 0600);
    target.uid = 7;
    std::vector<LayerEntry> entries{target, make_entry("z", EntryType::directory),
                                    make_entry("a", EntryType::hardlink, "m"), make_entry("m", EntryType::hardlink, "z/target"),
                                    make_entry("lower", EntryType::hardlink, "usr/bin/from-lower-layer")};
    std::map<std::string, ReadEntry> by_path;
    for (const ReadEntry& r : read_tar(write(entries).tar)) by_path[r.path] = r;
    EXPECT_EQ(by_path["a"].hardlink, "");
    EXPECT_EQ(by_path["a"].content, "shared");
    EXPECT_EQ(by_path["a"].perm, 0600u);
    EXPECT_EQ(by_path["a"].uid, 7);
    EXPECT_EQ(by_path["m"].hardlink, "a");
    EXPECT_EQ(by_path["z/target"].hardlink, "a");
    EXPECT_EQ(by_path["lower"].hardlink, "usr/bin/from-lower-layer");

    EXPECT_THROW(write({make_entry("x", EntryType::hardlink, "y"), make_entry("y", EntryType::hardlink, "x")}), LayerError);
    EXPECT_THROW(write({make_entry("d", EntryType::directory), make_entry("l", EntryType::hardlink, "d")}), LayerError);
}

TEST_F(LayerWriterTest, SinkErrorsReachTheCallerWithTheirType) {
    std::vector<LayerEntry> entries{make_file("big", pseudo_text(8'000'000, 9))};
    for (Compression compression : {Compression::gzip, Compression::zstd, Compression::uncompressed}) {
        for (unsigned threads : {1u, 2u}) {
            CountingSink sink(100'000);
            EXPECT_THROW(write_layer(entries, {}, sink, options(compression, std::nullopt, threads)), IoError)
                << compression_name(compression) << " threads " << threads;
        }
    }
}

TEST_F(LayerWriterTest, PathsAreEncodedTheSameWhateverTheLocale) {
    std::vector<LayerEntry> entries{make_file("caf\xc3\xa9", "utf-8"), make_file("bad\xff", "latin-1")};
    const std::string saved = std::setlocale(LC_ALL, nullptr);
    ASSERT_NE(std::setlocale(LC_ALL, "C.UTF-8"), nullptr);
    const Written utf8 = write(entries);
    std::setlocale(LC_ALL, "C");
    const Written c = write(entries);
    std::setlocale(LC_ALL, saved.c_str());
    EXPECT_EQ(utf8.blob, c.blob);
    const std::vector<RawHeader> headers = raw_headers(c.tar);
    ASSERT_EQ(headers.size(), 2u);
    EXPECT_EQ(headers[0].name, "bad\xff");
    EXPECT_EQ(headers[0].pax.at("hdrcharset"), "BINARY");
    EXPECT_EQ(headers[1].name, "caf\xc3\xa9");
    EXPECT_EQ(headers[1].pax.count("hdrcharset"), 0u);
}

TEST_F(LayerWriterTest, EmptyLayerIsTwoZeroBlocks) {
    const Written written = write({}, {}, options(Compression::uncompressed));
    EXPECT_EQ(written.tar, std::string(1024, '\0'));
    EXPECT_EQ(written.digests.diff_id, sha256_of(std::string(1024, '\0')));
}

// Runs `body` in a child process whose peak RSS is first reset to its current RSS (proc(5),
// clear_refs "5"), so the growth measured is this body's alone. Returns the growth in KiB, or
// -1 if the reset is not available.
long peak_rss_growth_kib(const std::function<void()>& body) {
    int fds[2];
    if (pipe(fds) != 0) return -2;
    const pid_t child = fork();
    if (child == 0) {
        long growth = -1;
        const int clear = open("/proc/self/clear_refs", O_WRONLY);
        if (clear >= 0 && ::write(clear, "5", 1) == 1) {
            rusage before{}, after{};
            getrusage(RUSAGE_SELF, &before);
            try {
                body();
                getrusage(RUSAGE_SELF, &after);
                growth = after.ru_maxrss - before.ru_maxrss;
            } catch (const std::exception& error) {
                std::fprintf(stderr, "child failed: %s\n", error.what());
                growth = -3;
            }
        }
        if (::write(fds[1], &growth, sizeof growth) != sizeof growth) _exit(1);
        _exit(0);
    }
    close(fds[1]);
    long growth = -2;
    if (read(fds[0], &growth, sizeof growth) != sizeof growth) growth = -2;
    close(fds[0]);
    waitpid(child, nullptr, 0);
    return growth;
}

TEST_F(LayerWriterTest, LargeFileStreamsInBoundedMemory) {
    constexpr std::uint64_t size = 300'000'000;
    const fs::path sparse = m_dir.path() / "sparse";
    std::ofstream(sparse).close();
    fs::resize_file(sparse, size);  // a hole: no disk, but read() returns 300 MB of zeros
    for (Compression compression : {Compression::gzip, Compression::zstd}) {
        const long growth_kib = peak_rss_growth_kib([&] {
            CountingSink sink;
            // Two threads, as here: zstd's buffers grow with its workers (~12 MiB each).
            const LayerDigests d = write_layer({host_file("big", sparse, size)}, {}, sink, options(compression, std::nullopt, 2));
            if (d.tar_size != 512 + (size + 511) / 512 * 512 + 1024 || d.size != sink.size) throw Error("wrong sizes");
        });
        if (growth_kib == -1) GTEST_SKIP() << "cannot reset the peak RSS (/proc/self/clear_refs)";
        ASSERT_GE(growth_kib, 0) << "the child failed";
        EXPECT_LT(growth_kib, 48 * 1024) << compression_name(compression) << " peak RSS grew by " << growth_kib << " KiB";
    }
}

}  // namespace
}  // namespace cbuild::builder
