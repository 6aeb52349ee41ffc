#include "builder/export/export.h"

#include "common/error.h"

namespace cbuild::builder {

namespace {

// buildx splits `-o` values as CSV; values with commas are not needed for these keys.
std::vector<std::string> split_fields(std::string_view text) {
    std::vector<std::string> fields;
    std::size_t start = 0;
    while (start <= text.size()) {
        const std::size_t comma = text.find(',', start);
        const std::size_t end = comma == std::string_view::npos ? text.size() : comma;
        fields.emplace_back(text.substr(start, end - start));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    return fields;
}

}  // namespace

std::string_view export_type_name(ExportType type) {
    switch (type) {
    case ExportType::store: return "image";
    case ExportType::oci: return "oci";
    case ExportType::docker: return "docker";
    case ExportType::local: return "local";
    case ExportType::tar: return "tar";
    case ExportType::registry: return "registry";
    }
    return "image";
}

OutputSpec parse_output_spec(std::string_view text) {
    OutputSpec spec;
    if (text.find('=') == std::string_view::npos) {
        if (text.empty()) throw UsageError("empty --output");
        spec.request.type = ExportType::local;
        spec.request.dest = std::string(text);
        return spec;
    }
    bool has_type = false;
    for (const std::string& field : split_fields(text)) {
        const std::size_t equals = field.find('=');
        if (equals == std::string::npos)
            throw UsageError("invalid --output field `" + field + "` in `" + std::string(text) + "`: expected key=value");
        const std::string key = field.substr(0, equals);
        const std::string value = field.substr(equals + 1);
        if (key == "type") {
            has_type = true;
            if (value == "image") spec.request.type = ExportType::store;
            else if (value == "oci") spec.request.type = ExportType::oci;
            else if (value == "docker") spec.request.type = ExportType::docker;
            else if (value == "local") spec.request.type = ExportType::local;
            else if (value == "tar") spec.request.type = ExportType::tar;
            else if (value == "registry") spec.request.type = ExportType::registry;
            else
                throw UsageError("unsupported --output type `" + value + "` (image, oci, docker, local, tar)");
        } else if (key == "dest") {
            spec.request.dest = value;
        } else if (key == "name") {
            spec.request.names.push_back(value);
        } else if (key == "push" || key == "registry.insecure") {
            if (value != "true" && value != "false")
                throw UsageError("--output " + key + "=" + value + ": expected true or false");
            (key == "push" ? spec.request.push : spec.request.insecure) = value == "true";
        } else if (key == "compression" || key == "compression-level") {
            spec.options.emplace_back(key, value);
        } else if (key == "force-compression") {
            // Layers cbuild writes already use the chosen compression; recompressing the layers
            // of a base image is not implemented, and saying nothing would mislead.
            if (value != "false")
                throw UsageError("--output force-compression=true is not supported: cbuild does not recompress "
                                 "the layers of a base image");
        } else {
            throw UsageError("unsupported --output key `" + key + "` in `" + std::string(text) + "`");
        }
    }
    if (!has_type) throw UsageError("--output `" + std::string(text) + "` needs type=");
    if (spec.request.type == ExportType::registry) spec.request.push = true;
    if (spec.request.push && spec.request.type != ExportType::registry && spec.request.type != ExportType::store)
        throw UsageError("--output push=true goes with type=image or type=registry");
    if (spec.request.type != ExportType::store && spec.request.type != ExportType::registry && spec.request.dest.empty())
        throw UsageError("--output type=" + std::string(export_type_name(spec.request.type)) + " needs dest=");
    if ((spec.request.type == ExportType::store || spec.request.type == ExportType::registry) &&
        !spec.request.dest.empty())
        throw UsageError("--output type=" + std::string(export_type_name(spec.request.type)) + " takes no dest=");
    return spec;
}

}  // namespace cbuild::builder
