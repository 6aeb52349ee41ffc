// WORKDIR: BuildKit sets the working directory and makes it with `mkdir -p` owned by the
// stage's USER, as a layer of its own (dispatchWorkdir).

#include <sstream>

#include "builder/snapshot/internal/image_path.h"
#include "builder/solve/internal/stage_image.h"
#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

// A numeric id, or the id of `name` in the colon-separated database `file` of the tree.
std::optional<std::uint32_t> lookup_id(const FileTree& tree, const std::string& file, const std::string& name,
                                       std::uint32_t* primary_group) {
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos && name.size() <= 10)
        return static_cast<std::uint32_t>(std::stoul(name));
    const auto content = tree.read_file(file, 4 << 20);
    if (!content) return std::nullopt;
    std::istringstream lines(*content);
    for (std::string line; std::getline(lines, line);) {
        std::vector<std::string> fields;
        std::istringstream in(line);
        for (std::string field; std::getline(in, field, ':');) fields.push_back(field);
        if (fields.size() < 3 || fields[0] != name) continue;
        try {
            if (primary_group && fields.size() >= 4) *primary_group = static_cast<std::uint32_t>(std::stoul(fields[3]));
            return static_cast<std::uint32_t>(std::stoul(fields[2]));
        } catch (const std::exception&) {
            return std::nullopt;
        }
    }
    return std::nullopt;
}

}  // namespace

// path.Join("/", base, path) for a relative WORKDIR, then cleaned.
std::string workdir_path(const std::string& current, const std::string& path) {
    return "/" + clamp_path(!path.empty() && path[0] == '/' ? path : current + "/" + path);
}

std::vector<LayerEntry> apply_workdir(StageImage& image, const parser::WorkdirInstruction& workdir,
                                      const BuildTime& time) {
    const std::string path = workdir_path(image.config.config.working_dir, workdir.path);
    image.config.config.working_dir = path;
    std::vector<LayerEntry> created;
    if (path == "/") {
        image.config.history.push_back(history_entry("WORKDIR " + path, true, time));
        return created;
    }
    std::uint32_t uid = 0, gid = 0;
    if (const std::string& user = image.config.config.user; !user.empty()) {
        const std::size_t colon = user.find(':');
        const std::string name = user.substr(0, colon);
        std::uint32_t primary = 0;
        const auto found_uid = lookup_id(image.tree, "etc/passwd", name, &primary);
        if (!found_uid) throw Error("WORKDIR " + path + ": unable to find user `" + name + "` in /etc/passwd");
        uid = *found_uid;
        gid = primary;
        if (colon != std::string::npos) {
            const auto found_gid = lookup_id(image.tree, "etc/group", user.substr(colon + 1), nullptr);
            if (!found_gid) throw Error("WORKDIR " + path + ": unable to find group `" + user.substr(colon + 1) + "` in /etc/group");
            gid = *found_gid;
        }
    }
    // mkdir -p: only the missing components, resolved through symlinks inside the image.
    std::string prefix;
    std::istringstream in(path.substr(1));
    for (std::string part; std::getline(in, part, '/');) {
        prefix += (prefix.empty() ? "" : "/") + part;
        const std::string resolved = image.tree.resolve(prefix, FollowSymlink::yes);
        if (const auto existing = image.tree.lookup(resolved)) {
            if (existing->type != EntryType::directory)
                throw Error("WORKDIR " + path + ": `/" + resolved + "` exists and is not a directory");
            prefix = resolved;
            continue;
        }
        LayerEntry directory;
        directory.path = resolved;
        directory.type = EntryType::directory;
        directory.mode = 0755;
        directory.uid = uid;
        directory.gid = gid;
        directory.mtime_seconds = time.seconds;
        directory.mtime_nanoseconds = time.nanoseconds;
        created.push_back(directory);
        image.tree.apply({directory});
        prefix = resolved;
    }
    // BuildKit commits a layer for every WORKDIR but `/`, empty when the directory exists.
    image.config.history.push_back(history_entry("WORKDIR " + path, false, time));
    return created;
}

}  // namespace cbuild::builder::internal
