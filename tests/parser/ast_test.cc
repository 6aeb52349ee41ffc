// The syntax tree against BuildKit's own parser test data (../shared/conformance).

#include "parser/ast.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "common/error.h"
#include "parser/shell_lex.h"
#include "tests/support/shared_data.h"

namespace cbuild::parser {
namespace {

namespace fs = std::filesystem;
using test::read_file;
using test::shared_dir;

fs::path conformance() { return shared_dir() / "conformance" / "buildkit"; }

std::vector<std::string> case_names(const fs::path& dir) {
    std::vector<std::string> names;
    for (const auto& entry : fs::directory_iterator(dir))
        if (entry.is_directory()) names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

std::vector<nlohmann::json> read_jsonl(const fs::path& path) {
    std::vector<nlohmann::json> rows;
    std::ifstream in(path);
    for (std::string line; std::getline(in, line);)
        if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
    return rows;
}

// GoogleTest names allow only letters, digits and `_`.
std::string case_test_name(const testing::TestParamInfo<std::string>& case_info) {
    std::string name = case_info.param;
    for (char& c : name)
        if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
}

class ParseCaseTest : public testing::TestWithParam<std::string> {};

TEST_P(ParseCaseTest, DumpMatchesGoldenResult) {
    const fs::path dir = conformance() / "parser" / "testfiles" / GetParam();
    const Ast ast = parse_ast(read_file(dir / "Dockerfile"), "Dockerfile");
    EXPECT_EQ(dump(ast), read_file(dir / "result"));
}

INSTANTIATE_TEST_SUITE_P(BuildKit, ParseCaseTest,
                         testing::ValuesIn(case_names(conformance() / "parser" / "testfiles")),
                         case_test_name);

class NegativeCaseTest : public testing::TestWithParam<std::string> {};

TEST_P(NegativeCaseTest, IsRejectedWithFileAndLine) {
    const fs::path file = conformance() / "parser" / "testfiles-negative" / GetParam() / "Dockerfile";
    try {
        parse_ast(read_file(file), "Dockerfile");
        FAIL() << GetParam() << " parsed, but must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.file(), "Dockerfile");
        EXPECT_EQ(std::string(error.what()).rfind("Dockerfile:", 0), 0u) << error.what();
    }
}

INSTANTIATE_TEST_SUITE_P(BuildKit, NegativeCaseTest,
                         testing::ValuesIn(case_names(conformance() / "parser" / "testfiles-negative")),
                         case_test_name);

TEST(AstTest, LineNumbersSpanContinuationsCommentsAndBlankLines) {
    const Ast ast = parse_ast(read_file(conformance() / "parser" / "testfile-line" / "Dockerfile"), "Dockerfile");
    std::ifstream table(conformance() / "extracted" / "parser" / "line_numbers.tsv");
    std::string header;
    std::getline(table, header);
    int rows = 0;
    for (std::string file, node; table >> file >> node;) {
        int start = 0, end = 0;
        table >> start >> end;
        ++rows;
        if (node == "root") {
            EXPECT_EQ(ast.start_line, start);
            EXPECT_EQ(ast.end_line, end);
        } else {
            const std::size_t index = std::stoul(node.substr(5));
            ASSERT_LT(index, ast.children.size());
            EXPECT_EQ(ast.children[index].start_line, start) << node;
            EXPECT_EQ(ast.children[index].end_line, end) << node;
        }
    }
    EXPECT_EQ(rows, 4);
}

TEST(AstTest, DirectivesTable) {
    int checked = 0;
    for (const auto& row : read_jsonl(conformance() / "extracted" / "parser" / "directives.jsonl")) {
        const std::string api = row["api"];
        const std::string text = row["text"];
        SCOPED_TRACE(text);
        if (api == "directives") {
            const std::vector<Directive> found = parse_directives(text, "Dockerfile");
            ASSERT_EQ(found.size(), row["expect"].size());
            for (std::size_t i = 0; i < found.size(); ++i) {
                EXPECT_EQ(found[i].name, row["expect"][i]["name"]);
                EXPECT_EQ(found[i].value, row["expect"][i]["value"]);
            }
        } else {
            const bool any_format = api == "detect-syntax";
            const auto found = detect_directive(text, any_format ? "syntax" : "check", any_format);
            ASSERT_EQ(found.has_value(), row["found"].get<bool>());
            if (found && row.contains("ref")) {
                EXPECT_EQ(found->reference, row["ref"]);
            }
            if (found && row.contains("cmdline")) {
                EXPECT_EQ(found->value, row["cmdline"]);
            }
            if (found && row.contains("line")) {
                EXPECT_EQ(found->line, row["line"]);
            }
        }
        ++checked;
    }
    EXPECT_EQ(checked, 17);
}

TEST(AstTest, RepeatedDirectiveIsAnError) {
    EXPECT_THROW(parse_ast("# escape=`\n# escape=\\\nFROM a\n", "Dockerfile"), ParseError);
    EXPECT_THROW(parse_ast("# syntax=a\n# SYNTAX=b\nFROM a\n", "Dockerfile"), ParseError);
    EXPECT_THROW(parse_ast("# escape=x\nFROM a\n", "Dockerfile"), ParseError);
}

TEST(AstTest, DirectiveAfterInstructionIsAComment) {
    const Ast ast = parse_ast("FROM a\n# escape=`\nRUN a \\\n b\n", "Dockerfile");
    EXPECT_EQ(ast.escape, '\\');
    ASSERT_EQ(ast.children.size(), 2u);
    EXPECT_EQ(ast.children[1].args[0], "a  b");
}

TEST(AstTest, JsonArraysTable) {
    int checked = 0;
    for (const auto& row : read_jsonl(conformance() / "extracted" / "parser" / "json_arrays.jsonl")) {
        const std::string text = row["text"];
        SCOPED_TRACE(text);
        const std::string dockerfile = "FROM a\nCMD " + text + "\n";
        if (row["kind"] == "string-array") {
            const Ast ast = parse_ast(dockerfile, "Dockerfile");
            EXPECT_TRUE(ast.children[1].json_form);
            EXPECT_EQ(ast.children[1].args, row["values"].get<std::vector<std::string>>());
        } else {
            EXPECT_THROW(parse_ast(dockerfile, "Dockerfile"), ParseError);
        }
        ++checked;
    }
    EXPECT_EQ(checked, 16);
}

TEST(AstTest, NameValueTable) {
    for (const auto& row : read_jsonl(conformance() / "extracted" / "parser" / "name_value.jsonl")) {
        const std::string dockerfile = "FROM a\n" + row["instruction"].get<std::string>() + " " +
                                       row["args"].get<std::string>() + "\n";
        SCOPED_TRACE(dockerfile);
        if (row["error"].is_null()) {
            EXPECT_EQ(parse_ast(dockerfile, "Dockerfile").children[1].args,
                      row["nodes"].get<std::vector<std::string>>());
        } else {
            try {
                parse_ast(dockerfile, "Dockerfile");
                ADD_FAILURE() << "parsed, but must fail";
            } catch (const ParseError& error) {
                EXPECT_EQ(error.message(), row["error"].get<std::string>());
                EXPECT_EQ(error.line(), 2);
            }
        }
    }
}

TEST(AstTest, ArgWordSplitTable) {
    for (const auto& row : read_jsonl(conformance() / "extracted" / "parser" / "arg_word_split.jsonl")) {
        const std::string escape = row["escape"];
        const std::string dockerfile = "# escape=" + escape + "\nARG " + row["input"].get<std::string>() + "\n";
        SCOPED_TRACE(dockerfile);
        EXPECT_EQ(parse_ast(dockerfile, "Dockerfile").children[0].args,
                  row["words"].get<std::vector<std::string>>());
    }
}

TEST(AstTest, LineOverMaximumLengthIsAnError) {
    const std::string dockerfile = "\n\t\tFROM image\n\t\tLABEL test=" + std::string(65536, 'a') + "\n";
    try {
        parse_ast(dockerfile, "Dockerfile");
        FAIL() << "a line of 64 KiB must be rejected";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.message(), "dockerfile line greater than max allowed size of 65535");
        EXPECT_EQ(error.line(), 3);
    }
    EXPECT_NO_THROW(parse_ast("FROM a\nLABEL a=" + std::string(65000, 'b') + "\n", "Dockerfile"));
}

TEST(AstTest, EmptyContinuationLinesWarn) {
    const fs::path dir = conformance() / "extracted" / "parser" / "empty_continuation";
    const Ast ast = parse_ast(read_file(dir / "Dockerfile"), "Dockerfile");
    const auto expected = read_jsonl(dir / "expected_warnings.jsonl");
    ASSERT_EQ(ast.warnings.size(), expected[0]["warning_count"].get<std::size_t>());
    for (std::size_t i = 1; i < expected.size(); ++i) {
        const Warning& warning = ast.warnings[expected[i]["index"].get<std::size_t>()];
        for (const auto& part : expected[i]["short_contains"])
            EXPECT_NE(warning.short_text.find(part.get<std::string>()), std::string::npos) << warning.short_text;
        if (expected[i].contains("detail0_contains")) {
            EXPECT_NE(warning.detail.find(expected[i]["detail0_contains"].get<std::string>()), std::string::npos);
        }
    }
}

TEST(AstTest, JsonFormRunHasNoHeredocs) {
    const fs::path dir = conformance() / "extracted" / "parser" / "heredoc_json";
    const Ast ast = parse_ast(read_file(dir / "Dockerfile"), "Dockerfile");
    for (const auto& row : read_jsonl(dir / "expected.jsonl")) {
        const Node& node = ast.children.at(row["child_index"].get<std::size_t>());
        EXPECT_TRUE(node.heredocs.empty()) << node.original;
        EXPECT_EQ(node.original, row["instruction_line"].get<std::string>());
    }
}

TEST(AstTest, HeredocsAreReadAfterTheInstruction) {
    const Ast ast = parse_ast(
        "FROM a\n"
        "RUN <<EOF cat && <<-'END' cat\n"
        "echo $HOME\n"
        "EOF\n"
        "\tindented\n"
        "\tEND\n"
        "COPY <<file.txt /dest\n"
        "hello\n"
        "file.txt\n",
        "Dockerfile");
    ASSERT_EQ(ast.children.size(), 3u);
    const Node& run = ast.children[1];
    ASSERT_EQ(run.heredocs.size(), 2u);
    EXPECT_EQ(run.heredocs[0].name, "EOF");
    EXPECT_EQ(run.heredocs[0].content, "echo $HOME\n");
    EXPECT_TRUE(run.heredocs[0].expand);
    EXPECT_FALSE(run.heredocs[0].chomp);
    EXPECT_EQ(run.heredocs[1].name, "END");
    EXPECT_EQ(run.heredocs[1].content, "\tindented\n");
    EXPECT_FALSE(run.heredocs[1].expand);
    EXPECT_TRUE(run.heredocs[1].chomp);
    EXPECT_EQ(run.start_line, 2);
    EXPECT_EQ(run.end_line, 6);
    EXPECT_EQ(ast.children[2].heredocs.at(0).content, "hello\n");
    EXPECT_EQ(ast.children[2].start_line, 7);
}

TEST(AstTest, HeredocNameRules) {
    const auto names = [](const std::string& line) {
        std::vector<std::string> out;
        const Ast ast = parse_ast("FROM a\n" + line + "\nX\nEOF\nY\nEOF\n", "Dockerfile");
        for (const Heredoc& h : ast.children[1].heredocs)
            out.push_back(h.name + (h.expand ? "+" : "-") + std::to_string(h.file_descriptor));
        return out;
    };
    EXPECT_EQ(names("RUN <<EOF"), std::vector<std::string>{"EOF+0"});
    EXPECT_EQ(names("RUN 3<<EOF"), std::vector<std::string>{"EOF+3"});
    EXPECT_EQ(names("RUN <<E\"O\"F"), std::vector<std::string>{"EOF-0"});
    EXPECT_EQ(names("RUN <<  EOF"), std::vector<std::string>{"EOF+0"});
    EXPECT_EQ(names("RUN echo '<<EOF'"), std::vector<std::string>{});
    EXPECT_EQ(names("USER <<EOF"), std::vector<std::string>{});
    EXPECT_EQ(names("ONBUILD RUN <<EOF"), std::vector<std::string>{"EOF+0"});
}

TEST(AstTest, UnterminatedHeredocIsAnError) {
    try {
        parse_ast("FROM a\nRUN <<EOF\nline\n", "Dockerfile");
        FAIL() << "must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.message(), "unterminated heredoc");
        EXPECT_EQ(error.line(), 2);
    }
}

TEST(AstTest, LineThatDoesNotLexHasNoHeredocs) {
    // Upstream ignores a lexing failure of the whole line: an unbalanced quote means no heredoc.
    const Ast ast = parse_ast("FROM a\nRUN <<'EOF\n", "Dockerfile");
    EXPECT_TRUE(ast.children[1].heredocs.empty());
}

TEST(AstTest, HeredocWords) {
    EXPECT_FALSE(parse_heredoc(""));
    EXPECT_FALSE(parse_heredoc("<<"));
    EXPECT_FALSE(parse_heredoc("<<EOF sh"));
    EXPECT_FALSE(parse_heredoc("x<<EOF"));
    EXPECT_FALSE(parse_heredoc("<<<EOF"));
    EXPECT_THROW(parse_heredoc("<<'EOF"), ExpandError);
    const auto chomped = parse_heredoc("12<<-\"E\"OF");
    ASSERT_TRUE(chomped);
    EXPECT_EQ(chomped->name, "EOF");
    EXPECT_EQ(chomped->file_descriptor, 12);
    EXPECT_TRUE(chomped->chomp);
    EXPECT_FALSE(chomped->expand);
    const auto escaped = parse_heredoc("<<eo\\'f");
    ASSERT_TRUE(escaped);
    EXPECT_EQ(escaped->name, "eo'f");
    EXPECT_TRUE(escaped->expand);
}

TEST(AstTest, BomCrlfAndLeadingWhitespace) {
    const Ast ast = parse_ast("\xEF\xBB\xBF# escape=`\r\n   FROM a\r\nRUN x `\r\n  y\r\n", "Dockerfile");
    EXPECT_EQ(ast.escape, '`');
    ASSERT_EQ(ast.children.size(), 2u);
    EXPECT_EQ(dump(ast), "(from \"a\")\n(run \"x   y\")\n");
}

TEST(AstTest, OnbuildNestsItsInstruction) {
    const Ast ast = parse_ast("FROM a\nONBUILD RUN --mount=type=cache,target=/c echo hi\nONBUILD\n", "Dockerfile");
    EXPECT_EQ(dump(ast.children[1]), "onbuild (run [\"--mount=type=cache,target=/c\"] \"echo hi\")");
    EXPECT_EQ(dump(ast.children[2]), "onbuild");
}

TEST(AstTest, QuotingInDumpFollowsGo) {
    const Ast ast = parse_ast("FROM a\nLABEL a=\"\x01\xff\xc2\xa0\u00e9\"\n", "Dockerfile");
    EXPECT_EQ(dump(ast.children[1]), "label \"a\" \"\\\"\\x01\\xff\\u00a0\u00e9\\\"\" \"=\"");
}

TEST(AstTest, ErrorRendersSourceLine) {
    try {
        parse_ast("FROM a\nCMD [\"a\", 1]\n", "Dockerfile.dev");
        FAIL() << "must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.render(), "Dockerfile.dev:2: arrays must be comprised of strings only\n 2 | CMD [\"a\", 1]");
    }
}

}  // namespace
}  // namespace cbuild::parser

namespace cbuild::parser {
namespace {

TEST(AstTest, OnbuildChainsAreCappedNotRecursedWithoutLimit) {
    std::string dockerfile = "FROM a\n";
    for (int i = 0; i < 100000; ++i) dockerfile += "ONBUILD \\\n";
    dockerfile += "RUN x\n";
    try {
        parse_ast(dockerfile, "Dockerfile");
        FAIL() << "must fail";
    } catch (const ParseError& error) {
        EXPECT_EQ(error.message(), "ONBUILD instructions nested too deeply");
        EXPECT_EQ(error.line(), 2);
    }
    EXPECT_EQ(dump(parse_ast("FROM a\nONBUILD ONBUILD RUN x\n", "Dockerfile").children[1]),
              "onbuild (onbuild (run \"x\"))");
}

}  // namespace
}  // namespace cbuild::parser
