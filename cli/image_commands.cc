// `cbuild images`, `inspect REF`, `tag SRC DST`, `rm REF...`: the local store's tags.

#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

#include "builder/export/export.h"
#include "builder/solve/solve.h"
#include "cache/content_store.h"
#include "cli/commands.h"
#include "cli/human_size.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

// Checks that `arguments` holds `count` operands and no options (any count when `count` is
// npos). Returns false after printing `usage` for --help.
bool check_arguments(const Arguments& arguments, std::size_t count, const char* usage) {
    for (const std::string& argument : arguments) {
        if (argument == "--help" || argument == "-h") {
            std::cout << usage;
            return false;
        }
        if (!argument.empty() && argument[0] == '-') throw UsageError("unknown option `" + argument + "`\n" + usage);
    }
    if (count != std::string::npos && arguments.size() != count)
        throw UsageError(std::string("wrong number of arguments\n") + usage);
    return true;
}

cache::TagEntry resolve(const cache::ContentStore& store, const std::string& name) {
    if (auto entry = store.resolve(name)) return *entry;
    if (auto entry = store.resolve(builder::store_tag_name(name))) return *entry;
    throw Error("no such image: `" + name + "`");
}

// As `docker images` prints sizes.
std::string human_size(std::uint64_t bytes) { return cli::human_size(bytes, "%.3g"); }

}  // namespace

int run_images(const Arguments& arguments, const GlobalOptions& globals) {
    if (!check_arguments(arguments, 0,
                         "Usage: cbuild images\n\nList the images in the local store.\n\n"
                         "Options:\n  -h [ --help ]         Print this help\n"))
        return 0;
    const cache::ContentStore store(globals.store_root());
    std::printf("%-40s %-16s %-14s %s\n", "REPOSITORY", "TAG", "DIGEST", "SIZE");
    for (const cache::TagEntry& entry : store.list_tags()) {
        const std::size_t colon = entry.name.rfind(':');
        const bool has_tag = colon != std::string::npos && entry.name.find('/', colon) == std::string::npos;
        std::uint64_t size = entry.size;
        if (const auto manifest = store.read_blob(entry.digest, 4 << 20);
            manifest && registry::is_manifest(entry.media_type)) {
            const registry::ImageManifest parsed = registry::parse_manifest(*manifest);
            size += static_cast<std::uint64_t>(parsed.config.size);
            for (const registry::Descriptor& layer : parsed.layers) size += static_cast<std::uint64_t>(layer.size);
        }
        std::printf("%-40s %-16s %-14s %s\n", (has_tag ? entry.name.substr(0, colon) : entry.name).c_str(),
                    has_tag ? entry.name.substr(colon + 1).c_str() : "<none>", entry.digest.hex().substr(0, 12).c_str(),
                    human_size(size).c_str());
    }
    return 0;
}

int run_inspect(const Arguments& arguments, const GlobalOptions& globals) {
    if (!check_arguments(arguments, 1, "Usage: cbuild inspect REF\n\nPrint an image's manifest and config as JSON.\n\nOptions:\n  -h [ --help ]         Print this help\n"))
        return 0;
    const cache::ContentStore store(globals.store_root());
    const cache::TagEntry entry = resolve(store, arguments[0]);
    const auto manifest = store.read_blob(entry.digest, 4 << 20);
    if (!manifest) throw Error("image `" + arguments[0] + "`: manifest " + entry.digest.to_string() + " is missing");
    nlohmann::json out = {{"Name", entry.name}, {"Digest", entry.digest.to_string()}, {"MediaType", entry.media_type},
                          {"Manifest", nlohmann::json::parse(*manifest)}};
    if (registry::is_manifest(entry.media_type)) {
        const registry::ImageManifest parsed = registry::parse_manifest(*manifest);
        if (const auto config = store.read_blob(parsed.config.digest, 4 << 20))
            out["Config"] = nlohmann::json::parse(*config);
    }
    std::cout << out.dump(2) << "\n";
    return 0;
}

int run_tag(const Arguments& arguments, const GlobalOptions& globals) {
    if (!check_arguments(arguments, 2, "Usage: cbuild tag SOURCE TARGET\n\nGive an image in the local store another name.\n\nOptions:\n  -h [ --help ]         Print this help\n"))
        return 0;
    cache::ContentStore store(globals.store_root());
    cache::TagEntry entry = resolve(store, arguments[0]);
    entry.name = builder::store_tag_name(arguments[1]);
    store.set_tag(entry);
    return 0;
}

int run_rm(const Arguments& arguments, const GlobalOptions& globals) {
    if (!check_arguments(arguments, std::string::npos,
                         "Usage: cbuild rm REF [REF...]\n\nRemove names from the local store.\n\nOptions:\n  -h [ --help ]         Print this help\n"))
        return 0;
    if (arguments.empty()) throw UsageError("`cbuild rm` needs at least one REF");
    cache::ContentStore store(globals.store_root());
    for (const std::string& name : arguments) {
        const cache::TagEntry entry = resolve(store, name);
        store.remove_tag(entry.name);
        std::cout << "Untagged: " << entry.name << "\n";
    }
    return 0;
}

}  // namespace cbuild::cli
