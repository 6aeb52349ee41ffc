#include "builder/solve/internal/step_key.h"

#include <sys/stat.h>

#include <algorithm>
#include <map>
#include <set>

#include "common/error.h"

namespace cbuild::builder::internal {

namespace {

const char* type_name(EntryType type) {
    switch (type) {
    case EntryType::file: return "file";
    case EntryType::directory: return "dir";
    case EntryType::symlink: return "symlink";
    case EntryType::hardlink: return "hardlink";
    case EntryType::char_device: return "char";
    case EntryType::block_device: return "block";
    case EntryType::fifo: return "fifo";
    }
    return "?";
}

Digest content_digest(const LayerEntry& entry, cache::FileHashIndex& hashes) {
    if (entry.content.bytes) return sha256_of(*entry.content.bytes);
    if (entry.content.identity) return hashes.hash(entry.content.host_path, *entry.content.identity);
    struct stat info {};
    if (::lstat(entry.content.host_path.c_str(), &info) != 0) throw IoError(entry.content.host_path, "lstat", errno);
    return hashes.hash(entry.content.host_path, info);
}

// One file's line in a key: everything that ends up in the layer except its mtime. Fields are
// tab-separated and the path comes first, so lines sort by path and two lines are equal only
// when every field is. A regular file's content digest is kept in the entry for the layer
// writer.
std::string file_line(LayerEntry& entry, cache::FileHashIndex& hashes) {
    std::string line = entry.path + "\t" + type_name(entry.type) + "\t" + std::to_string(entry.mode) + "\t" +
                       std::to_string(entry.uid) + ":" + std::to_string(entry.gid);
    if (entry.type == EntryType::file) {
        entry.content.digest = content_digest(entry, hashes);
        line += "\t" + std::to_string(entry.size) + "\t" + entry.content.digest->to_string();
    } else if (entry.type == EntryType::symlink || entry.type == EntryType::hardlink) {
        line += "\t" + entry.link_target;
    } else if (entry.type == EntryType::char_device || entry.type == EntryType::block_device) {
        line += "\t" + std::to_string(entry.device_major) + "," + std::to_string(entry.device_minor);
    }
    if (!entry.xattrs.empty()) {
        Sha256 xattrs;
        for (const auto& [name, value] : entry.xattrs) {
            xattrs.update(std::to_string(name.size()) + ":" + name + std::to_string(value.size()) + ":");
            xattrs.update(value);
        }
        line += "\txattrs=" + xattrs.finish().hex();
    }
    return line;
}

StepKey finish(cache::CacheKeyBuilder inputs, std::vector<std::string> files = {}) {
    const Digest digest = inputs.finish();
    return StepKey{std::move(inputs), digest, std::move(files)};
}

std::string path_of(const std::string& line) { return line.substr(0, line.find('\t')); }

}  // namespace

Digest scratch_key(const Platform& platform) {
    return cache::CacheKeyBuilder().add("op", "scratch").add("platform", platform.to_string()).finish();
}

Digest image_key(const registry::Descriptor& manifest, const Platform& platform) {
    return cache::CacheKeyBuilder()
        .add("op", "image")
        .add("manifest", manifest.digest.to_string())
        .add("platform", platform.to_string())
        .finish();
}

StepKey copy_key(const Digest& parent, const std::string& instruction_text, const std::string& working_dir,
                 std::vector<LayerEntry>& entries, cache::FileHashIndex& hashes) {
    std::vector<std::string> files;
    files.reserve(entries.size());
    for (LayerEntry& entry : entries) files.push_back(file_line(entry, hashes));
    std::sort(files.begin(), files.end());
    Sha256 content;
    for (const std::string& line : files) {
        content.update(std::to_string(line.size()) + ":");
        content.update(line);
    }
    cache::CacheKeyBuilder inputs;
    inputs.add("op", "copy")
        .add("parent", parent.to_string())
        .add("instruction", instruction_text)
        .add("workdir", working_dir)
        .add("files", content.finish().to_string());
    return finish(std::move(inputs), std::move(files));
}

StepKey run_key(const Digest& parent, const std::vector<std::string>& args, const std::vector<std::string>& env,
                const std::string& user, const std::string& working_dir, const std::string& network_and_security,
                const std::vector<std::string>& mounts) {
    static const std::set<std::string> k_proxy = {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
                                                  "FTP_PROXY",  "ftp_proxy",  "NO_PROXY",    "no_proxy",
                                                  "ALL_PROXY",  "all_proxy"};
    std::vector<std::string> keyed_env;
    for (const std::string& entry : env)
        if (!k_proxy.count(entry.substr(0, entry.find('=')))) keyed_env.push_back(entry);
    cache::CacheKeyBuilder inputs;
    inputs.add("op", "run")
        .add("parent", parent.to_string())
        .add_list("args", args)
        .add_list("env", keyed_env)
        .add("user", user)
        .add("workdir", working_dir)
        .add("sandbox", network_and_security)
        .add_list("mounts", mounts);
    return finish(std::move(inputs));
}

StepKey workdir_key(const Digest& parent, const std::string& path, const std::string& user) {
    cache::CacheKeyBuilder inputs;
    inputs.add("op", "workdir").add("parent", parent.to_string()).add("path", path).add("user", user);
    return finish(std::move(inputs));
}

Digest context_path_digest(const std::filesystem::path& path, cache::FileHashIndex& hashes) {
    std::vector<std::string> lines;
    auto describe = [&](const std::filesystem::path& file, const std::string& relative) {
        struct stat info {};
        if (::lstat(file.c_str(), &info) != 0) throw IoError(file.string(), "lstat", errno);
        std::string line = relative + "\t" + std::to_string(info.st_mode) + "\t" + std::to_string(info.st_uid) + ":" +
                           std::to_string(info.st_gid);
        if (S_ISREG(info.st_mode)) line += "\t" + hashes.hash(file, info).to_string();
        if (S_ISLNK(info.st_mode)) line += "\t" + std::filesystem::read_symlink(file).string();
        lines.push_back(std::move(line));
        return S_ISDIR(info.st_mode);
    };
    if (describe(path, ".")) {
        for (auto it = std::filesystem::recursive_directory_iterator(path); it != std::filesystem::recursive_directory_iterator(); ++it)
            describe(it->path(), std::filesystem::relative(it->path(), path).string());
    }
    std::sort(lines.begin(), lines.end());
    Sha256 digest;
    for (const std::string& line : lines) {
        digest.update(std::to_string(line.size()) + ":");
        digest.update(line);
    }
    return digest.finish();
}

std::vector<std::string> miss_reasons(const cache::CacheKeyBuilder& before, const std::vector<std::string>& before_files,
                                      const StepKey& now) {
    std::vector<std::string> reasons;
    for (const std::string& line : cache::explain_difference(before, now.inputs)) {
        if (line.rfind("changed files:", 0) != 0) reasons.push_back(line);
    }
    std::map<std::string, const std::string*> old_files;
    for (const std::string& line : before_files) old_files[path_of(line)] = &line;
    std::size_t listed = 0;
    const std::size_t k_max_listed = 20;
    auto note = [&](const std::string& text) {
        if (listed++ < k_max_listed) reasons.push_back(text);
    };
    for (const std::string& line : now.files) {
        const auto it = old_files.find(path_of(line));
        if (it == old_files.end()) {
            note("file added: " + path_of(line));
        } else {
            if (*it->second != line) note("file changed: " + path_of(line));
            old_files.erase(it);
        }
    }
    for (const auto& [path, line] : old_files) note("file removed: " + path);
    if (listed > k_max_listed) reasons.push_back("… and " + std::to_string(listed - k_max_listed) + " more files");
    return reasons;
}

}  // namespace cbuild::builder::internal
