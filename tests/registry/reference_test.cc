#include "registry/reference.h"

#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

// Cases come from github.com/distribution/reference (reference_test.go TestReferenceParse,
// normalize_test.go TestValidateReferenceName, TestValidateRemoteName, TestParseRepositoryInfo,
// TestNormalizedSplitHostname, TestParseReferenceWithTagAndDigest), with the expected values
// rewritten for ParseNormalizedNamed followed by Docker's default tag.

namespace cbuild::registry {
namespace {

const std::string k_hex_f(64, 'f');
const std::string k_busybox_hex =
    "86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa";

struct ValidCase {
    std::string input;
    std::string domain;
    std::string path;
    std::string tag;     // "" for none
    std::string digest;  // "" for none
    std::string familiar;
};

std::vector<ValidCase> valid_cases() {
    return {
        // Docker Hub normalisation.
        {"ubuntu", "docker.io", "library/ubuntu", "latest", "", "ubuntu:latest"},
        {"ubuntu:22.04", "docker.io", "library/ubuntu", "22.04", "", "ubuntu:22.04"},
        {"user/img", "docker.io", "user/img", "latest", "", "user/img:latest"},
        {"user/img:tag", "docker.io", "user/img", "tag", "", "user/img:tag"},
        {"docker/docker", "docker.io", "docker/docker", "latest", "", "docker/docker:latest"},
        {"library/debian", "docker.io", "library/debian", "latest", "", "debian:latest"},
        {"docker.io/library/debian", "docker.io", "library/debian", "latest", "",
         "debian:latest"},
        {"docker.io/debian", "docker.io", "library/debian", "latest", "", "debian:latest"},
        {"docker.io/docker/docker", "docker.io", "docker/docker", "latest", "",
         "docker/docker:latest"},
        {"index.docker.io/debian", "docker.io", "library/debian", "latest", "", "debian:latest"},
        {"index.docker.io/library/debian", "docker.io", "library/debian", "latest", "",
         "debian:latest"},
        {"index.docker.io/docker/docker", "docker.io", "docker/docker", "latest", "",
         "docker/docker:latest"},
        {"library/foo/bar", "docker.io", "library/foo/bar", "latest", "",
         "library/foo/bar:latest"},
        {"store/foo/bar", "docker.io", "store/foo/bar", "latest", "", "store/foo/bar:latest"},
        {"other/library", "docker.io", "other/library", "latest", "", "other/library:latest"},
        {"ubuntu-12.04-base", "docker.io", "library/ubuntu-12.04-base", "latest", "",
         "ubuntu-12.04-base:latest"},
        {"test_com", "docker.io", "library/test_com", "latest", "", "test_com:latest"},
        {"test_com/foo", "docker.io", "test_com/foo", "latest", "", "test_com/foo:latest"},
        // A single component is never a domain, whatever it looks like.
        {"test.com:tag", "docker.io", "library/test.com", "tag", "", "test.com:tag"},
        {"test.com:5000", "docker.io", "library/test.com", "5000", "", "test.com:5000"},
        {"192.168.0.1", "docker.io", "library/192.168.0.1", "latest", "", "192.168.0.1:latest"},
        {"192.168.0.1:80", "docker.io", "library/192.168.0.1", "80", "", "192.168.0.1:80"},
        {"localhost", "docker.io", "library/localhost", "latest", "", "localhost:latest"},
        {"localhost:5000", "docker.io", "library/localhost", "5000", "", "localhost:5000"},
        {"foo_bar.com:8080", "docker.io", "library/foo_bar.com", "8080", "",
         "foo_bar.com:8080"},
        {"foo/foo_bar.com:8080", "docker.io", "foo/foo_bar.com", "8080", "",
         "foo/foo_bar.com:8080"},
        // Domains: localhost, a "." or a ":".
        {"localhost/foo", "localhost", "foo", "latest", "", "localhost/foo:latest"},
        {"localhost:5000/a", "localhost:5000", "a", "latest", "", "localhost:5000/a:latest"},
        {"127.0.0.1:5000/a", "127.0.0.1:5000", "a", "latest", "", "127.0.0.1:5000/a:latest"},
        {"127.0.0.1:5000/docker/docker", "127.0.0.1:5000", "docker/docker", "latest", "",
         "127.0.0.1:5000/docker/docker:latest"},
        {"127.0.0.1:5000/library/debian", "127.0.0.1:5000", "library/debian", "latest", "",
         "127.0.0.1:5000/library/debian:latest"},
        {"192.168.0.1:8/debian", "192.168.0.1:8", "debian", "latest", "",
         "192.168.0.1:8/debian:latest"},
        {"192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", "",
         "192.168.1.1:5000/repo:5050"},
        {"registry.example.com/a/b", "registry.example.com", "a/b", "latest", "",
         "registry.example.com/a/b:latest"},
        {"example.com:8000/private/moonbase", "example.com:8000", "private/moonbase", "latest",
         "", "example.com:8000/private/moonbase:latest"},
        {"test:5000/repo", "test:5000", "repo", "latest", "", "test:5000/repo:latest"},
        {"test-com:8080/foo", "test-com:8080", "foo", "latest", "", "test-com:8080/foo:latest"},
        {"sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux",
         "some-long-tag", "", "sub-dom1.foo.com/bar/baz/quux:some-long-tag"},
        {"b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io",
         "test.example.com/my-app", "test.example.com", "",
         "b.gcr.io/test.example.com/my-app:test.example.com"},
        {"xn--n3h.com/myimage:xn--n3h.com", "xn--n3h.com", "myimage", "xn--n3h.com", "",
         "xn--n3h.com/myimage:xn--n3h.com"},
        {"xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", "latest", "",
         "xn--n3h.com:18080/foo:latest"},
        {"[::1]:5000/a", "[::1]:5000", "a", "latest", "", "[::1]:5000/a:latest"},
        {"[2001:db8::1]/repo", "[2001:db8::1]", "repo", "latest", "",
         "[2001:db8::1]/repo:latest"},
        {"[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", "latest", "",
         "[2001:db8::]:5000/repo:latest"},
        {"[fc00:1:2:3:4:5:6:7]:5000/library/debian", "[fc00:1:2:3:4:5:6:7]:5000",
         "library/debian", "latest", "", "[fc00:1:2:3:4:5:6:7]:5000/library/debian:latest"},
        // Uppercase is never valid in a path, so an uppercase first component is a host.
        {"Foo/bar", "Foo", "bar", "latest", "", "Foo/bar:latest"},
        {"DOCKER/docker", "DOCKER", "docker", "latest", "", "DOCKER/docker:latest"},
        // Tags and digests.
        {"lowercase:Uppercase", "docker.io", "library/lowercase", "Uppercase", "",
         "lowercase:Uppercase"},
        {"busybox:latest@sha256:" + k_busybox_hex, "docker.io", "library/busybox", "latest",
         "sha256:" + k_busybox_hex, "busybox:latest@sha256:" + k_busybox_hex},
        {"redis@sha256:" + k_hex_f, "docker.io", "library/redis", "", "sha256:" + k_hex_f,
         "redis@sha256:" + k_hex_f},
        {"test:5000/repo@sha256:" + k_hex_f, "test:5000", "repo", "", "sha256:" + k_hex_f,
         "test:5000/repo@sha256:" + k_hex_f},
        {"[2001:db8::1]:5000/repo:tag@sha256:" + k_hex_f, "[2001:db8::1]:5000", "repo", "tag",
         "sha256:" + k_hex_f, "[2001:db8::1]:5000/repo:tag@sha256:" + k_hex_f},
        {"xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + std::string(128, 'f'), "xn--7o8h.com",
         "myimage", "xn--7o8h.com", "sha512:" + std::string(128, 'f'),
         "xn--7o8h.com/myimage:xn--7o8h.com@sha512:" + std::string(128, 'f')},
        // Path component grammar.
        {"docker-rules/docker", "docker.io", "docker-rules/docker", "latest", "",
         "docker-rules/docker:latest"},
        {"docker---rules/docker", "docker.io", "docker---rules/docker", "latest", "",
         "docker---rules/docker:latest"},
        {"dock__er/docker", "docker.io", "dock__er/docker", "latest", "",
         "dock__er/docker:latest"},
        {"d/docker", "docker.io", "d/docker", "latest", "", "d/docker:latest"},
        {"jess/t", "docker.io", "jess/t", "latest", "", "jess/t:latest"},
        {"a.b_c__d-e--f", "docker.io", "library/a.b_c__d-e--f", "latest", "",
         "a.b_c__d-e--f:latest"},
        // 64 characters is fine unless it is all hex; 64 hex is fine under a domain.
        {"thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "docker.io",
         "library/thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev", "latest",
         "", "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev:latest"},
        {"docker.io/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
         "docker.io", "library/1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
         "latest", "", "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a:latest"},
        {"dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "docker.io",
         "library/dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9", "latest",
         "", "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9:latest"},
    };
}

std::vector<std::string> invalid_cases() {
    return {
        "",
        ":justtag",
        "@sha256:" + k_hex_f,
        "repo@sha256:ffffffffffffffffffffffffffffffffff",  // digest too short
        "validname@invaliddigest:" + k_hex_f,              // unknown algorithm
        "repo@sha256:" + std::string(64, 'F'),              // uppercase digest
        "ubuntu:",
        "ubuntu@",
        "ubuntu:-tag",
        "ubuntu:.tag",
        "ubuntu:ta$g",
        "ubuntu:" + std::string(129, 'a'),                  // tag over 128
        // Uppercase in the repository path.
        "Uppercase:tag",
        "docker/Docker",
        "docker.io/docker/Docker",
        "test:5000/Uppercase/lowercase:tag",
        // Path grammar.
        "aa/asdf$$^/aa",
        "-docker",
        "-docker/docker",
        "docker-/docker",
        "-docker-/docker",
        "____/____",
        "_docker/_docker",
        "dock..er/docker",
        "dock_.er/docker",
        "dock-.er/docker",
        "dock___er/docker",
        "docker/",
        "docker///docker",
        "docker.io/docker///docker",
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_"
        "namespace_because_its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_"
        "its_lenth_is_greater_than_255_this_is_not_a_valid_namespace_because_its_lenth_is_"
        "greater_than_255/docker",
        // Domains.
        "https://github.com/docker/docker",
        "-docker.io/docker/docker",
        "foo_bar.com/x",  // looks like a host but is not one (upstream: empty domain)
        "localhost:/a",
        "example.com:50a0/x",
        "[2001:db8::1]",
        "[2001:db8::1]:5000",
        "[2001:db8::1]:tag",
        "[fc00::1]",
        "[fc00::1]:5000",
        "fc00::1:5000/debian",
        "[fe80::1%eth0]:5000/debian",
        "[fe80::1%@invalidzone]:5000/repo",
        "[2001:db8:3:4::192.0.2.33]:5000/debian",
        "[]:5000/a",
        // An image ID is not a name.
        "1a3f5e7d9c1b3a5f7e9d1c3b5a7f9e1d3c5b7a9f1e3d5d7c9b1a3f5e7d9c1b3a",
    };
}

TEST(ReferenceTest, ParsesUpstreamValidTable) {
    for (const ValidCase& c : valid_cases()) {
        SCOPED_TRACE("input `" + c.input + "`");
        std::optional<Reference> parsed;
        try {
            parsed = Reference::parse(c.input);
        } catch (const ReferenceError& error) {
            ADD_FAILURE() << error.what();
            continue;
        }
        const Reference& ref = *parsed;
        EXPECT_EQ(ref.domain(), c.domain);
        EXPECT_EQ(ref.path(), c.path);
        EXPECT_EQ(ref.tag().value_or(""), c.tag);
        EXPECT_EQ(ref.tag().has_value(), !c.tag.empty());
        EXPECT_EQ(ref.digest() ? ref.digest()->to_string() : "", c.digest);
        EXPECT_EQ(ref.name(), c.domain + "/" + c.path);
        std::string full = c.domain + "/" + c.path;
        if (!c.tag.empty()) full += ":" + c.tag;
        if (!c.digest.empty()) full += "@" + c.digest;
        EXPECT_EQ(ref.to_string(), full);
        EXPECT_EQ(ref.familiar(), c.familiar);
        // Both printed forms parse back to the same reference.
        EXPECT_EQ(Reference::parse(ref.to_string()), ref);
        EXPECT_EQ(Reference::parse(ref.familiar()), ref);
    }
}

TEST(ReferenceTest, RejectsUpstreamInvalidTable) {
    for (const std::string& input : invalid_cases()) {
        EXPECT_THROW(Reference::parse(input), ReferenceError) << "input `" << input << "`";
    }
}

TEST(ReferenceTest, PathLengthLimitIs255ExcludingDomain) {
    // Upstream counts the path only: example.com/ + 255 characters is fine, 256 is not.
    EXPECT_EQ(Reference::parse("example.com/" + std::string(255, 'a')).path().size(), 255u);
    EXPECT_THROW(Reference::parse("example.com/" + std::string(256, 'a')), ReferenceError);

    // "a/" * 127 + "a" is 255 characters, all path on docker.io; the tag does not count.
    std::string path;
    for (int i = 0; i < 127; ++i) path += "a/";
    path += "a";
    const Reference ref = Reference::parse(path + ":tag-puts-this-over-max");
    EXPECT_EQ(ref.path(), path);
    EXPECT_EQ(ref.tag(), "tag-puts-this-over-max");
    EXPECT_THROW(Reference::parse("a/" + path + ":tag"), ReferenceError);
}

TEST(ReferenceTest, TagLengthLimitIs128) {
    EXPECT_EQ(Reference::parse("a:" + std::string(128, 'x')).tag()->size(), 128u);
    EXPECT_THROW(Reference::parse("a:" + std::string(129, 'x')), ReferenceError);
}

TEST(ReferenceTest, RegistryHostMapsDockerHubToItsApiHost) {
    EXPECT_EQ(Reference::parse("ubuntu").registry_host(), "registry-1.docker.io");
    EXPECT_EQ(Reference::parse("index.docker.io/user/img").registry_host(),
              "registry-1.docker.io");
    EXPECT_EQ(Reference::parse("localhost:5000/a").registry_host(), "localhost:5000");
    EXPECT_EQ(Reference::parse("[::1]:5000/a").registry_host(), "[::1]:5000");
    EXPECT_EQ(Reference::parse("ghcr.io/o/a:1").registry_host(), "ghcr.io");
}

TEST(ReferenceTest, DigestOnlyReferenceHasNoDefaultTag) {
    const Reference ref = Reference::parse("ubuntu@sha256:" + k_hex_f);
    EXPECT_FALSE(ref.tag().has_value());
    ASSERT_TRUE(ref.digest().has_value());
    EXPECT_EQ(ref.digest()->algorithm(), "sha256");
    EXPECT_EQ(ref.to_string(), "docker.io/library/ubuntu@sha256:" + k_hex_f);
}

TEST(ReferenceTest, EqualityComparesNormalisedForms) {
    EXPECT_EQ(Reference::parse("ubuntu"), Reference::parse("docker.io/library/ubuntu:latest"));
    EXPECT_EQ(Reference::parse("index.docker.io/user/img"), Reference::parse("user/img"));
    EXPECT_NE(Reference::parse("ubuntu"), Reference::parse("ubuntu:22.04"));
    EXPECT_NE(Reference::parse("localhost/ubuntu"), Reference::parse("ubuntu"));
}

std::string error_message(const std::string& input) {
    try {
        Reference::parse(input);
    } catch (const ReferenceError& error) {
        EXPECT_EQ(error.reference(), input);
        return error.what();
    }
    ADD_FAILURE() << "no error for `" << input << "`";
    return {};
}

TEST(ReferenceTest, ErrorNamesTheReferenceAndTheReason) {
    const std::string uppercase = error_message("docker/Docker:tag");
    EXPECT_NE(uppercase.find("`docker/Docker:tag`"), std::string::npos) << uppercase;
    EXPECT_NE(uppercase.find("must be lowercase"), std::string::npos) << uppercase;

    const std::string separator = error_message("x/dock_.er");
    EXPECT_NE(separator.find("`_.`"), std::string::npos) << separator;

    const std::string empty = error_message("");
    EXPECT_NE(empty.find("empty"), std::string::npos) << empty;

    const std::string id = error_message(std::string(64, 'a'));
    EXPECT_NE(id.find("image ID"), std::string::npos) << id;

    const std::string port = error_message("localhost:http/a");
    EXPECT_NE(port.find("`http`"), std::string::npos) << port;

    const std::string digest = error_message("a@md5:" + k_hex_f);
    EXPECT_NE(digest.find("`md5`"), std::string::npos) << digest;

    // Catchable as the common base, like every cbuild failure.
    EXPECT_THROW(Reference::parse("UPPER"), cbuild::Error);
}

}  // namespace
}  // namespace cbuild::registry
