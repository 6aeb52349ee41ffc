#pragma once
// The parser's front door: Dockerfile bytes → meta ARGs and build stages of typed instructions
// (BuildKit's instructions.Parse). Expansion is not done here; see WordExpander in
// parser/instructions.h for which fields the planner expands and when.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "parser/ast.h"
#include "parser/instructions.h"

namespace cbuild::parser {

// One FROM and the instructions up to the next FROM.
struct Stage {
    FromInstruction from;  // base image or stage, --platform, and the `AS` name (lowercased)
    std::vector<Instruction> instructions;

    const std::string& name() const { return from.stage_name; }
};

struct Dockerfile {
    std::string file_name;
    std::vector<ArgInstruction> meta_args;  // the ARGs before the first FROM, in order
    std::vector<Stage> stages;
    std::vector<Directive> directives;  // syntax, escape, check
    std::vector<Warning> warnings;      // from the syntax tree (empty continuation lines)
    char escape = '\\';                 // for the planner's ShellLex
};

// Parses a whole Dockerfile. Throws ParseError "FILE:LINE: message" for anything parse_ast or
// parse_instruction rejects, and for an instruction other than ARG before the first FROM.
// Stage names may repeat (BuildKit only lints that); find_stage() returns the first.
Dockerfile parse_dockerfile(std::string_view bytes, const std::string& file_name);

// The same from an already parsed syntax tree.
Dockerfile dockerfile_from_ast(const Ast& ast, const std::string& file_name);

// The index of the first stage named `name` (compared case-insensitively, as upstream), or
// nullopt. Numeric references (`--from=0`) are the caller's business.
std::optional<std::size_t> find_stage(const Dockerfile& dockerfile, std::string_view name);

}  // namespace cbuild::parser
