// The dependency rule of ARCHITECTURE.md, checked on every #include of the source tree:
// common ← parser, cache, registry (not on each other) ← builder ← cli; builder/sandbox and
// builder/snapshot are mechanisms that know nothing of plans, solving or the cache.

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>

#include "tests/support/shared_data.h"

namespace cbuild {
namespace {

namespace fs = std::filesystem;

// The folders of ours that files under each folder may include (besides third-party headers).
const std::vector<std::pair<std::string, std::set<std::string>>> k_allowed = {
    {"builder/sandbox", {"common", "builder/snapshot", "builder/sandbox"}},
    {"builder/snapshot", {"common", "builder/snapshot"}},
    {"builder/copy", {"common", "parser", "builder/snapshot", "builder/copy"}},
    {"builder", {"common", "parser", "cache", "registry", "builder"}},
    {"common", {"common"}},
    {"parser", {"common", "parser"}},
    {"cache", {"common", "cache"}},
    {"registry", {"common", "registry"}},
};

const std::set<std::string> k_our_folders = {"common", "parser", "cache", "registry", "builder", "cli", "tests", "bench"};

bool starts_with_folder(const std::string& path, const std::string& folder) {
    return path == folder || path.rfind(folder + "/", 0) == 0;
}

TEST(DepcheckTest, NoForbiddenIncludes) {
    const fs::path root = test::source_dir();
    const std::regex include_line(R"re(^\s*#\s*include\s*"([^"]+)")re");
    std::vector<std::string> violations;
    int files = 0;
    for (const auto& [folder, allowed] : k_allowed) {
        if (!fs::exists(root / folder)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
            const std::string ext = entry.path().extension().string();
            if (ext != ".h" && ext != ".cc") continue;
            const std::string relative = fs::relative(entry.path(), root).generic_string();
            // A file is judged by the most specific folder that owns it.
            bool owned_elsewhere = false;
            for (const auto& [other, unused] : k_allowed)
                if (other != folder && other.size() > folder.size() && starts_with_folder(relative, other))
                    owned_elsewhere = true;
            if (owned_elsewhere) continue;
            ++files;
            std::ifstream in(entry.path());
            for (std::string line; std::getline(in, line);) {
                std::smatch match;
                if (!std::regex_search(line, match, include_line)) continue;
                const std::string included = match[1];
                const std::string top = included.substr(0, included.find('/'));
                if (!k_our_folders.count(top)) continue;
                bool ok = false;
                for (const std::string& allowed_folder : allowed)
                    if (starts_with_folder(included, allowed_folder)) ok = true;
                if (!ok) violations.push_back(relative + " includes " + included);
            }
        }
    }
    EXPECT_GT(files, 10) << "the walk found too few files to mean anything";
    EXPECT_TRUE(violations.empty()) << [&] {
        std::string all;
        for (const auto& v : violations) all += v + "\n";
        return all;
    }();
}

TEST(DepcheckTest, InternalHeadersStayInsideTheirModule) {
    const fs::path root = test::source_dir();
    const std::regex include_line(R"re(^\s*#\s*include\s*"(([a-z_]+)/.*internal/[^"]+)")re");
    std::vector<std::string> violations;
    for (const std::string folder : {"common", "parser", "cache", "registry", "builder", "cli"}) {
        if (!fs::exists(root / folder)) continue;
        for (const auto& entry : fs::recursive_directory_iterator(root / folder)) {
            if (!entry.is_regular_file()) continue;
            std::ifstream in(entry.path());
            for (std::string line; std::getline(in, line);) {
                std::smatch match;
                if (std::regex_search(line, match, include_line) && match[2] != folder)
                    violations.push_back(fs::relative(entry.path(), root).generic_string() + " includes " +
                                         match[1].str());
            }
        }
    }
    EXPECT_TRUE(violations.empty()) << (violations.empty() ? "" : violations.front());
}

}  // namespace
}  // namespace cbuild
