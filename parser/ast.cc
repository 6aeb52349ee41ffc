// Physical lines → logical instructions, following BuildKit's parser.Parse line for line:
// directives, continuation, comments inside continuations, heredoc bodies, and the per-keyword
// argument splitting of line_parsers.go.

#include "parser/ast.h"

#include <algorithm>
#include <optional>

#include "common/error.h"
#include "parser/internal/directive_line.h"
#include "parser/internal/json_array.h"
#include "parser/internal/text.h"
#include "parser/shell_lex.h"

namespace cbuild::parser {

namespace {

using internal::is_split_space;
using internal::trim_left_space;
using internal::trim_space;

// bufio.Scanner's limit in BuildKit: a line (without its newline) must be shorter than 64 KiB.
constexpr std::size_t k_max_line_length = 65535;
constexpr int k_max_onbuild_depth = 16;

struct PhysicalLine {
    std::string_view text;  // without the trailing '\n'; a '\r' before it is kept
    std::string_view raw;   // with the '\n', for heredoc bodies
};

std::vector<PhysicalLine> split_lines(std::string_view bytes) {
    std::vector<PhysicalLine> lines;
    lines.reserve(static_cast<std::size_t>(std::count(bytes.begin(), bytes.end(), '\n')) + 1);
    std::size_t pos = 0;
    while (pos < bytes.size()) {
        const std::size_t newline = bytes.find('\n', pos);
        const std::size_t end = newline == std::string_view::npos ? bytes.size() : newline + 1;
        const std::string_view raw = bytes.substr(pos, end - pos);
        lines.push_back({newline == std::string_view::npos ? raw : raw.substr(0, raw.size() - 1), raw});
        pos = end;
    }
    return lines;
}

std::string_view trim_newline(std::string_view text) {
    while (!text.empty() && (text.back() == '\r' || text.back() == '\n')) text.remove_suffix(1);
    return text;
}

bool is_comment(std::string_view line) {
    const std::string_view trimmed = trim_left_space(trim_newline(line));
    return !trimmed.empty() && trimmed.front() == '#';
}

class LineParser {
public:
    LineParser(std::string_view bytes, const std::string& file_name)
        : m_file_name(file_name), m_lines(split_lines(bytes)) {
        if (!m_lines.empty() && m_lines[0].text.substr(0, 3) == "\xEF\xBB\xBF") {
            m_lines[0].text.remove_prefix(3);
            m_lines[0].raw.remove_prefix(3);
        }
    }

    Ast parse();

private:
    [[noreturn]] void fail(int line, const std::string& message) const {
        std::string source;
        if (line >= 1 && static_cast<std::size_t>(line) <= m_lines.size())
            source = std::string(trim_newline(m_lines[static_cast<std::size_t>(line) - 1].text));
        throw ParseError(m_file_name, line, 0, message, std::move(source));
    }

    void check_length(std::size_t index) const {
        if (m_lines[index].text.size() > k_max_line_length)
            fail(static_cast<int>(index) + 1, "dockerfile line greater than max allowed size of " +
                                                  std::to_string(k_max_line_length));
    }

    // processLine: strips the newline (and leading whitespace on an instruction's first line),
    // looks for a directive while directives may still appear, and blanks out comments.
    std::string_view process_line(std::size_t index, bool strip_left);
    void possible_directive(std::string_view line, int line_number);

    // trimContinuationCharacter: an escape character ending the line (not itself escaped)
    // continues the instruction on the next line.
    bool trim_continuation(std::string& line) const;

    // `depth` counts ONBUILD nesting, which is capped: BuildKit's typed layer rejects any
    // ONBUILD inside ONBUILD, and an unbounded chain would recurse without limit.
    Node node_from_line(std::string_view line, int line_number, int depth = 0) const;
    void parse_arguments(Node& node, std::string_view rest, int line_number, int depth) const;
    std::vector<std::string> parse_words(std::string_view rest) const;
    void parse_name_value(Node& node, std::string_view rest, const char* keyword, int line_number) const;
    bool parse_json(Node& node, std::string_view rest, int line_number) const;
    std::vector<Heredoc> heredocs_from_line(const std::string& line, int line_number) const;

    const std::string& m_file_name;
    std::vector<PhysicalLine> m_lines;
    char m_escape = '\\';
    bool m_directives_done = false;
    std::vector<Directive> m_directives;
};

void LineParser::possible_directive(std::string_view line, int line_number) {
    if (m_directives_done) return;
    std::optional<Directive> directive = internal::match_directive_line(line, "#");
    if (!directive || !internal::is_known_directive(directive->name)) {
        m_directives_done = true;
        return;
    }
    for (const Directive& seen : m_directives)
        if (seen.name == directive->name)
            fail(line_number, "only one " + directive->name + " parser directive can be used");
    if (directive->name == "escape") {
        if (directive->value != "\\" && directive->value != "`")
            fail(line_number, "invalid escape token '" + directive->value + "' does not match ` or \\");
        m_escape = directive->value[0];
    }
    directive->line = line_number;
    m_directives.push_back(std::move(*directive));
}

std::string_view LineParser::process_line(std::size_t index, bool strip_left) {
    check_length(index);
    std::string_view token = trim_newline(m_lines[index].text);
    if (strip_left) token = trim_left_space(token);
    possible_directive(token, static_cast<int>(index) + 1);
    if (!token.empty() && token.front() == '#') return {};
    return token;
}

bool LineParser::trim_continuation(std::string& line) const {
    std::size_t end = line.size();
    while (end > 0 && (line[end - 1] == ' ' || line[end - 1] == '\t')) --end;
    if (end == 0 || line[end - 1] != m_escape) return false;
    if (end >= 2 && line[end - 2] == m_escape) return false;
    line.resize(end - 1);
    return true;
}

Ast LineParser::parse() {
    Ast ast;
    std::size_t index = 0;
    while (index < m_lines.size()) {
        const std::size_t first = index++;
        std::string line(process_line(first, true));
        const int start_line = static_cast<int>(first) + 1;
        bool continued = trim_continuation(line);
        if (!continued && line.empty()) continue;

        bool has_empty_continuation = false;
        while (continued && index < m_lines.size()) {
            const std::size_t current = index++;
            const std::string_view text = process_line(current, false);
            if (is_comment(m_lines[current].text)) continue;
            if (trim_left_space(text).empty()) {
                has_empty_continuation = true;
                continue;
            }
            std::string piece(text);
            continued = trim_continuation(piece);
            line += piece;
        }
        int end_line = static_cast<int>(index);
        if (has_empty_continuation) {
            ast.warnings.push_back({"Empty continuation line found in: " + line,
                                    "Empty continuation lines will become errors in a future release",
                                    "https://docs.docker.com/go/dockerfile/rule/no-empty-continuation/",
                                    end_line});
        }

        Node node = node_from_line(line, start_line);
        const Node& heredoc_owner = node.keyword == "onbuild" && !node.nested.empty() ? node.nested[0] : node;
        const bool can_have_heredoc =
            (heredoc_owner.keyword == "run" || heredoc_owner.keyword == "copy" ||
             heredoc_owner.keyword == "add") && !heredoc_owner.json_form;
        if (can_have_heredoc && line.find("<<") != std::string::npos) {
            for (Heredoc& heredoc : heredocs_from_line(line, start_line)) {
                bool terminated = false;
                while (index < m_lines.size()) {
                    const std::size_t current = index++;
                    check_length(current);
                    std::string_view candidate = trim_newline(m_lines[current].raw);
                    if (heredoc.chomp) {
                        while (!candidate.empty() && candidate.front() == '\t') candidate.remove_prefix(1);
                    }
                    if (candidate == heredoc.name) {
                        terminated = true;
                        break;
                    }
                    heredoc.content.append(m_lines[current].raw);
                }
                if (!terminated) fail(start_line, "unterminated heredoc");
                node.heredocs.push_back(std::move(heredoc));
            }
            end_line = static_cast<int>(index);
        }
        node.start_line = start_line;
        node.end_line = end_line;
        if (ast.children.empty()) ast.start_line = start_line;
        ast.end_line = end_line;
        ast.children.push_back(std::move(node));
    }
    if (ast.children.empty()) fail(static_cast<int>(m_lines.size()), "file with no instructions");
    ast.directives = std::move(m_directives);
    ast.escape = m_escape;
    return ast;
}

// extractBuilderFlags: leading `--words` are flags; quotes are removed and `\` escapes the next
// byte (always a backslash here, whatever the escape directive says, as upstream does).
std::vector<std::string> extract_flags(std::string_view line, std::string_view& rest) {
    std::vector<std::string> flags;
    std::size_t pos = 0;
    rest = {};
    while (true) {
        while (pos < line.size() && internal::is_byte_space(static_cast<unsigned char>(line[pos]))) ++pos;
        if (pos >= line.size()) return flags;
        if (line[pos] != '-' || pos + 1 >= line.size() || line[pos + 1] != '-') {
            rest = line.substr(pos);
            return flags;
        }
        std::string word;
        bool quoted_any = false;
        char quote = 0;
        for (; pos < line.size(); ++pos) {
            const char c = line[pos];
            if (quote == 0) {
                if (internal::is_byte_space(static_cast<unsigned char>(c))) break;
                if (c == '\'' || c == '"') {
                    quote = c;
                    quoted_any = true;
                    continue;
                }
            } else if (c == quote) {
                quote = 0;
                continue;
            }
            if (c == '\\') {
                if (pos + 1 == line.size()) continue;
                ++pos;
            }
            word += line[pos];
        }
        if (word == "--") {
            rest = pos < line.size() ? line.substr(pos) : std::string_view{};
            return flags;
        }
        if (quoted_any || !word.empty()) flags.push_back(std::move(word));
        if (pos >= line.size()) return flags;
    }
}

std::vector<std::string> split_whitespace(std::string_view rest) {
    std::vector<std::string> out;
    if (rest.empty()) return out;
    std::size_t pos = 0;
    while (true) {
        std::size_t end = pos;
        while (end < rest.size() && !is_split_space(rest[end])) ++end;
        out.emplace_back(rest.substr(pos, end - pos));
        if (end >= rest.size()) break;
        pos = end;
        while (pos < rest.size() && is_split_space(rest[pos])) ++pos;
        if (pos >= rest.size()) {
            out.emplace_back();
            break;
        }
    }
    return out;
}

Node LineParser::node_from_line(std::string_view line, int line_number, int depth) const {
    Node node;
    node.original = std::string(line);
    const std::string_view trimmed = trim_space(line);
    std::size_t keyword_end = 0;
    while (keyword_end < trimmed.size() && !is_split_space(trimmed[keyword_end])) ++keyword_end;
    node.keyword = std::string(trimmed.substr(0, keyword_end));
    for (char& c : node.keyword) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::string_view rest;
    if (keyword_end < trimmed.size()) {
        std::size_t args_start = keyword_end;
        while (args_start < trimmed.size() && is_split_space(trimmed[args_start])) ++args_start;
        node.flags = extract_flags(trimmed.substr(args_start), rest);
        rest = trim_space(rest);
    }
    parse_arguments(node, rest, line_number, depth);
    return node;
}

bool LineParser::parse_json(Node& node, std::string_view rest, int line_number) const {
    internal::JsonArray array = internal::parse_json_array(rest);
    if (array.status == internal::JsonArrayStatus::not_string_array)
        fail(line_number, "arrays must be comprised of strings only");
    if (array.status == internal::JsonArrayStatus::not_json_array) return false;
    node.args = std::move(array.values);
    node.json_form = true;
    return true;
}

void LineParser::parse_arguments(Node& node, std::string_view rest, int line_number, int depth) const {
    const std::string& k = node.keyword;
    if (k == "run" || k == "cmd" || k == "entrypoint" || k == "shell") {
        if (!rest.empty() && !parse_json(node, rest, line_number)) node.args.emplace_back(rest);
    } else if (k == "add" || k == "copy" || k == "volume") {
        if (!parse_json(node, rest, line_number)) node.args = split_whitespace(rest);
    } else if (k == "from" || k == "expose") {
        node.args = split_whitespace(rest);
    } else if (k == "maintainer" || k == "user" || k == "workdir" || k == "stopsignal") {
        if (!rest.empty()) node.args.emplace_back(rest);
    } else if (k == "env" || k == "label") {
        parse_name_value(node, rest, k == "env" ? "ENV" : "LABEL", line_number);
    } else if (k == "arg") {
        node.args = parse_words(rest);
    } else if (k == "healthcheck") {
        std::size_t separator = 0;
        while (separator < rest.size() && !internal::is_byte_space(static_cast<unsigned char>(rest[separator])))
            ++separator;
        if (separator == 0) return;
        std::size_t next = separator;
        while (next < rest.size() && internal::is_byte_space(static_cast<unsigned char>(rest[next]))) ++next;
        node.args.emplace_back(rest.substr(0, separator));
        const std::string_view command = rest.substr(next);
        if (command.empty()) return;
        Node command_node;
        if (parse_json(command_node, command, line_number)) {
            node.json_form = true;
            for (std::string& value : command_node.args) node.args.push_back(std::move(value));
        } else {
            node.args.emplace_back(command);
        }
    } else if (k == "onbuild") {
        if (rest.empty()) return;
        if (depth >= k_max_onbuild_depth) fail(line_number, "ONBUILD instructions nested too deeply");
        node.nested.push_back(node_from_line(rest, line_number, depth + 1));
    } else {
        node.args.emplace_back();  // unknown instructions keep no arguments
    }
}

// parseWords: split at unquoted whitespace; quotes and escapes stay in the words.
std::vector<std::string> LineParser::parse_words(std::string_view rest) const {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    bool blank_ok = false;
    char quote = 0;
    std::size_t pos = 0;
    const auto finish_word = [&] {
        if (blank_ok || !word.empty()) words.push_back(word);
        word.clear();
        blank_ok = false;
        in_word = false;
    };
    while (pos < rest.size()) {
        const internal::Rune rune = internal::decode_rune(rest, pos);
        const std::string_view bytes = rest.substr(pos, rune.width);
        if (quote == 0 && internal::is_unicode_space(rune.code_point)) {
            if (in_word) finish_word();
            pos += rune.width;
            continue;
        }
        in_word = true;
        if (bytes[0] == m_escape && quote != '\'') {
            if (pos + 1 == rest.size()) break;  // an escape at the very end is dropped
            // The escape stays in the word with the character it escapes, even a quote.
            word += bytes;
            pos += 1;
            const internal::Rune escaped = internal::decode_rune(rest, pos);
            word += rest.substr(pos, escaped.width);
            pos += escaped.width;
            continue;
        }
        if (quote == 0 && (bytes[0] == '\'' || bytes[0] == '"')) {
            quote = bytes[0];
            blank_ok = true;
        } else if (quote != 0 && bytes[0] == quote) {
            quote = 0;
        }
        word += bytes;
        pos += rune.width;
    }
    if (in_word) finish_word();
    return words;
}

void LineParser::parse_name_value(Node& node, std::string_view rest, const char* keyword,
                                  int line_number) const {
    const std::vector<std::string> words = parse_words(rest);
    if (words.empty()) return;
    if (words[0].find('=') == std::string::npos) {
        // Legacy form `KEY name value`: the value is the whole remainder, verbatim.
        std::size_t key_end = 0;
        while (key_end < rest.size() && !is_split_space(rest[key_end])) ++key_end;
        std::size_t value_start = key_end;
        while (value_start < rest.size() && is_split_space(rest[value_start])) ++value_start;
        if (key_end >= rest.size()) fail(line_number, std::string(keyword) + " must have two arguments");
        node.args = {std::string(rest.substr(0, key_end)), std::string(rest.substr(value_start)), ""};
        return;
    }
    for (const std::string& word : words) {
        const std::size_t equals = word.find('=');
        if (equals == std::string::npos)
            fail(line_number, "Syntax error - can't find = in \"" + word +
                                  "\". Must be of the form: name=value");
        node.args.push_back(word.substr(0, equals));
        node.args.push_back(word.substr(equals + 1));
        node.args.emplace_back("=");
    }
}

}  // namespace

// `^(\d*)<<(-?)([^<]*)$`, then the rest must lex as exactly one shell word.
std::optional<Heredoc> parse_heredoc(const std::string& word) {
    std::size_t pos = 0;
    while (pos < word.size() && word[pos] >= '0' && word[pos] <= '9') ++pos;
    const std::string digits = word.substr(0, pos);
    if (word.compare(pos, 2, "<<") != 0) return std::nullopt;
    pos += 2;
    Heredoc heredoc;
    if (pos < word.size() && word[pos] == '-') {
        heredoc.chomp = true;
        ++pos;
    }
    const std::string rest = word.substr(pos);
    if (rest.empty() || rest.find('<') != std::string::npos) return std::nullopt;

    const Environment no_variables;
    const std::vector<std::string> words =
        ShellLex('\\', {.raw_quotes = false, .raw_escapes = false, .skip_unset = true})
            .process_words(rest, no_variables);
    if (words.size() != 1) return std::nullopt;
    const std::vector<std::string> raw_words =
        ShellLex('\\', {.raw_quotes = true, .raw_escapes = false, .skip_unset = true})
            .process_words(rest, no_variables);
    if (raw_words.size() != 1)
        throw ExpandError("internal lexing of heredoc produced inconsistent results: " + rest);
    const auto quotes = [](const std::string& s) {
        return std::count(s.begin(), s.end(), '\'') + std::count(s.begin(), s.end(), '"');
    };
    heredoc.name = words[0];
    heredoc.expand = quotes(words[0]) == quotes(raw_words[0]);
    // Digits beyond what fits are ignored, as Go's ParseUint error is.
    heredoc.file_descriptor = digits.empty() || digits.size() > 9 ? 0 : std::stoi(digits);
    return heredoc;
}

namespace {

std::vector<Heredoc> LineParser::heredocs_from_line(const std::string& line, int line_number) const {
    std::vector<std::string> words;
    try {
        words = ShellLex('\\', {.raw_quotes = true, .raw_escapes = true, .skip_unset = true})
                    .process_words(line, Environment{});
    } catch (const ExpandError&) {
        return {};  // upstream ignores a lexing failure of the whole line: no heredocs
    }
    std::vector<Heredoc> heredocs;
    for (const std::string& word : words) {
        try {
            if (std::optional<Heredoc> heredoc = parse_heredoc(word))
                heredocs.push_back(std::move(*heredoc));
        } catch (const ExpandError& error) {
            fail(line_number, error.what());
        }
    }
    return heredocs;
}

}  // namespace

Ast parse_ast(std::string_view bytes, const std::string& file_name) {
    return LineParser(bytes, file_name).parse();
}

}  // namespace cbuild::parser
