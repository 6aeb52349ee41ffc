#include "builder/copy/internal/tree_copy.h"

#include <map>
#include <vector>

#include "builder/copy/internal/go_path.h"
#include "parser/instructions.h"

namespace cbuild::builder::internal {

namespace {

using MatchInfo = parser::PatternMatcher::MatchInfo;

// A directory of the walk not yet written: with include or exclude patterns fsutil writes a
// directory only when it, or something below it, is copied (createParentDirs).
struct PendingDirectory {
    SourceEntry source;
    std::string target;
    bool written = false;
};

class TreeWalk {
public:
    TreeWalk(SourceFs& fs, const CopyRules& rules, LayerBuilder& out) : m_fs(fs), m_rules(rules), m_out(out) {
        if (rules.include) m_include_parts = include_components(*rules.include);
    }

    void walk(const std::string& source_dir, const std::string& relative_dir, const std::string& target_dir,
              const MatchInfo& include_info, const MatchInfo& exclude_info);

    void leaf(const SourceEntry& source, const std::string& target);

private:
    void write_pending();
    bool may_include_below(const std::string& relative) const;
    static std::optional<std::vector<std::string>> include_components(const parser::PatternMatcher& include);

    SourceFs& m_fs;
    const CopyRules& m_rules;
    LayerBuilder& m_out;
    std::vector<PendingDirectory> m_pending;
    std::map<InodeKey, std::string> m_links;  // source file → the image path it was first copied to
    std::optional<std::vector<std::string>> m_include_parts;  // for pruning; nullopt: cannot prune
};

// The components of a single include pattern when each can only ever match one path
// component (no `**`, no class that could match `/`); nullopt otherwise.
std::optional<std::vector<std::string>> TreeWalk::include_components(const parser::PatternMatcher& include) {
    const std::vector<std::string> patterns = include.patterns();
    if (patterns.size() != 1) return std::nullopt;
    const std::string& pattern = patterns.front();
    if (pattern.empty() || pattern.front() == '!' || pattern.find("**") != std::string::npos ||
        pattern.find('[') != std::string::npos)
        return std::nullopt;
    return split_path(pattern);
}

// Whether a directory that the include pattern does not match may hold paths it matches:
// BuildKit walks the whole source; skipping directories that cannot match changes nothing.
bool TreeWalk::may_include_below(const std::string& relative) const {
    if (!m_include_parts) return true;
    const std::vector<std::string> parts = split_path(relative);
    if (parts.size() >= m_include_parts->size()) return false;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        const std::optional<bool> matched = go_match((*m_include_parts)[i], parts[i]);
        if (matched && !*matched) return false;
    }
    return true;
}

void TreeWalk::write_pending() {
    for (PendingDirectory& directory : m_pending) {
        if (directory.written) continue;
        directory.written = true;
        if (const std::optional<LayerEntry> existing = m_out.at(directory.target);
            existing && existing->type == EntryType::directory) {
            // copyDirectoryOnly on an existing directory: only the source's mode is applied.
            LayerEntry updated = *existing;
            updated.mode = directory.source.entry.mode;
            m_out.put_directory(updated, ExistingMetadata::overwrite, ReplaceDirectory::no);
            continue;
        }
        m_out.put_directory(copied_entry(directory.source, directory.target, m_rules), ExistingMetadata::overwrite,
                            ReplaceDirectory::no);
    }
}

void TreeWalk::leaf(const SourceEntry& source, const std::string& target) {
    if (source.entry.type == EntryType::file && source.inode != InodeKey{0, 0}) {
        const auto [it, first] = m_links.try_emplace(source.inode, target);
        if (!first) {
            m_out.put_hardlink(target, it->second, ReplaceDirectory::no);
            return;
        }
    }
    m_out.put(copied_entry(source, target, m_rules), ReplaceDirectory::no);
}

void TreeWalk::walk(const std::string& source_dir, const std::string& relative_dir, const std::string& target_dir,
                    const MatchInfo& include_info, const MatchInfo& exclude_info) {
    for (const std::string& name : m_fs.list(source_dir)) {
        const std::string source_path = join_path(source_dir, name);
        const std::optional<SourceEntry> source = m_fs.lstat(source_path);
        if (!source) continue;
        const std::string relative = join_path(relative_dir, name);
        const std::string target = join_path(target_dir, name);
        const bool is_directory = source->entry.type == EntryType::directory;

        bool included = true;
        bool descend = true;
        MatchInfo child_include;
        MatchInfo child_exclude;
        if (m_rules.include) {
            parser::PatternMatcher::Match match = m_rules.include->match_using_parent(relative, include_info);
            included = match.excluded;  // "excluded" by an include pattern means selected
            child_include = std::move(match.info);
            if (!included && is_directory) descend = may_include_below(relative);
        }
        if (m_rules.exclude) {
            if (is_directory) {
                parser::PatternMatcher::DirectoryVisit visit =
                    m_rules.exclude->visit_directory(relative, exclude_info);
                if (visit.excluded) {
                    included = false;
                    descend = descend && visit.descend;
                }
                child_exclude = std::move(visit.info);
            } else if (m_rules.exclude->match_using_parent(relative, exclude_info).excluded) {
                included = false;
            }
        }

        if (!is_directory) {
            if (!included) continue;
            write_pending();
            leaf(*source, target);
            continue;
        }
        if (!included && !descend) continue;
        if (included) {
            write_pending();
            m_out.put_directory(copied_entry(*source, target, m_rules), ExistingMetadata::overwrite,
                                ReplaceDirectory::no);
        }
        m_pending.push_back({*source, target, included});
        if (descend) walk(source_path, relative, target, child_include, child_exclude);
        m_pending.pop_back();
    }
}

}  // namespace

LayerEntry copied_entry(const SourceEntry& source, const std::string& target, const CopyRules& rules) {
    LayerEntry entry = source.entry;
    entry.path = target;
    if (rules.owner) {
        entry.uid = rules.owner->uid;
        entry.gid = rules.owner->gid;
    }
    if (!rules.chmod.empty() && entry.type != EntryType::symlink)
        entry.mode = parser::apply_chmod(rules.chmod, entry.mode, entry.type == EntryType::directory);
    if (rules.mtime) {
        entry.mtime_seconds = *rules.mtime;
        entry.mtime_nanoseconds = 0;
    }
    return entry;
}

void copy_directory_contents(SourceFs& fs, const std::string& source_dir, const std::string& target_dir,
                             const CopyRules& rules, LayerBuilder& out) {
    TreeWalk walk(fs, rules, out);
    walk.walk(source_dir, "", target_dir, MatchInfo(), MatchInfo());
}

void copy_leaf(const SourceEntry& source, const std::string& target, const CopyRules& rules, LayerBuilder& out) {
    // A single file has no other name within what this copy reads: no hardlink to keep.
    out.put(copied_entry(source, target, rules), ReplaceDirectory::no);
}

}  // namespace cbuild::builder::internal
