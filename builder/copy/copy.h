#pragma once
// COPY and ADD without a daemon: one instruction (already expanded by the planner), its source
// (the build context or another stage's filesystem) and the destination stage's filesystem in,
// the entries of the new layer out, with BuildKit's rules (dockerfile2llb's dispatchCopy, the
// file op's copy and fsutil's copier, and ADD's archive unpacking).
//
// The entries are the layer as BuildKit's snapshot differ would see it: every path the copy
// creates or overwrites (parents it had to create included, existing parents not), one entry
// per path, hardlinks named by image path. Regular files point at their bytes: a file of the
// context, a file of the source tree, or a file written into the scratch directory (members of
// an ADD archive); those must stay in place until the layer is written.
//
// Metadata: modes, mtimes, symlinks and hardlinks (within one source) come from the source;
// context files are owned by 0:0 (BuildKit resets the context's owners), stage files keep
// theirs. --chown (numbers, or names from the destination's /etc/passwd and /etc/group) and
// --chmod apply to everything copied; the directories the copy has to create are 0755, owned
// by --chown's user (or 0:0), with created_time. ADD unpacks a local tar archive (gzip, bzip2,
// xz or zstd, detected by content) into the destination, members keeping their modes and
// mtimes and their owners unless --chown; see internal/archive.h for how member names are
// kept inside the image.
//
// Deliberate differences from BuildKit (each a known bug report or an explicit choice):
//   - a source leaving the context (`../x`) is an error, as the Dockerfile reference says;
//     BuildKit silently reads `x` of the context root;
//   - several sources (or a wildcard matching several) make the destination a directory even
//     without a trailing `/`; BuildKit overwrites one destination file with each
//     (moby/buildkit#1853, #4550), the classic builder refuses;
//   - `--exclude` also filters what a wildcard matches at the top (the reference's
//     `COPY --exclude=*.txt hom* /mydir/`); BuildKit only filters below (moby/buildkit#5489);
//   - `--chown` with an unknown user or group name is an error naming it and the file searched;
//     BuildKit silently uses 0;
//   - a malformed wildcard is an error; BuildKit matches nothing;
//   - extended attributes of context files are not copied (BuildKit copies the host's).
// `--link` (without `--chmod`, as BuildKit) copies onto an empty filesystem, as BuildKit's
// merge op does: the destination does not follow the image's symlinks and every parent is an
// entry of the layer; user names for `--chown` are still looked up in the stage's files.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "builder/snapshot/file_tree.h"
#include "builder/snapshot/layer_entry.h"
#include "common/error.h"
#include "parser/dockerignore.h"
#include "parser/instructions.h"

namespace cbuild::builder {

// A COPY/ADD that cannot be done: a missing source, a path leaving the context, an unknown
// user, a corrupt archive, a file where a directory is needed. The message names the source or
// image path in backticks; the caller adds the Dockerfile line.
class CopyError : public Error {
public:
    CopyError(std::string path, const std::string& message);

    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

enum class CopyKind { copy, add };

struct CopyTime {
    std::int64_t seconds = 0;
    std::uint32_t nanoseconds = 0;
};

// One COPY or ADD, its words expanded.
struct CopyRequest {
    CopyKind kind = CopyKind::copy;
    std::vector<std::string> sources;              // as written: relative to the source root
    std::vector<parser::InlineFile> inline_files;  // heredocs, bodies already expanded
    std::string dest;                              // relative to working_dir unless absolute
    std::string working_dir = "/";                 // the stage's WORKDIR
    std::string chown;                             // "user", "user:group", "uid:gid", ""
    std::string chmod;                             // octal or symbolic, checked by the parser
    std::vector<std::string> excludes;             // --exclude, .dockerignore syntax
    bool parents = false;                          // --parents
    bool link = false;                             // --link
    std::optional<bool> unpack;                    // ADD --unpack; ADD unpacks by default
    std::string checksum;                          // ADD --checksum (remote sources only)
    // The mtime of what the copy makes (parent directories, heredoc files); the current time
    // when unset, as BuildKit. The caller sets it for reproducible builds.
    std::optional<CopyTime> created_time;
    // SOURCE_DATE_EPOCH: BuildKit's WithCreatedTime, the mtime of everything copied.
    std::optional<std::int64_t> source_date_epoch;
};

// The request of a COPY or an ADD instruction (kind, sources, heredocs, dest and flags); the
// caller sets working_dir and the times. `--from` is the caller's to turn into a CopySource.
CopyRequest copy_request(const parser::CopyInstruction& copy);
CopyRequest copy_request(const parser::AddInstruction& add);

// The history line BuildKit records for the layer ("COPY --chown=app src/ /app/"), without the
// " # buildkit" suffix.
std::string copy_history(const CopyRequest& request, bool is_add);

// Where the sources are read from.
class CopySource {
public:
    // The build context: a host directory seen through its .dockerignore (ignored paths do not
    // exist; the walk never reads an ignored directory nothing can re-include). Symlinks in the
    // context are resolved inside the context, never on the host beyond it.
    static CopySource context(std::filesystem::path directory, parser::PatternMatcher ignore);
    // Another stage's (or an image's) filesystem: COPY --from.
    static CopySource tree(FileTree tree);

    bool is_context() const { return !m_tree.has_value(); }
    const std::filesystem::path& directory() const { return m_directory; }
    const parser::PatternMatcher& ignore() const { return m_ignore; }
    const FileTree& source_tree() const { return *m_tree; }

private:
    std::filesystem::path m_directory;
    parser::PatternMatcher m_ignore;
    std::optional<FileTree> m_tree;
};

// The entries of the layer `request` adds on top of `destination` (the stage's filesystem
// before it). Files ADD unpacks are written into `scratch_dir` under names of our own (nothing
// else is written anywhere). Throws CopyError as described above, IoError when the context
// cannot be read or scratch_dir written. ADD from a URL or a git repository throws CopyError
// (not supported yet).
std::vector<LayerEntry> resolve_copy(const CopyRequest& request, const CopySource& source,
                                     const FileTree& destination, const std::filesystem::path& scratch_dir);

}  // namespace cbuild::builder
