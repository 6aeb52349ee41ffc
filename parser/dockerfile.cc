#include "parser/dockerfile.h"

#include <cctype>

#include "common/error.h"

namespace cbuild::parser {

Dockerfile parse_dockerfile(std::string_view bytes, const std::string& file_name) {
    return dockerfile_from_ast(parse_ast(bytes, file_name), file_name);
}

Dockerfile dockerfile_from_ast(const Ast& ast, const std::string& file_name) {
    Dockerfile dockerfile;
    dockerfile.file_name = file_name;
    dockerfile.directives = ast.directives;
    dockerfile.warnings = ast.warnings;
    dockerfile.escape = ast.escape;
    for (const Node& node : ast.children) {
        Instruction instruction = parse_instruction(node, file_name);
        if (auto* from = std::get_if<FromInstruction>(&instruction)) {
            dockerfile.stages.push_back({std::move(*from), {}});
            continue;
        }
        if (dockerfile.stages.empty()) {
            if (auto* arg = std::get_if<ArgInstruction>(&instruction)) {
                dockerfile.meta_args.push_back(std::move(*arg));
                continue;
            }
            const std::string line = node.original.substr(0, node.original.find('\n'));
            throw ParseError(file_name, node.start_line, 1,
                             "no build stage in current context: " +
                                 std::string(instruction_name(instruction)) +
                                 " comes before the first FROM (only ARG may)",
                             line);
        }
        dockerfile.stages.back().instructions.push_back(std::move(instruction));
    }
    return dockerfile;
}

std::optional<std::size_t> find_stage(const Dockerfile& dockerfile, std::string_view name) {
    const auto same = [](std::string_view a, std::string_view b) {
        if (a.size() != b.size()) return false;
        for (std::size_t i = 0; i < a.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(a[i])) !=
                std::tolower(static_cast<unsigned char>(b[i])))
                return false;
        return true;
    };
    if (name.empty()) return std::nullopt;
    for (std::size_t i = 0; i < dockerfile.stages.size(); ++i)
        if (same(dockerfile.stages[i].name(), name)) return i;
    return std::nullopt;
}

}  // namespace cbuild::parser
