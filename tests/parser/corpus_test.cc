// The 1,479 real-world Dockerfiles of ../shared/corpus: every one parses to a syntax tree;
// every one but the recorded deliberate failures parses to typed stages; planning any of them
// either succeeds or fails with a located cbuild error, never anything else.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "builder/plan/plan.h"
#include "common/error.h"
#include "parser/ast.h"
#include "parser/dockerfile.h"
#include "tests/support/shared_data.h"

namespace cbuild::parser {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> corpus_files() {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(test::shared_dir() / "corpus")) {
        const std::string name = entry.path().filename().string();
        if (name == "INDEX.tsv" || name == "SOURCES.tsv" || name.rfind("README", 0) == 0) continue;
        files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    return files;
}

// testdata/corpus/expected_rejections.tsv: file → a fragment of the expected message.
std::map<std::string, std::string> expected_rejections() {
    std::map<std::string, std::string> rejections;
    std::ifstream in(test::source_dir() / "testdata" / "corpus" / "expected_rejections.tsv");
    for (std::string line; std::getline(in, line);) {
        if (line.empty() || line[0] == '#') continue;
        const std::size_t tab = line.find('\t');
        rejections[line.substr(0, tab)] = line.substr(tab + 1);
    }
    return rejections;
}

TEST(CorpusTest, EveryFileParsesToASyntaxTree) {
    const auto files = corpus_files();
    ASSERT_EQ(files.size(), 1479u);
    for (const fs::path& file : files) {
        EXPECT_NO_THROW(parse_ast(test::read_file(file), file.filename().string())) << file.filename();
    }
}

TEST(CorpusTest, EveryFileButTheDeliberateFailuresParsesToStages) {
    const auto rejections = expected_rejections();
    ASSERT_EQ(rejections.size(), 20u);
    std::size_t parsed = 0;
    for (const fs::path& file : corpus_files()) {
        const std::string name = file.filename().string();
        const auto expected = rejections.find(name);
        try {
            const Dockerfile dockerfile = parse_dockerfile(test::read_file(file), name);
            EXPECT_FALSE(dockerfile.stages.empty()) << name;
            EXPECT_EQ(expected, rejections.end()) << name << " parsed, but it is recorded as rejected";
            ++parsed;
        } catch (const ParseError& error) {
            ASSERT_NE(expected, rejections.end()) << error.render();
            EXPECT_NE(std::string(error.what()).find(expected->second), std::string::npos) << error.what();
            EXPECT_EQ(error.file(), name);
            EXPECT_GT(error.line(), 0) << error.what();
        }
    }
    EXPECT_EQ(parsed, 1459u);
}

TEST(CorpusTest, PlanningSucceedsOrFailsWithALocatedError) {
    builder::BuildRequest request;
    request.build_platform = request.target_platform = builder::Platform::parse("linux/amd64");
    std::size_t planned = 0;
    for (const fs::path& file : corpus_files()) {
        const std::string name = file.filename().string();
        Dockerfile dockerfile;
        try {
            dockerfile = parse_dockerfile(test::read_file(file), name);
        } catch (const ParseError&) {
            continue;  // covered above
        }
        try {
            builder::make_plan(dockerfile, request);
            ++planned;
        } catch (const ParseError& error) {
            EXPECT_GT(error.line(), 0) << error.what();  // e.g. `FROM $BASE` without --build-arg BASE
        }
    }
    EXPECT_GT(planned, 1400u);
}

}  // namespace
}  // namespace cbuild::parser
