#include "builder/copy/copy.h"

#include <time.h>

#include <memory>

#include "builder/copy/internal/archive.h"
#include "builder/copy/internal/go_path.h"
#include "builder/copy/internal/layer_builder.h"
#include "builder/copy/internal/owner.h"
#include "builder/copy/internal/source_fs.h"
#include "builder/copy/internal/tree_copy.h"

namespace cbuild::builder {

CopyError::CopyError(std::string path, const std::string& message)
    : Error("`" + path + "`: " + message), m_path(std::move(path)) {}

CopyRequest copy_request(const parser::CopyInstruction& copy) {
    CopyRequest request;
    request.kind = CopyKind::copy;
    request.sources = copy.files.source_paths;
    request.inline_files = copy.files.source_contents;
    request.dest = copy.files.dest;
    request.chown = copy.chown;
    request.chmod = copy.chmod;
    request.excludes = copy.excludes;
    request.parents = copy.parents;
    request.link = copy.link;
    return request;
}

CopyRequest copy_request(const parser::AddInstruction& add) {
    CopyRequest request;
    request.kind = CopyKind::add;
    request.sources = add.files.source_paths;
    request.inline_files = add.files.source_contents;
    request.dest = add.files.dest;
    request.chown = add.chown;
    request.chmod = add.chmod;
    request.excludes = add.excludes;
    request.link = add.link;
    request.unpack = add.unpack;
    request.checksum = add.checksum;
    return request;
}

std::string copy_history(const CopyRequest& request, bool is_add) {
    // dispatchCopy's commit message: flags that change the result, sources, heredocs, dest.
    std::string out = is_add ? "ADD" : "COPY";
    if (request.parents) out += " --parents";
    if (!request.chown.empty()) out += " --chown=" + request.chown;
    if (!request.chmod.empty()) out += " --chmod=" + request.chmod;
    for (const std::string& source : request.sources) out += " " + source;
    for (const parser::InlineFile& file : request.inline_files) out += " <<" + file.name;
    return out + " " + request.dest;
}

CopySource CopySource::context(std::filesystem::path directory, parser::PatternMatcher ignore) {
    CopySource source;
    source.m_directory = std::move(directory);
    source.m_ignore = std::move(ignore);
    return source;
}

CopySource CopySource::tree(FileTree tree) {
    CopySource source;
    source.m_tree = std::move(tree);
    return source;
}

namespace {

using internal::LayerBuilder;
using internal::SourceEntry;

bool starts_with(const std::string& text, std::string_view prefix) { return text.rfind(prefix, 0) == 0; }

bool is_url(const std::string& source) {
    return starts_with(source, "http://") || starts_with(source, "https://");
}

// What dfgitutil.ParseGitRef takes for a repository rather than a local path.
bool is_git(const std::string& source) {
    if (starts_with(source, "git@") || starts_with(source, "git://") || starts_with(source, "ssh://")) return true;
    if (!is_url(source)) return false;
    const std::string path = source.substr(0, source.find('#'));
    return path.size() > 4 && path.compare(path.size() - 4, 4, ".git") == 0;
}

CopyTime now() {
    timespec time{};
    clock_gettime(CLOCK_REALTIME, &time);
    return {time.tv_sec, static_cast<std::uint32_t>(time.tv_nsec)};
}

std::string shown(const std::string& path) { return "/" + path; }

// One thing to copy: a source after wildcards and symlinks, or a heredoc.
struct Item {
    SourceEntry source;                                     // source.entry.path is the resolved source path
    std::string name;                                       // the name it takes inside a destination directory
    std::string display;                                    // how messages name it
    std::shared_ptr<const parser::PatternMatcher> include;  // --parents
    bool may_unpack = false;
};

class Copier {
public:
    Copier(const CopyRequest& request, const CopySource& source, const FileTree& destination,
           const std::filesystem::path& scratch)
        : m_request(request),
          m_scratch(scratch),
          // --link (without --chmod, as dispatchCopy) copies onto scratch and merges the result.
          m_out(request.link && request.chmod.empty() ? FileTree() : destination) {
        if (source.is_context())
            m_fs = std::make_unique<internal::ContextFs>(source.directory(), source.ignore());
        else
            m_fs = std::make_unique<internal::TreeFs>(source.source_tree());
        m_context = source.is_context();
        m_rules.owner = internal::resolve_owner(request.chown, destination);
        // apply_chmod trusts its input; a value the parser could not check (it held a `$`) is
        // checked here, once expanded.
        if (!request.chmod.empty())
            if (const std::optional<std::string> error = parser::check_chmod(request.chmod))
                throw CopyError("--chmod=" + request.chmod, *error);
        m_rules.chmod = request.chmod;
        m_rules.mtime = request.source_date_epoch;
        if (!request.excludes.empty()) {
            m_exclude = std::make_unique<parser::PatternMatcher>(request.excludes);
            m_rules.exclude = m_exclude.get();
        }
        const CopyTime created = request.source_date_epoch ? CopyTime{*request.source_date_epoch, 0}
                                                           : request.created_time.value_or(now());
        m_created_directory.type = EntryType::directory;
        m_created_directory.mode = 0755;
        m_created_directory.mtime_seconds = created.seconds;
        m_created_directory.mtime_nanoseconds = created.nanoseconds;
        m_implied_directory = m_created_directory;
        if (m_rules.owner) {
            m_created_directory.uid = m_rules.owner->uid;
            m_created_directory.gid = m_rules.owner->gid;
        }
    }

    std::vector<LayerEntry> run();

private:
    void reject_remote_sources() const;
    std::string clean_source(const std::string& source) const;
    SourceEntry find(const std::string& path, const std::string& display) const;
    void add_items(const std::string& source, std::vector<Item>& items) const;
    void add_parents_items(const std::string& source, std::vector<Item>& items) const;
    Item inline_item(const parser::InlineFile& file) const;
    void copy(const Item& item, const std::string& dest, bool dest_is_directory);

    const CopyRequest& m_request;
    const std::filesystem::path& m_scratch;
    std::unique_ptr<internal::SourceFs> m_fs;
    bool m_context = true;
    LayerBuilder m_out;
    internal::CopyRules m_rules;
    std::unique_ptr<parser::PatternMatcher> m_exclude;
    LayerEntry m_created_directory;  // what MkdirAll makes: 0755, --chown, the creation time
    LayerEntry m_implied_directory;  // parents an archive's members need: 0755, 0:0
};

void Copier::reject_remote_sources() const {
    for (const std::string& source : m_request.sources) {
        const bool git = is_git(source);
        if (!git && !is_url(source)) continue;
        if (m_request.kind == CopyKind::copy)
            throw CopyError(source, git ? "source can't be a git ref for COPY" : "source can't be a URL for COPY");
        throw CopyError(source, git ? "ADD from a git repository is not supported yet"
                                    : "ADD from a URL is not supported yet");
    }
    if (!m_request.checksum.empty())
        throw CopyError(m_request.checksum, "--checksum requires HTTP(S) or Git sources");
}

// Relative to the source root ("/x" is "x"); `..` may not climb out of it.
std::string Copier::clean_source(const std::string& source) const {
    const std::optional<std::string> clean = internal::clean_relative(source);
    if (!clean)
        throw CopyError(source, m_context ? "forbidden path outside the build context"
                                          : "forbidden path outside the source filesystem");
    return *clean;
}

// The source at `path`, its symlinks followed inside the source root.
SourceEntry Copier::find(const std::string& path, const std::string& display) const {
    const std::string resolved = internal::resolve_source(*m_fs, path, FollowSymlink::yes);
    std::optional<SourceEntry> found = m_fs->lstat(resolved);
    if (!found) throw CopyError(display, "not found");
    return std::move(*found);
}

void Copier::add_items(const std::string& source, std::vector<Item>& items) const {
    const std::string path = clean_source(source);
    const bool wildcard = internal::has_wildcards(path);
    const std::vector<std::string> matches =
        wildcard ? internal::expand_wildcards(*m_fs, path, shown(path)) : std::vector<std::string>{path};
    for (const std::string& match : matches) {
        const std::string name = internal::base_name(match);
        // The reference filters wildcard matches too (`COPY --exclude=*.txt hom* /mydir/`).
        if (wildcard && m_exclude && m_exclude->match_using_parent(name, {}).excluded) continue;
        Item item;
        item.source = find(match, shown(match));
        item.name = name;
        item.display = shown(match);
        item.may_unpack = true;
        items.push_back(std::move(item));
    }
}

// --parents: the part before a `/./` (the whole context without one) is what is copied, the
// rest a pattern selecting what below it keeps its path (dispatchCopy's IncludePatterns).
void Copier::add_parents_items(const std::string& source, std::vector<Item>& items) const {
    const std::size_t pivot = source.find("/./");
    const std::string root = clean_source(pivot == std::string::npos ? "/" : source.substr(0, pivot));
    const std::string pattern =
        internal::clamp_path(pivot == std::string::npos ? source : source.substr(pivot + 3));
    if (!internal::has_wildcards(root) && !internal::has_wildcards(pattern)) {
        const std::string required = internal::join_path(root, pattern);
        find(required, shown(required));
    }
    std::shared_ptr<const parser::PatternMatcher> include;
    if (!pattern.empty())
        include = std::make_shared<const parser::PatternMatcher>(std::vector<std::string>{pattern});
    const std::vector<std::string> roots = internal::has_wildcards(root)
                                               ? internal::expand_wildcards(*m_fs, root, shown(root))
                                               : std::vector<std::string>{root};
    for (const std::string& match : roots) {
        Item item;
        item.source = find(match, shown(match));
        item.name = internal::base_name(match);
        item.display = shown(match);
        item.include = include;
        items.push_back(std::move(item));
    }
}

// A heredoc is a file BuildKit makes with Mkfile(name, 0644) before copying it.
Item Copier::inline_item(const parser::InlineFile& file) const {
    Item item;
    LayerEntry& entry = item.source.entry;
    entry.path = file.name;
    entry.type = EntryType::file;
    entry.mode = 0644;
    entry.mtime_seconds = m_implied_directory.mtime_seconds;
    entry.mtime_nanoseconds = m_implied_directory.mtime_nanoseconds;
    auto bytes = std::make_shared<const std::string>(file.content());
    entry.size = bytes->size();
    entry.content.bytes = std::move(bytes);
    item.name = internal::base_name(file.name);
    item.display = "<<" + file.name;
    return item;
}

// fsutil's Copy for one source: make the destination's parents (or the destination itself when
// it must be a directory), then a file goes to the destination or inside it when it is a
// directory, and a directory's contents go into the destination.
void Copier::copy(const Item& item, const std::string& dest, bool dest_is_directory) {
    const LayerEntry& source = item.source.entry;
    if (item.may_unpack && m_request.kind == CopyKind::add && m_request.unpack.value_or(true) &&
        source.type == EntryType::file && internal::is_archive(source.content)) {
        const std::string root = m_out.tree().resolve(dest, FollowSymlink::yes);
        m_out.make_directories(root, m_created_directory);
        internal::unpack_archive(source.content, item.display, root, {m_rules.owner, m_implied_directory},
                                 m_scratch, m_out);
        return;
    }
    const std::string ensure = dest_is_directory ? dest : internal::parent_path(dest);
    m_out.make_directories(m_out.tree().resolve(ensure, FollowSymlink::yes), m_created_directory);
    std::string target = m_out.tree().resolve(dest, FollowSymlink::yes);
    const std::optional<LayerEntry> existing = m_out.at(target);
    if (source.type != EntryType::directory) {
        if (existing && existing->type == EntryType::directory) target = internal::join_path(target, item.name);
        internal::copy_leaf(item.source, target, m_rules, m_out);
        return;
    }
    if (!existing) {
        m_out.make_directories(target, m_created_directory);
    } else if (existing->type != EntryType::directory) {
        throw CopyError(shown(target), "cannot copy a directory onto a non-directory");
    }
    internal::CopyRules rules = m_rules;
    rules.include = item.include.get();
    internal::copy_directory_contents(*m_fs, source.path, target, rules, m_out);
}

std::vector<LayerEntry> Copier::run() {
    reject_remote_sources();
    // pathRelativeToWorkingDir: a trailing `/` (or `/.`, or `.`) marks a directory.
    const std::string& written = m_request.dest;
    bool dest_is_directory = written.empty() || written == "." || written.back() == '/' ||
                             (written.size() >= 2 && written.compare(written.size() - 2, 2, "/.") == 0);
    const std::string dest = internal::clamp_path(
        !written.empty() && written.front() == '/' ? written : m_request.working_dir + "/" + written);
    if (dest.empty()) dest_is_directory = true;

    std::vector<Item> items;
    for (const std::string& source : m_request.sources) {
        if (m_request.parents)
            add_parents_items(source, items);
        else
            add_items(source, items);
    }
    for (const parser::InlineFile& file : m_request.inline_files) items.push_back(inline_item(file));
    if (m_request.sources.size() + m_request.inline_files.size() > 1 || items.size() > 1) dest_is_directory = true;
    for (const Item& item : items) copy(item, dest, dest_is_directory);
    return m_out.finish();
}

}  // namespace

std::vector<LayerEntry> resolve_copy(const CopyRequest& request, const CopySource& source,
                                     const FileTree& destination, const std::filesystem::path& scratch_dir) {
    try {
        return Copier(request, source, destination, scratch_dir).run();
    } catch (const FileTreeError& error) {
        throw CopyError(request.dest, error.what());
    } catch (const parser::PatternError& error) {
        throw CopyError(request.excludes.empty() ? ".dockerignore" : "--exclude", error.what());
    }
}

}  // namespace cbuild::builder
