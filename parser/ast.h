#pragma once
// The Dockerfile syntax tree: bytes → logical instructions (keyword, flags, arguments,
// heredocs, line span), exactly as BuildKit's frontend/dockerfile/parser splits them.
// No validation of instruction semantics happens here; see parser/dockerfile.h for that.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::parser {

// A `<<NAME` body attached to RUN, COPY or ADD. `content` is raw, newlines included, without
// the terminator line; `chomp` (`<<-`) means leading tabs are stripped when it is used.
struct Heredoc {
    std::string name;
    std::string content;
    int file_descriptor = 0;
    bool expand = true;  // false when any part of the name was quoted
    bool chomp = false;
};

// One logical instruction.
struct Node {
    std::string keyword;             // lowercased as written: "from", "run", "foo"
    std::string original;            // the joined logical line, as written
    std::vector<std::string> flags;  // "--from=build", quotes and escapes already removed
    std::vector<std::string> args;   // the argument list (see the dump format)
    std::vector<Node> nested;        // ONBUILD only: the one nested instruction
    std::vector<Heredoc> heredocs;
    bool json_form = false;          // arguments came from a JSON array
    int start_line = 0;              // 1-based physical lines, inclusive
    int end_line = 0;
};

struct Directive {
    std::string name;  // lowercased: "syntax", "escape", "check"
    std::string value;
    int line = 0;
};

// Something BuildKit accepts but warns about (an empty continuation line).
struct Warning {
    std::string short_text;
    std::string detail;
    std::string url;
    int line = 0;
};

struct Ast {
    std::vector<Node> children;
    std::vector<Directive> directives;
    std::vector<Warning> warnings;
    char escape = '\\';
    int start_line = 0;
    int end_line = 0;
};

// A directive found by detect_directive: `reference` is the value up to its first space,
// `value` the whole value (`docker/dockerfile:1 // opts`), `line` 1-based (0 for JSON form).
struct DetectedDirective {
    std::string reference;
    std::string value;
    int line = 0;
};

// The `# name=value` lines at the top of a file, as BuildKit's DirectiveParser.ParseAll reads
// them: scanning stops at the first line that is not a known directive. Throws
// cbuild::ParseError when a directive is repeated.
std::vector<Directive> parse_directives(std::string_view bytes, const std::string& file_name);

// Finds directive `name` (`syntax`, `check`) as BuildKit's DetectSyntax/ParseDirective do: a
// BOM and a `#!` first line are skipped; with `any_format`, `//name=value` comments and a JSON
// document `{"name": "value"}` are tried after `#` comments. Never throws.
std::optional<DetectedDirective> detect_directive(std::string_view bytes, std::string_view name,
                                                  bool any_format);

// Parses a whole Dockerfile. Throws cbuild::ParseError naming `file_name` and the line for a
// repeated or invalid directive, a line over 65535 bytes, a non-string JSON array, a one-word
// ENV/LABEL, an unterminated heredoc, a bad ONBUILD, or a file with no instructions.
Ast parse_ast(std::string_view bytes, const std::string& file_name);

// One word of a RUN/COPY/ADD line checked for a heredoc token (`<<EOF`, `3<<-"EOF"`), as
// BuildKit's ParseHeredoc: nullopt when it is not one; cbuild::parser::ExpandError (from
// parser/shell_lex.h) when the name does not lex (`<<'EOF`). The content is left empty.
std::optional<Heredoc> parse_heredoc(const std::string& word);

// Go's strconv.Quote (`%q`), the way BuildKit prints strings in dumps and image history.
std::string go_quote(std::string_view text);
// Go's strconv.QuoteRune (`%q` of an integer): `'a'`, `'\n'`, `'\x01'`, `'\''`. An invalid code
// point prints as U+FFFD, as in Go.
std::string go_quote_rune(std::int32_t code_point);

// BuildKit's `Node.Dump()` format: one "(keyword [flags] args...)" line per instruction,
// each ending in "\n".
std::string dump(const Ast& ast);
std::string dump(const Node& node);

}  // namespace cbuild::parser
