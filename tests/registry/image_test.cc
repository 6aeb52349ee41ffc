#include "registry/image.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace cbuild::registry {
namespace {

using std::chrono::nanoseconds;
using std::chrono::seconds;
using testing::ElementsAre;
using testing::HasSubstr;
using testing::Not;

const std::string k_d1 = "sha256:b5b2b2c507a0944348e0303114d8d93aaaa081732b86451d9bce1f432a537bc7";
const std::string k_d2 = "sha256:9834876dcfb05cb167a5c24953eba58c4ac89b1adf57f28f2f9d09af107ee8f0";
const std::string k_d3 = "sha256:3c3a4604a545cdc127456d94e421cd355bca5b528f4a9c1905b15da2eb4a4c6b";
const std::string k_d4 = "sha256:ec4b8955958665577945c89419d1af06b5f7636b4ac3da7f12184802ad867736";

// `doc` with the placeholders $1…$4 replaced by the digests above, so documents stay readable.
std::string with_digests(std::string doc) {
    const std::string* digests[] = {&k_d1, &k_d2, &k_d3, &k_d4};
    for (std::size_t at = doc.find('$'); at != std::string::npos; at = doc.find('$', at)) {
        const std::string& digest = *digests[doc[at + 1] - '1'];
        doc.replace(at, 2, digest);
        at += digest.size();
    }
    return doc;
}

// Documents written after the examples of image-spec (manifest.md, image-index.md, config.md)
// and distribution's schema 2 documentation, with real-world extras added.
const std::string k_oci_manifest_doc = with_digests(R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.manifest.v1+json",
  "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "$1",
             "size": 7023},
  "layers": [
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": "$2", "size": 32654},
    {"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": "$3", "size": 16724,
     "annotations": {"org.opencontainers.image.title": "app.tar"}, "data": "e30="}
  ],
  "subject": {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "$4",
              "size": 7682},
  "annotations": {"com.example.key2": "value2", "com.example.key1": "value1"},
  "x-vendor": {"nested": [1, 2.5, true, null]}
})");

const std::string k_oci_index_doc = with_digests(R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.oci.image.index.v1+json",
  "manifests": [
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7143, "digest": "$1",
     "platform": {"architecture": "ppc64le", "os": "linux"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 7682, "digest": "$2",
     "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1234, "digest": "$3",
     "platform": {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.1879",
                  "os.features": ["win32k"]}},
    {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 566, "digest": "$4",
     "annotations": {"vnd.docker.reference.digest": "$2",
                     "vnd.docker.reference.type": "attestation-manifest"},
     "platform": {"architecture": "unknown", "os": "unknown"}}
  ],
  "annotations": {"com.example.key1": "value1"}
})");

const std::string k_docker_manifest_doc = with_digests(R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
  "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
             "digest": "$1"},
  "layers": [
    {"mediaType": "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip", "size": 1669598,
     "digest": "$2", "urls": ["https://mcr.microsoft.com/v2/windows/servercore/blobs/$2"]},
    {"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
     "digest": "$3"}
  ]
})");

const std::string k_docker_list_doc = with_digests(R"({
  "schemaVersion": 2,
  "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
  "manifests": [
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 7143,
     "digest": "$1", "platform": {"architecture": "ppc64le", "os": "linux"}},
    {"mediaType": "application/vnd.docker.distribution.manifest.v2+json", "size": 7682,
     "digest": "$2", "platform": {"architecture": "amd64", "os": "linux", "features": ["sse4"]}}
  ]
})");

// What the classic Docker builder pushed to Docker Hub: the container config with its zero
// values and nulls, `container_config`, `docker_version`, and Go's \u0026 escaping.
const std::string k_docker_hub_config_doc = with_digests(R"({
  "architecture": "amd64",
  "config": {"Hostname": "", "Domainname": "", "User": "", "AttachStdin": false, "Tty": false,
    "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
    "Cmd": ["/bin/sh"], "Image": "$4", "Volumes": null, "WorkingDir": "",
    "Entrypoint": null, "OnBuild": null, "Labels": null},
  "container": "ba09fe2c8f99faad95871d467a22c96f4bc8166bd01ce0a7c28dd5472697bfd1",
  "container_config": {"Hostname": "ba09fe2c8f99", "Entrypoint": null, "Labels": {},
    "Cmd": ["/bin/sh", "-c", "#(nop) ", "CMD [\"/bin/sh\"]"]},
  "created": "2023-08-07T19:20:20.894140623Z",
  "docker_version": "20.10.23",
  "history": [
    {"created": "2023-08-07T19:20:20.71894984Z",
     "created_by": "/bin/sh -c #(nop) ADD file:32ff5e7a78b8 in / "},
    {"created": "2023-08-07T19:20:21Z",
     "created_by": "/bin/sh -c apk add curl \u0026\u0026 rm -rf /var/cache/apk"},
    {"created": "2023-08-07T19:20:22+02:00", "created_by": "/bin/sh -c #(nop)  CMD [\"/bin/sh\"]",
     "empty_layer": true}
  ],
  "os": "linux",
  "rootfs": {"type": "layers", "diff_ids": ["$2", "$3"]}
})");

// The input re-serialised by an independent writer: sorted keys, no whitespace.
std::string compact(const std::string& doc) { return nlohmann::json::parse(doc).dump(); }

ImageConfig minimal_config() { return ImageConfig{.architecture = "amd64", .os = "linux"}; }

TEST(ImageMediaTypeTest, ClassifiesManifestIndexConfigAndLayerTypes) {
    EXPECT_TRUE(is_manifest(k_oci_manifest) && is_manifest(k_docker_manifest));
    EXPECT_TRUE(is_index(k_oci_index) && is_index(k_docker_manifest_list));
    EXPECT_TRUE(is_config(k_oci_config) && is_config(k_docker_config));
    EXPECT_FALSE(is_manifest(k_oci_index) || is_index(k_docker_manifest) || is_config(k_oci_layer));
    for (const char* layer : {k_oci_layer, k_oci_layer_gzip, k_oci_layer_zstd, k_docker_layer_gzip,
                              k_docker_foreign_layer, k_oci_layer_nondistributable_gzip})
        EXPECT_TRUE(is_layer(layer)) << layer;
    EXPECT_FALSE(is_layer(k_oci_config));
    EXPECT_FALSE(is_layer("application/vnd.oci.image.layer.v1.tar+gzip; charset=x"));
}

TEST(ImageRoundTripTest, OciManifestKeepsEveryFieldInCanonicalForm) {
    const ImageManifest manifest = parse_manifest(k_oci_manifest_doc);
    EXPECT_EQ(manifest.media_type, k_oci_manifest);
    EXPECT_EQ(manifest.config.digest.to_string(), k_d1);
    EXPECT_EQ(manifest.config.size, 7023);
    ASSERT_EQ(manifest.layers.size(), 2u);
    EXPECT_EQ(manifest.layers[1].media_type, k_oci_layer_zstd);
    EXPECT_EQ(manifest.layers[1].annotations.at("org.opencontainers.image.title"), "app.tar");
    EXPECT_EQ(manifest.layers[1].unknown.get("data"), "\"e30=\"");
    ASSERT_TRUE(manifest.subject.has_value());
    EXPECT_EQ(manifest.subject->size, 7682);
    EXPECT_THAT(manifest.unknown.names(), ElementsAre("x-vendor"));
    const std::string out = to_json(manifest);
    EXPECT_EQ(out, compact(k_oci_manifest_doc));
    EXPECT_EQ(to_json(parse_manifest(out)), out);
    EXPECT_EQ(parse_manifest(out), manifest);
}

TEST(ImageRoundTripTest, OciIndexWithPlatforms) {
    const ImageIndex index = parse_index(k_oci_index_doc);
    ASSERT_EQ(index.manifests.size(), 4u);
    EXPECT_EQ(index.manifests[0].platform->architecture, "ppc64le");
    EXPECT_EQ(index.manifests[1].platform->variant, "v8");
    EXPECT_EQ(index.manifests[2].platform->os_version, "10.0.17763.1879");
    EXPECT_THAT(index.manifests[2].platform->os_features, ElementsAre("win32k"));
    EXPECT_EQ(index.manifests[3].annotations.at("vnd.docker.reference.type"),
              "attestation-manifest");
    EXPECT_EQ(to_json(index), compact(k_oci_index_doc));
    EXPECT_EQ(parse_index(to_json(index)), index);
}

TEST(ImageRoundTripTest, DockerSchema2ManifestIsAnImageManifest) {
    const ImageManifest manifest = parse_manifest(k_docker_manifest_doc);
    EXPECT_EQ(manifest.media_type, k_docker_manifest);
    EXPECT_EQ(manifest.config.media_type, k_docker_config);
    ASSERT_EQ(manifest.layers.size(), 2u);
    EXPECT_EQ(manifest.layers[0].media_type, k_docker_foreign_layer);
    ASSERT_EQ(manifest.layers[0].urls.size(), 1u);
    EXPECT_THAT(manifest.layers[0].urls[0], HasSubstr("mcr.microsoft.com"));
    EXPECT_TRUE(manifest.unknown.empty());
    EXPECT_EQ(to_json(manifest), compact(k_docker_manifest_doc));
}

TEST(ImageRoundTripTest, DockerManifestListIsAnIndexAndKeepsPlatformFeatures) {
    const ImageIndex list = parse_index(k_docker_list_doc);
    EXPECT_EQ(list.media_type, k_docker_manifest_list);
    ASSERT_EQ(list.manifests.size(), 2u);
    EXPECT_EQ(list.manifests[1].media_type, k_docker_manifest);
    EXPECT_EQ(list.manifests[1].platform->unknown.get("features"), R"(["sse4"])");
    EXPECT_EQ(to_json(list), compact(k_docker_list_doc));
}

TEST(ImageRoundTripTest, DockerHubConfigKeepsUnknownKeysAndZeroSpellings) {
    const ImageConfig config = parse_config(k_docker_hub_config_doc);
    EXPECT_THAT(config.unknown.names(),
                ElementsAre("container", "container_config", "docker_version"));
    EXPECT_EQ(config.unknown.get("docker_version"), "\"20.10.23\"");
    EXPECT_THAT(config.config.unknown.names(),
                testing::IsSupersetOf({"Hostname", "Image", "Tty", "User", "Entrypoint"}));
    EXPECT_FALSE(config.config.entrypoint.has_value());
    EXPECT_EQ(config.config.cmd, std::vector<std::string>{"/bin/sh"});
    ASSERT_EQ(config.history.size(), 3u);
    EXPECT_EQ(config.history[1].created_by, "/bin/sh -c apk add curl && rm -rf /var/cache/apk");
    EXPECT_TRUE(config.history[2].empty_layer);
    ASSERT_EQ(config.rootfs.diff_ids.size(), 2u);
    EXPECT_EQ(config.rootfs.diff_ids[1].to_string(), k_d3);

    const std::string out = to_json(config);
    // Nothing lost, nothing added, and written the way Go escapes `&`.
    EXPECT_EQ(nlohmann::json::parse(out), nlohmann::json::parse(k_docker_hub_config_doc));
    EXPECT_THAT(out, HasSubstr(R"(apk add curl \u0026\u0026 rm)"));
    EXPECT_THAT(out, Not(HasSubstr("&")));
    EXPECT_THAT(out, HasSubstr(R"("Entrypoint":null)"));
    EXPECT_EQ(to_json(parse_config(out)), out);
}

TEST(ImageRoundTripTest, CanonicalDockerConfigComesBackByteForByte) {
    const std::string doc =
        R"({"architecture":"arm","config":{"AttachStdin":false,"Cmd":null,"Entrypoint":[],)"
        R"("Env":["A=\u003cb\u003e"],"Labels":{"x":"\u2028"},"User":"","Volumes":{"/data":{}}},)"
        R"("created":"2024-01-02T03:04:05.5Z","history":[],"os":"linux","rootfs":{"diff_ids":[],)"
        R"("type":"layers"},"variant":"v7"})";
    const ImageConfig config = parse_config(doc);
    EXPECT_EQ(config.config.env, std::vector<std::string>{"A=<b>"});
    EXPECT_EQ(config.config.labels.at("x"), "\u2028");
    EXPECT_EQ(to_json(config), doc);
}

TEST(ImageCanonicalTest, FreshConfigFollowsGoOmitEmpty) {
    ImageConfig config = minimal_config();
    EXPECT_EQ(to_json(config), R"({"architecture":"amd64","config":{},"os":"linux",)"
                               R"("rootfs":{"diff_ids":[],"type":"layers"}})");
    config.config.args_escaped = false;
    config.config.healthcheck = Healthcheck{};
    config.history.push_back(HistoryEntry{.created_by = "a <b> & c", .comment = "\xff"});
    EXPECT_EQ(to_json(config),
              R"({"architecture":"amd64","config":{"Healthcheck":{}},"history":[{"comment":")"
              "\uFFFD"  // invalid UTF-8 becomes U+FFFD, as in Go
              R"(","created_by":"a \u003cb\u003e \u0026 c"}],)"
              R"("os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})");
}

TEST(ImageCanonicalTest, SameValueBuiltTwoWaysGivesSameBytesAndDigest) {
    ImageConfig first = minimal_config();
    first.config.labels = {{"b", "2"}, {"a", "1"}};
    first.config.exposed_ports = {"443/tcp", "80/tcp"};
    first.unknown.set("zeta", R"({"y": 1, "x": [true]})");
    first.unknown.set("alpha", "null");
    ImageConfig second = minimal_config();
    second.unknown.set("alpha", "null");
    second.unknown.set("zeta", R"({"x":[true],"y":1})");
    second.config.exposed_ports = {"80/tcp", "443/tcp"};
    second.config.labels = {{"a", "1"}, {"b", "2"}};
    EXPECT_EQ(first, second);
    const std::string bytes = to_json(first);
    EXPECT_EQ(bytes, to_json(second));
    EXPECT_EQ(digest_of(bytes, k_oci_config), digest_of(to_json(second), k_oci_config));
    EXPECT_THAT(bytes, HasSubstr(R"({"alpha":null,"architecture":"amd64","config":{)"
                                 R"("ExposedPorts":{"443/tcp":{},"80/tcp":{}},)"
                                 R"("Labels":{"a":"1","b":"2"}})"));
    EXPECT_THAT(bytes, HasSubstr(R"("zeta":{"x":[true],"y":1}})"));
}

TEST(ImageCanonicalTest, ModelFieldWinsOverUnknownSpellingOfTheSameKey) {
    ImageConfig config = parse_config(k_docker_hub_config_doc);
    config.config.user = "app";
    config.config.entrypoint = std::vector<std::string>{"/entry"};
    const std::string out = to_json(config);
    EXPECT_THAT(out, HasSubstr(R"("Entrypoint":["/entry"])"));
    EXPECT_THAT(out, HasSubstr(R"("User":"app")"));
    EXPECT_THAT(out, Not(HasSubstr(R"("User":"")")));
}

TEST(ImageConfigTest, EntrypointAbsentNullAndEmptyStayDistinct) {
    const std::string head = R"({"architecture":"amd64","config":{)";
    const std::string tail = R"(},"os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})";
    const ImageConfig absent = parse_config(head + tail);
    const ImageConfig null = parse_config(head + R"("Entrypoint":null)" + tail);
    const ImageConfig empty = parse_config(head + R"("Entrypoint":[])" + tail);
    EXPECT_FALSE(absent.config.entrypoint.has_value());
    EXPECT_FALSE(null.config.entrypoint.has_value());
    ASSERT_TRUE(empty.config.entrypoint.has_value());
    EXPECT_TRUE(empty.config.entrypoint->empty());
    EXPECT_EQ(to_json(absent), head + tail);
    EXPECT_EQ(to_json(null), head + R"("Entrypoint":null)" + tail);
    EXPECT_EQ(to_json(empty), head + R"("Entrypoint":[])" + tail);
    EXPECT_NE(absent, empty);
    EXPECT_TRUE(empty.config.unknown.empty());  // `[]` is held by the model, not kept aside
    ImageConfig built = minimal_config();
    built.config.entrypoint = std::vector<std::string>{};
    EXPECT_THAT(to_json(built), HasSubstr(R"("config":{"Entrypoint":[]})"));
}

TEST(ImageConfigTest, CmdNullVersusAbsentVersusSetWhenBuiltInCode) {
    ImageConfig config = minimal_config();
    EXPECT_THAT(to_json(config), Not(HasSubstr("Cmd")));
    config.config.cmd = std::vector<std::string>{};
    EXPECT_THAT(to_json(config), HasSubstr(R"("config":{"Cmd":[]})"));
    config.config.cmd = std::vector<std::string>{"nginx", "-g", "daemon off;"};
    EXPECT_THAT(to_json(config), HasSubstr(R"("config":{"Cmd":["nginx","-g","daemon off;"]})"));
    config.config.cmd.reset();
    config.config.env = {};
    EXPECT_THAT(to_json(config), HasSubstr(R"("config":{})"));
}

TEST(ImageConfigTest, HealthcheckDurationsAreNanoseconds) {
    const std::string doc =
        R"({"architecture":"amd64","config":{"Healthcheck":{"Interval":30000000000,"Retries":3,)"
        R"("StartInterval":5000000,"StartPeriod":0,)"
        R"("Test":["CMD-SHELL","curl -f http://localhost/ || exit 1"],"Timeout":5000000000}},)"
        R"("os":"linux","rootfs":{"diff_ids":[],"type":"layers"}})";
    const ImageConfig config = parse_config(doc);
    ASSERT_TRUE(config.config.healthcheck.has_value());
    const Healthcheck& check = *config.config.healthcheck;
    EXPECT_EQ(check.interval, seconds(30));
    EXPECT_EQ(check.timeout, seconds(5));
    EXPECT_EQ(check.start_period, nanoseconds(0));
    EXPECT_EQ(check.start_interval, std::chrono::milliseconds(5));
    EXPECT_EQ(check.retries, 3);
    EXPECT_THAT(check.test, ElementsAre("CMD-SHELL", "curl -f http://localhost/ || exit 1"));
    EXPECT_EQ(to_json(config), doc);  // the explicit zero StartPeriod is kept as spelled

    ImageConfig built = minimal_config();
    built.config.healthcheck = Healthcheck{.test = {"NONE"}, .timeout = std::chrono::minutes(1)};
    EXPECT_THAT(to_json(built),
                HasSubstr(R"("Healthcheck":{"Test":["NONE"],"Timeout":60000000000})"));
}

enum class Kind { manifest, index, config, descriptor };

struct Bad {
    const char* name;
    Kind kind;
    std::string doc;
    std::string message;  // a substring of what() that names the document, field and fault
};

void PrintTo(const Bad& c, std::ostream* out) { *out << c.name; }

void parse_as(Kind kind, const std::string& doc) {
    switch (kind) {
        case Kind::manifest: parse_manifest(doc); return;
        case Kind::index: parse_index(doc); return;
        case Kind::config: parse_config(doc); return;
        case Kind::descriptor: parse_descriptor(doc); return;
    }
}

std::string layer_json(const std::string& digest, const std::string& size = "1") {
    return R"({"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":")" + digest +
           R"(","size":)" + size + "}";
}

std::string manifest_json(const std::string& layers, const std::string& extra = "") {
    return R"({"schemaVersion":2,)" + extra + R"("config":)" + layer_json(k_d1) +
           R"(,"layers":[)" + layers + "]}";
}

std::string config_json(const std::string& execution, const std::string& rest = "") {
    return R"({"architecture":"amd64","os":"linux","config":)" + execution + rest +
           R"(,"rootfs":{"type":"layers","diff_ids":[]}})";
}

std::string rootfs_json(const std::string& rootfs) {
    return R"({"architecture":"amd64","os":"linux","rootfs":)" + rootfs + "}";
}

const std::string k_index_of_one = with_digests(
    R"({"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json",)"
    R"("digest":"$1","size":1,"platform":{"architecture":"amd64"}}]})");

const std::string k_docker_without_media_type = with_digests(
    R"({"schemaVersion":2,"layers":[],"config":)"
    R"({"mediaType":"application/vnd.docker.container.image.v1+json","digest":"$1","size":2}})");

const std::string k_index_media_type = R"("mediaType":"application/vnd.oci.image.index.v1+json",)";
const std::string k_manifest_media_type =
    R"("mediaType":"application/vnd.oci.image.manifest.v1+json",)";
const std::string k_deep = std::string(1500, '[') + std::string(1500, ']');

class ImageMalformedTest : public testing::TestWithParam<Bad> {};

TEST_P(ImageMalformedTest, RejectedWithAMessageNamingTheFault) {
    const Bad& c = GetParam();
    try {
        parse_as(c.kind, c.doc);
        FAIL() << "accepted: " << c.doc;
    } catch (const ImageFormatError& error) {
        EXPECT_THAT(error.what(), HasSubstr(c.message));
        EXPECT_THAT(error.what(), testing::StartsWith("invalid " + error.document() + ": "));
        if (!error.field().empty()) {
            EXPECT_THAT(c.message, HasSubstr("`" + error.field() + "`: "));
        }
    }
}

INSTANTIATE_TEST_SUITE_P(
    Documents, ImageMalformedTest,
    testing::Values(
        Bad{"NotJson", Kind::manifest, "{\"schemaVersion\":",
            "invalid image manifest: not valid JSON: "},
        Bad{"TrailingGarbage", Kind::descriptor, layer_json(k_d1) + " x",
            "invalid descriptor: not valid JSON"},
        Bad{"NotAnObject", Kind::manifest, "[]",
            "invalid image manifest: must be an object, not an array"},
        Bad{"BadLayerDigest", Kind::manifest,
            manifest_json(layer_json(k_d2) + "," + layer_json("sha256:12ab")),
            "invalid image manifest: `layers[1].digest`: invalid digest `sha256:12ab`: sha256 "},
        Bad{"DockerManifestWithoutMediaType", Kind::manifest, k_docker_without_media_type,
            "invalid image manifest: `mediaType`: missing; a Docker schema 2 manifest"},
        Bad{"SizeIsAString", Kind::manifest, manifest_json(layer_json(k_d2, "\"12\"")),
            "`layers[0].size`: must be an integer, not a string"},
        Bad{"NegativeSize", Kind::manifest, manifest_json(layer_json(k_d2, "-1")),
            "`layers[0].size`: must not be negative"},
        Bad{"FractionalSize", Kind::descriptor, layer_json(k_d2, "1.5"),
            "`size`: must be an integer, not 1.5"},
        Bad{"HugeSize", Kind::descriptor, layer_json(k_d2, "18446744073709551615"),
            "`size`: the number 18446744073709551615 does not fit"},
        Bad{"SchemaOne", Kind::manifest, R"({"schemaVersion":1,"name":"x"})",
            "`schemaVersion`: must be 2, not 1 (Docker schema 1"},
        Bad{"IndexMediaTypeAsManifest", Kind::manifest, manifest_json("", k_index_media_type),
            "`mediaType`: `application/vnd.oci.image.index.v1+json` is an index, not "},
        Bad{"IndexShapeAsManifest", Kind::manifest, k_index_of_one,
            "invalid image manifest: it has `manifests` and no `config`"},
        Bad{"MissingLayers", Kind::manifest, R"({"schemaVersion":2,"config":)" + layer_json(k_d1) +
            "}", "missing required member `layers`"},
        Bad{"ManifestAsIndex", Kind::index, manifest_json("", k_manifest_media_type),
            "invalid image index: `mediaType`: `application/vnd.oci.image.manifest.v1+json` is an "
            "image manifest, not "},
        Bad{"PlatformWithoutOs", Kind::index, k_index_of_one,
            "invalid image index: `manifests[0].platform`: missing required member `os`"},
        Bad{"DescriptorWithoutDigest", Kind::descriptor, R"({"mediaType":"a/b","size":1})",
            "invalid descriptor: missing required member `digest`"},
        Bad{"EnvIsANumber", Kind::config, config_json(R"({"Env":7})"),
            "invalid image config: `config.Env`: must be an array of strings, not a number"},
        Bad{"EnvElementIsANumber", Kind::config, config_json(R"({"Env":["A=1",2]})"),
            "`config.Env[1]`: must be a string, not a number"},
        Bad{"ArgsEscapedIsAString", Kind::config, config_json(R"({"ArgsEscaped":"y"})"),
            "`config.ArgsEscaped`: must be a boolean"},
        Bad{"ExposedPortValue", Kind::config, config_json(R"({"ExposedPorts":{"80/tcp":1}})"),
            "`config.ExposedPorts.80/tcp`: must be {}, not a number"},
        Bad{"LabelValue", Kind::config, config_json(R"({"Labels":{"a":[]}})"),
            "`config.Labels.a`: must be a string, not an array"},
        Bad{"HealthcheckIntervalText", Kind::config,
            config_json(R"({"Healthcheck":{"Interval":"30s"}})"),
            "`config.Healthcheck.Interval`: must be an integer, not a string"},
        Bad{"HistoryNotArray", Kind::config, config_json("{}", R"(,"history":{})"),
            "`history`: must be an array of objects, not an object"},
        Bad{"HistoryBadTime", Kind::config,
            config_json("{}", R"(,"history":[{"created":"yesterday"}])"),
            "`history[0].created`: `yesterday` is not an RFC 3339 time"},
        Bad{"MissingRootfs", Kind::config, R"({"architecture":"amd64","os":"linux"})",
            "invalid image config: missing required member `rootfs`"},
        Bad{"RootfsType", Kind::config, rootfs_json(R"({"type":"tar","diff_ids":[]})"),
            "`rootfs.type`: must be `layers`, not `tar`"},
        Bad{"BadDiffId", Kind::config, rootfs_json(R"({"type":"layers","diff_ids":["md5:0"]})"),
            "`rootfs.diff_ids[0]`: invalid digest `md5:0`: unsupported algorithm"},
        Bad{"TooDeep", Kind::config, config_json("{}", R"(,"x":)" + k_deep),
            "invalid image config: nested more than 1000 levels deep"}),
    [](const testing::TestParamInfo<Bad>& tested) { return std::string(tested.param.name); });

TEST(UnknownFieldsTest, SetGetEraseAndCompare) {
    UnknownFields fields;
    EXPECT_TRUE(fields.empty());
    fields.set("b", R"( { "z": 1, "a": "\u0026" } )");
    fields.set("a", "[1,2]");
    EXPECT_THAT(fields.names(), ElementsAre("a", "b"));
    EXPECT_EQ(fields.get("b"), R"({"a":"\u0026","z":1})");
    EXPECT_EQ(fields.get("missing"), std::nullopt);
    UnknownFields copy = fields;
    EXPECT_EQ(copy, fields);
    copy.erase("a");
    EXPECT_NE(copy, fields);
    copy.erase("b");
    EXPECT_TRUE(copy.empty());
    EXPECT_EQ(copy, UnknownFields{});
    EXPECT_THROW(fields.set("c", "{oops"), ImageFormatError);
}

TEST(DigestOfTest, DescribesBytesWithSha256AndSize) {
    const Descriptor empty = digest_of("", k_oci_empty);
    EXPECT_EQ(empty.digest.to_string(),
              "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    EXPECT_EQ(empty.size, 0);
    EXPECT_EQ(empty.media_type, k_oci_empty);
    EXPECT_EQ(digest_of("{}", k_oci_empty).size, 2);
}

class ImageMutateTest : public testing::Test {
protected:
    ImageManifest m_manifest = parse_manifest(k_docker_manifest_doc);
    ImageConfig m_config = parse_config(k_docker_hub_config_doc);
    Descriptor m_layer = digest_of("layer bytes", k_docker_layer_gzip);
    Digest m_diff_id = sha256_of("uncompressed layer bytes");
};

TEST_F(ImageMutateTest, AppendLayerKeepsLayersDiffIdsAndHistoryInStep) {
    const ImageManifest before_manifest = m_manifest;
    const ImageConfig before_config = m_config;
    const auto [manifest, config] =
        append_layer(m_manifest, m_config, m_layer, m_diff_id,
                     HistoryEntry{.created_by = "RUN make", .empty_layer = true});
    EXPECT_EQ(m_manifest, before_manifest);  // inputs untouched
    EXPECT_EQ(m_config, before_config);
    ASSERT_EQ(manifest.layers.size(), 3u);
    EXPECT_EQ(manifest.layers.back(), m_layer);
    ASSERT_EQ(config.rootfs.diff_ids.size(), 3u);
    EXPECT_EQ(config.rootfs.diff_ids.back(), m_diff_id);
    ASSERT_EQ(config.history.size(), 4u);
    EXPECT_EQ(config.history.back().created_by, "RUN make");
    EXPECT_FALSE(config.history.back().empty_layer);
    const Descriptor expected = digest_of(to_json(config), k_docker_config);
    EXPECT_EQ(manifest.config.digest, expected.digest);
    EXPECT_EQ(manifest.config.size, expected.size);
    EXPECT_EQ(manifest.config.media_type, k_docker_config);
}

TEST_F(ImageMutateTest, AppendLayerFillsMissingBaseHistoryAtTheBottom) {
    m_config.history.clear();
    const auto [manifest, config] = append_layer(m_manifest, m_config, m_layer, m_diff_id,
                                                 HistoryEntry{.created_by = "COPY . /app"});
    ASSERT_EQ(config.history.size(), 3u);
    EXPECT_EQ(config.history[0], HistoryEntry{});
    EXPECT_EQ(config.history[1], HistoryEntry{});
    EXPECT_EQ(config.history[2].created_by, "COPY . /app");
    EXPECT_EQ(manifest.layers.size(), config.rootfs.diff_ids.size());
}

TEST_F(ImageMutateTest, AppendLayerRefusesInconsistentImagesAndNonLayers) {
    EXPECT_THROW(append_layer(m_manifest, m_config, digest_of("{}", k_oci_config), m_diff_id, {}),
                 ImageFormatError);
    ImageConfig short_config = m_config;
    short_config.rootfs.diff_ids.pop_back();
    EXPECT_THROW(append_layer(m_manifest, short_config, m_layer, m_diff_id, {}), ImageFormatError);
    ImageConfig long_history = m_config;
    long_history.history.push_back(HistoryEntry{.created_by = "phantom"});
    EXPECT_THROW(append_layer(m_manifest, long_history, m_layer, m_diff_id, {}), ImageFormatError);
}

TEST_F(ImageMutateTest, AddHistoryRecordsAnEmptyLayerStep) {
    const ImageConfig config = add_history(m_config, HistoryEntry{.created_by = "ENV A=1"});
    ASSERT_EQ(config.history.size(), m_config.history.size() + 1);
    EXPECT_TRUE(config.history.back().empty_layer);
    EXPECT_EQ(config.rootfs.diff_ids, m_config.rootfs.diff_ids);
    const ImageManifest manifest = with_config(m_manifest, config);
    EXPECT_NE(manifest.config.digest, m_manifest.config.digest);
    EXPECT_EQ(manifest.config.digest, sha256_of(to_json(config)));
    EXPECT_EQ(manifest.layers, m_manifest.layers);
}

}  // namespace
}  // namespace cbuild::registry
