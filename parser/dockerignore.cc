#include "parser/dockerignore.h"

#include <optional>
#include <utility>

#include "parser/internal/ignore_pattern.h"
#include "parser/internal/text.h"

namespace cbuild::parser {

namespace {

using internal::IgnorePattern;
using internal::PatternOrigin;

// bufio.Scanner's MaxScanTokenSize: ReadAll fails on a line that does not fit its buffer.
constexpr std::size_t k_max_line = 64 * 1024;
constexpr std::string_view k_bom = "\xEF\xBB\xBF";

struct IgnoreLine {
    std::string pattern;
    PatternOrigin origin;
};

std::vector<IgnoreLine> read_lines(std::string_view bytes, const std::string& file_name) {
    std::vector<IgnoreLine> out;
    int line_number = 0;
    for (std::size_t at = 0; at < bytes.size();) {
        const std::size_t newline = bytes.find('\n', at);
        const std::size_t end = newline == std::string_view::npos ? bytes.size() : newline;
        std::string_view line = bytes.substr(at, end - at);
        at = newline == std::string_view::npos ? bytes.size() : newline + 1;
        ++line_number;
        if (line.size() >= k_max_line)
            throw ParseError(file_name, line_number, 0,
                             "line is 64 KiB or longer, which Docker's reader refuses");
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // bufio.ScanLines
        if (line_number == 1 && line.starts_with(k_bom)) line.remove_prefix(k_bom.size());
        if (line.starts_with('#')) continue;
        std::string_view pattern = internal::trim_space(line);
        if (pattern.empty()) continue;
        const int column = static_cast<int>(pattern.data() - line.data()) + 1;
        const bool exception = pattern.front() == '!';
        if (exception) pattern = internal::trim_space(pattern.substr(1));
        std::string cleaned;
        if (!pattern.empty()) {
            cleaned = internal::clean_path(pattern);
            if (cleaned.size() > 1 && cleaned.front() == '/') cleaned.erase(0, 1);
        }
        if (exception) cleaned.insert(0, "!");
        out.push_back({std::move(cleaned), {file_name, line_number, column, std::string(line)}});
    }
    return out;
}

// patternmatcher.New for one pattern; nullopt when it is blank.
std::optional<IgnorePattern> compile(std::string_view raw, std::optional<PatternOrigin> origin) {
    const std::string_view trimmed = internal::trim_space(raw);
    if (trimmed.empty()) return std::nullopt;
    std::string text = internal::clean_path(trimmed);
    const bool exception = text.front() == '!';
    if (exception) {
        if (text.size() == 1)
            internal::throw_pattern_error(origin,
                                          "illegal exclusion pattern `!`: an exception needs a "
                                          "pattern after the `!`");
        text.erase(0, 1);
    }
    if (auto error = internal::glob_syntax_error(text))
        internal::throw_pattern_error(origin, "syntax error in pattern `" + text + "`: " + *error);
    return IgnorePattern(std::move(text), exception, std::move(origin));
}

// fsutil's patternWithoutTrailingGlob.
std::string_view without_trailing_glob(std::string_view pattern) {
    if (pattern.ends_with("/**")) pattern.remove_suffix(3);
    if (pattern.ends_with("/*")) pattern.remove_suffix(2);
    return pattern;
}

// The ancestor of a path with `depth` components, given its parent directory, if it has one;
// as upstream splits filepath.Dir(path) at each `/` and joins the leading parts.
std::optional<std::string_view> ancestor_at_depth(std::string_view parent, std::size_t depth) {
    std::size_t from = 0;
    for (std::size_t i = 1; i < depth; ++i) {
        const std::size_t slash = parent.find('/', from);
        if (slash == std::string_view::npos) return std::nullopt;
        from = slash + 1;
    }
    const std::size_t slash = parent.find('/', from);
    return slash == std::string_view::npos ? parent : parent.substr(0, slash);
}

}  // namespace

std::vector<std::string> read_ignore_file(std::string_view bytes, const std::string& file_name) {
    std::vector<std::string> out;
    for (IgnoreLine& line : read_lines(bytes, file_name)) out.push_back(std::move(line.pattern));
    return out;
}

std::vector<std::filesystem::path> ignore_file_for(const std::filesystem::path& dockerfile,
                                                   const std::filesystem::path& context_dir) {
    std::vector<std::filesystem::path> out;
    if (dockerfile != "-" && dockerfile.has_filename())
        out.push_back(dockerfile.parent_path() /
                      (dockerfile.filename().string() + ".dockerignore"));
    out.push_back(context_dir / ".dockerignore");
    return out;
}

PatternMatcher::PatternMatcher() { adopt({}); }

PatternMatcher::PatternMatcher(const std::vector<std::string>& patterns) {
    std::vector<IgnorePattern> compiled;
    for (const std::string& pattern : patterns)
        if (auto one = compile(pattern, std::nullopt)) compiled.push_back(std::move(*one));
    adopt(std::move(compiled));
}

void PatternMatcher::adopt(std::vector<IgnorePattern> patterns) {
    for (const IgnorePattern& pattern : patterns) {
        if (!pattern.exception()) continue;
        m_has_exceptions = true;
        const std::string_view literal_part = without_trailing_glob(pattern.text());
        if (literal_part.find_first_of("*[]?^\\") != std::string_view::npos)
            m_only_literal_exceptions = false;
    }
    m_patterns = std::make_shared<const std::vector<IgnorePattern>>(std::move(patterns));
}

PatternMatcher PatternMatcher::from_ignore_file(std::string_view bytes,
                                                const std::string& file_name) {
    std::vector<IgnorePattern> compiled;
    for (IgnoreLine& line : read_lines(bytes, file_name))
        if (auto one = compile(line.pattern, std::move(line.origin)))
            compiled.push_back(std::move(*one));
    PatternMatcher matcher;
    matcher.adopt(std::move(compiled));
    return matcher;
}

bool PatternMatcher::matches_or_parent_matches(std::string_view path) const {
    const std::string cleaned = internal::clean_path(path);
    return cleaned != "." && evaluate(cleaned, AncestorRule::any);
}

bool PatternMatcher::matches(std::string_view path) const {
    const std::string cleaned = internal::clean_path(path);
    return cleaned != "." && evaluate(cleaned, AncestorRule::same_depth);
}

bool PatternMatcher::evaluate(std::string_view path, AncestorRule rule) const {
    const std::string parent = internal::parent_dir(path);
    bool matched = false;
    for (const IgnorePattern& pattern : *m_patterns) {
        // An exception can only undo an exclusion, and an ordinary pattern only add one.
        if (pattern.exception() != matched) continue;
        bool hit = pattern.matches(path);
        if (!hit && parent != ".") {
            if (rule == AncestorRule::any) {
                hit = pattern.matches_ancestor(parent);
            } else if (auto ancestor = ancestor_at_depth(parent, pattern.depth())) {
                hit = pattern.matches(*ancestor);
            }
        }
        if (hit) matched = !pattern.exception();
    }
    return matched;
}

PatternMatcher::Match PatternMatcher::match_using_parent(std::string_view path,
                                                         const MatchInfo& parent) const {
    const std::size_t count = m_patterns->size();
    if (parent.m_known && parent.m_matched.size() != count)
        throw PatternError("match state for `" + std::string(path) +
                           "` comes from another matcher");
    Match result;
    result.info.m_known = true;
    result.info.m_matched.assign(count, false);
    std::optional<std::string> parent_path;  // only needed without the parent's info
    bool matched = false;
    for (std::size_t i = 0; i < count; ++i) {
        const IgnorePattern& pattern = (*m_patterns)[i];
        // A pattern that matched the parent matches everything below it: no need to retry.
        bool hit = parent.m_known && parent.m_matched[i];
        if (!hit) {
            if (pattern.exception() != matched) continue;
            hit = pattern.matches(path);
            if (!hit && !parent.m_known) {
                if (!parent_path) parent_path = internal::parent_dir(path);
                if (*parent_path != ".") hit = pattern.matches_ancestor(*parent_path);
            }
        }
        result.info.m_matched[i] = hit;
        if (hit) matched = !pattern.exception();
    }
    result.excluded = matched;
    return result;
}

PatternMatcher::DirectoryVisit PatternMatcher::visit_directory(std::string_view path,
                                                               const MatchInfo& parent) const {
    Match match = match_using_parent(path, parent);
    DirectoryVisit visit{match.excluded, true, std::move(match.info)};
    if (visit.excluded) visit.descend = may_reinclude_below(path);
    return visit;
}

bool PatternMatcher::may_reinclude_below(std::string_view directory) const {
    if (!m_has_exceptions) return false;
    // A wildcard exception could match anywhere; only literal ones can be ruled out by prefix.
    if (!m_only_literal_exceptions) return true;
    const std::string below = std::string(directory) + "/";
    for (const IgnorePattern& pattern : *m_patterns) {
        if (!pattern.exception()) continue;
        const std::string candidate = std::string(without_trailing_glob(pattern.text())) + "/";
        if (candidate.starts_with(below)) return true;
    }
    return false;
}

std::size_t PatternMatcher::size() const { return m_patterns->size(); }

std::vector<std::string> PatternMatcher::patterns() const {
    std::vector<std::string> out;
    for (const IgnorePattern& pattern : *m_patterns)
        out.push_back(pattern.exception() ? "!" + pattern.text() : pattern.text());
    return out;
}

}  // namespace cbuild::parser
