#pragma once
// Where a finished image goes: the local store under its tags (the default), an OCI layout
// tarball, a tarball `docker load` reads, the final root filesystem as a directory, or that
// filesystem as one tar.

#include <string>
#include <string_view>
#include <vector>

#include "builder/solve/solve.h"
#include "cache/content_store.h"

namespace cbuild::builder {

enum class ExportType { store, oci, docker, local, tar, registry };

struct ExportRequest {
    ExportType type = ExportType::store;
    std::string dest;  // file (oci, docker, tar; "-" is stdout) or directory (local)
    bool push = false;  // type=registry, or type=image,push=true, or --push
    std::vector<std::string> names;  // `name=` (else the -t tags)
    bool insecure = false;           // registry.insecure=true
};

// Parses buildx's `-o` value: `type=oci,dest=out.tar`, `type=local,dest=dir`,
// `type=registry[,name=REF][,registry.insecure=true]`, `type=image,push=true`, or a bare path
// (`-o dir` means type=local). Compression keys (`compression=zstd`, `compression-level=3`) are
// returned in `options` for the caller; `force-compression=true` is rejected. Throws cbuild::UsageError
// for an unknown type, a missing dest where one is needed, or an unknown key.
struct OutputSpec {
    ExportRequest request;
    std::vector<std::pair<std::string, std::string>> options;
};
OutputSpec parse_output_spec(std::string_view text);

std::string_view export_type_name(ExportType type);

// The names a tag is stored under: Docker's familiar form (`repo/img:0.1`, `ubuntu:latest`).
// Throws cbuild::UsageError for an invalid reference.
std::string store_tag_name(const std::string& tag);

// Tags the built image (already in the store) under every name.
void tag_image(cache::ContentStore& store, const BuiltImage& image, const std::vector<std::string>& tags);

// Writes the image as `request` says (store: nothing beyond tag_image). Files are written
// atomically: a failure leaves no partial output. `tags` name the image inside the tarballs.
// Throws IoError naming the destination, cbuild::Error for a blob missing from the store.
void export_image(const cache::ContentStore& store, const BuiltImage& image, const ExportRequest& request,
                  const std::vector<std::string>& tags, std::optional<std::int64_t> source_date_epoch);

}  // namespace cbuild::builder
