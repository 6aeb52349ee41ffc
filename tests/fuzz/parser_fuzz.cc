// libFuzzer target over the whole front end: the syntax tree, typed stages, word expansion
// with and without splitting, and .dockerignore reading and matching. Expected failures are
// cbuild::Error; anything else (a crash, a sanitizer report, another exception) is a finding.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/error.h"
#include "parser/ast.h"
#include "parser/dockerfile.h"
#include "parser/dockerignore.h"
#include "parser/shell_lex.h"

namespace {

void fuzz_dockerfile(std::string_view bytes) {
    try {
        const cbuild::parser::Ast ast = cbuild::parser::parse_ast(bytes, "Dockerfile");
        (void)cbuild::parser::dump(ast);
    } catch (const cbuild::Error&) {
    }
    try {
        (void)cbuild::parser::parse_dockerfile(bytes, "Dockerfile");
    } catch (const cbuild::Error&) {
    }
}

void fuzz_expansion(std::string_view bytes) {
    cbuild::parser::Environment env;
    env.set("PWD", "/home");
    env.set("EMPTY", "");
    env.set("LIST", "a b  c");
    for (char escape : {'\\', '`'}) {
        const cbuild::parser::ShellLex lex(escape);
        try {
            (void)lex.process_word(bytes, env);
        } catch (const cbuild::Error&) {
        }
        try {
            (void)lex.process_words(bytes, env);
        } catch (const cbuild::Error&) {
        }
    }
}

void fuzz_dockerignore(std::string_view bytes) {
    const std::size_t split = bytes.find('\0');
    const std::string_view patterns = bytes.substr(0, split);
    const std::string_view path = split == std::string_view::npos ? "a/b" : bytes.substr(split + 1);
    try {
        const cbuild::parser::PatternMatcher matcher(
            cbuild::parser::read_ignore_file(patterns, ".dockerignore"));
        (void)matcher.matches_or_parent_matches(std::string(path));
    } catch (const cbuild::Error&) {
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
    switch (data[0] % 4) {
    case 0: fuzz_expansion(bytes); break;
    case 1: fuzz_dockerignore(bytes); break;
    default: fuzz_dockerfile(bytes); break;
    }
    return 0;
}
