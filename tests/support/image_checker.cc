#include "tests/support/image_checker.h"

#include <archive.h>
#include <archive_entry.h>

#include <nlohmann/json.hpp>

#include "common/digest.h"
#include "tests/support/shared_data.h"

namespace cbuild::test {

namespace {

std::filesystem::path blob(const std::filesystem::path& layout, const std::string& digest) {
    const std::size_t colon = digest.find(':');
    return layout / "blobs" / digest.substr(0, colon) / digest.substr(colon + 1);
}

std::string sha256_file(const std::filesystem::path& path) {
    const std::string bytes = read_file(path);
    return sha256_of(bytes).to_string();
}

// The sha256 of the blob's bytes after decompression (gzip, zstd or none), through libarchive's
// raw format so no tar parsing gets in the way.
std::string uncompressed_sha256(const std::filesystem::path& path) {
    archive* reader = archive_read_new();
    archive_read_support_filter_all(reader);
    archive_read_support_format_raw(reader);
    Sha256 hasher;
    std::string result;
    if (archive_read_open_filename(reader, path.c_str(), 1 << 16) == ARCHIVE_OK) {
        archive_entry* entry = nullptr;
        if (archive_read_next_header(reader, &entry) == ARCHIVE_OK) {
            char buffer[1 << 16];
            la_ssize_t got;
            while ((got = archive_read_data(reader, buffer, sizeof buffer)) > 0)
                hasher.update(std::string_view(buffer, static_cast<std::size_t>(got)));
            if (got == 0) result = hasher.finish().to_string();
        } else {
            result = sha256_of("").to_string();  // an empty blob decompresses to nothing
        }
    }
    archive_read_free(reader);
    return result;
}

}  // namespace

std::string manifest_digest_in_layout(const std::filesystem::path& layout, const std::string& name) {
    const nlohmann::json index = nlohmann::json::parse(read_file(layout / "index.json"));
    for (const auto& entry : index.value("manifests", nlohmann::json::array())) {
        const auto annotations = entry.value("annotations", nlohmann::json::object());
        if (name.empty() || annotations.value("org.opencontainers.image.ref.name", "") == name)
            return entry.value("digest", "");
    }
    return "";
}

std::vector<std::string> check_image(const std::filesystem::path& layout, const std::string& manifest_digest) {
    std::vector<std::string> problems;
    const auto check_blob = [&](const std::string& what, const std::string& digest, std::int64_t size) {
        const std::filesystem::path path = blob(layout, digest);
        if (!std::filesystem::exists(path)) {
            problems.push_back(what + " " + digest + " is missing");
            return false;
        }
        if (sha256_file(path) != digest) problems.push_back(what + " " + digest + " does not hash to its name");
        if (size >= 0 && static_cast<std::int64_t>(std::filesystem::file_size(path)) != size)
            problems.push_back(what + " " + digest + " has size " + std::to_string(std::filesystem::file_size(path)) +
                               ", descriptor says " + std::to_string(size));
        return true;
    };
    if (!check_blob("manifest", manifest_digest, -1)) return problems;
    const nlohmann::json manifest = nlohmann::json::parse(read_file(blob(layout, manifest_digest)));
    if (manifest.value("schemaVersion", 0) != 2) problems.push_back("manifest schemaVersion is not 2");
    const std::string manifest_type = manifest.value("mediaType", "");
    const bool oci = manifest_type == "application/vnd.oci.image.manifest.v1+json";
    if (!oci && manifest_type != "application/vnd.docker.distribution.manifest.v2+json")
        problems.push_back("unexpected manifest media type `" + manifest_type + "`");
    const auto& config_descriptor = manifest["config"];
    const std::string config_digest = config_descriptor.value("digest", "");
    if (config_descriptor.value("mediaType", "") !=
        (oci ? "application/vnd.oci.image.config.v1+json" : "application/vnd.docker.container.image.v1+json"))
        problems.push_back("config media type `" + config_descriptor.value("mediaType", "") + "`");
    if (!check_blob("config", config_digest, config_descriptor.value("size", std::int64_t{-2}))) return problems;
    const nlohmann::json config = nlohmann::json::parse(read_file(blob(layout, config_digest)));
    const auto diff_ids = config["rootfs"].value("diff_ids", nlohmann::json::array());
    const auto layers = manifest.value("layers", nlohmann::json::array());
    if (diff_ids.size() != layers.size())
        problems.push_back(std::to_string(layers.size()) + " layers but " + std::to_string(diff_ids.size()) + " diff_ids");
    // History is optional in OCI; when present, its layer entries match the layers.
    const auto history = config.value("history", nlohmann::json::array());
    std::size_t non_empty_history = 0;
    for (const auto& entry : history)
        if (!entry.value("empty_layer", false)) ++non_empty_history;
    if (!history.empty() && non_empty_history != layers.size())
        problems.push_back(std::to_string(non_empty_history) + " non-empty history entries for " +
                           std::to_string(layers.size()) + " layers");
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const std::string digest = layers[i].value("digest", "");
        const std::string type = layers[i].value("mediaType", "");
        if (type.find("layer") == std::string::npos) problems.push_back("layer " + digest + " media type `" + type + "`");
        if (!check_blob("layer", digest, layers[i].value("size", std::int64_t{-2}))) continue;
        if (i < diff_ids.size() && uncompressed_sha256(blob(layout, digest)) != diff_ids[i].get<std::string>())
            problems.push_back("layer " + digest + " does not decompress to diff_id " + diff_ids[i].get<std::string>());
    }
    return problems;
}

}  // namespace cbuild::test
