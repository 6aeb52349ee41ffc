// --cache-to / --cache-from values in buildx's syntax, and the errors for the ones cbuild cannot
// honour.

#include "cli/cache_options.h"

#include <gtest/gtest.h>

#include "common/error.h"

namespace cbuild::cli {
namespace {

using builder::CacheExportSpec;
using builder::CacheImportSpec;

// The UsageError message for `text`, or "" when it parses.
std::string cache_to_error(const std::string& text) {
    try {
        parse_cache_to(text);
    } catch (const UsageError& error) {
        return error.what();
    }
    return "";
}

std::string cache_from_error(const std::string& text) {
    try {
        parse_cache_from(text);
    } catch (const UsageError& error) {
        return error.what();
    }
    return "";
}

TEST(CacheOptionsTest, CacheToRegistryWithDefaults) {
    const CacheExportSpec spec = parse_cache_to("type=registry,ref=localhost:5000/team/app:cache");
    EXPECT_EQ(spec.type, CacheExportSpec::Type::registry);
    EXPECT_EQ(spec.ref, "localhost:5000/team/app:cache");
    EXPECT_FALSE(spec.mode_max);
    EXPECT_FALSE(spec.cache_mounts);
    EXPECT_FALSE(spec.insecure);
}

TEST(CacheOptionsTest, CacheToRegistryWithEveryKey) {
    const CacheExportSpec spec = parse_cache_to(
        "type=registry,ref=reg.example/app:cache,mode=max,cache-mounts=true,registry.insecure=true");
    EXPECT_EQ(spec.type, CacheExportSpec::Type::registry);
    EXPECT_EQ(spec.ref, "reg.example/app:cache");
    EXPECT_TRUE(spec.mode_max);
    EXPECT_TRUE(spec.cache_mounts);
    EXPECT_TRUE(spec.insecure);

    const CacheExportSpec min = parse_cache_to("type=registry,ref=app:cache,mode=min,cache-mounts=false");
    EXPECT_FALSE(min.mode_max);
    EXPECT_FALSE(min.cache_mounts);
}

TEST(CacheOptionsTest, KeysAreCaseInsensitiveAsInBuildx) {
    const CacheExportSpec spec = parse_cache_to("Type=registry,REF=app:cache,Mode=max");
    EXPECT_EQ(spec.ref, "app:cache");
    EXPECT_TRUE(spec.mode_max);
}

TEST(CacheOptionsTest, CacheToLocal) {
    const CacheExportSpec spec = parse_cache_to("type=local,dest=/tmp/cache dir");
    EXPECT_EQ(spec.type, CacheExportSpec::Type::local);
    EXPECT_EQ(spec.dir, "/tmp/cache dir");
    EXPECT_EQ(spec.tag, "latest");

    const CacheExportSpec tagged = parse_cache_to("type=local,dest=out,tag=v2,mode=max,cache-mounts=true");
    EXPECT_EQ(tagged.dir, "out");
    EXPECT_EQ(tagged.tag, "v2");
    EXPECT_TRUE(tagged.mode_max);
    EXPECT_TRUE(tagged.cache_mounts);
}

TEST(CacheOptionsTest, BareReferenceIsARegistryCache) {
    const CacheExportSpec to = parse_cache_to("localhost:5000/app:cache");
    EXPECT_EQ(to.type, CacheExportSpec::Type::registry);
    EXPECT_EQ(to.ref, "localhost:5000/app:cache");

    const CacheImportSpec from = parse_cache_from("localhost:5000/app:cache");
    EXPECT_EQ(from.type, CacheImportSpec::Type::registry);
    EXPECT_EQ(from.ref, "localhost:5000/app:cache");
}

TEST(CacheOptionsTest, CacheFromRegistry) {
    const CacheImportSpec spec = parse_cache_from("type=registry,ref=localhost:5000/app:cache,registry.insecure=true");
    EXPECT_EQ(spec.type, CacheImportSpec::Type::registry);
    EXPECT_EQ(spec.ref, "localhost:5000/app:cache");
    EXPECT_TRUE(spec.insecure);

    const std::string digest = "sha256:" + std::string(64, 'a');
    EXPECT_EQ(parse_cache_from("type=registry,ref=app@" + digest).ref, "app@" + digest);
}

TEST(CacheOptionsTest, CacheFromLocal) {
    const CacheImportSpec spec = parse_cache_from("type=local,src=/var/cache/app");
    EXPECT_EQ(spec.type, CacheImportSpec::Type::local);
    EXPECT_EQ(spec.dir, "/var/cache/app");
    EXPECT_EQ(spec.tag, "latest");
    EXPECT_EQ(parse_cache_from("type=local,src=d,tag=main").tag, "main");
}

TEST(CacheOptionsTest, CacheToErrorsNameTheValue) {
    EXPECT_NE(cache_to_error(""), "");
    EXPECT_NE(cache_to_error("ref=app:cache").find("needs type="), std::string::npos);
    EXPECT_NE(cache_to_error("type=gha").find("unsupported type `gha`"), std::string::npos);
    EXPECT_NE(cache_to_error("type=inline").find("`type=inline`"), std::string::npos);
    EXPECT_NE(cache_to_error("type=registry").find("needs ref="), std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=").find("needs ref="), std::string::npos);
    EXPECT_NE(cache_to_error("type=local").find("needs dest="), std::string::npos);
    EXPECT_NE(cache_to_error("type=local,src=d").find("needs dest="), std::string::npos);
    EXPECT_NE(cache_to_error("type=local,dest=d,tag=").find("empty tag="), std::string::npos);
    EXPECT_NE(cache_to_error("type=local,dest=d,registry.insecure=true").find("unsupported key `registry.insecure`"),
              std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=app:c,mode=all").find("mode=all"), std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=app:c,cache-mounts=yes").find("expected true or false"),
              std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=app:c,compression=zstd").find("unsupported key `compression`"),
              std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=App:c").find("invalid reference"), std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=app@sha256:" + std::string(64, 'a')).find("not a digest"),
              std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=a:c,ref=b:c").find("given twice"), std::string::npos);
    EXPECT_NE(cache_to_error("type=registry,ref=a:c,mode").find("expected key=value"), std::string::npos);
    EXPECT_NE(cache_to_error("a:c,b:c").find("one reference"), std::string::npos);
    // Every message quotes what the user typed.
    EXPECT_NE(cache_to_error("type=registry,ref=a:c,bogus=1").find("`type=registry,ref=a:c,bogus=1`"),
              std::string::npos);
}

TEST(CacheOptionsTest, CacheFromErrorsNameTheValue) {
    EXPECT_NE(cache_from_error("").find("--cache-from"), std::string::npos);
    EXPECT_NE(cache_from_error("type=local").find("needs src="), std::string::npos);
    EXPECT_NE(cache_from_error("type=local,dest=d").find("needs src="), std::string::npos);
    EXPECT_NE(cache_from_error("type=registry,ref=a:c,mode=max").find("unsupported key `mode`"), std::string::npos);
    EXPECT_NE(cache_from_error("type=registry,ref=a:c,cache-mounts=true").find("unsupported key `cache-mounts`"),
              std::string::npos);
    EXPECT_NE(cache_from_error("type=s3,bucket=b").find("unsupported type `s3`"), std::string::npos);
    EXPECT_NE(cache_from_error("a//b").find("invalid reference"), std::string::npos);
    EXPECT_NE(cache_from_error("type=local,src=d,tag=").find("empty tag="), std::string::npos);
}

}  // namespace
}  // namespace cbuild::cli
