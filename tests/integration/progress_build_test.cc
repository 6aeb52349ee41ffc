// What a build shows and records: plain and rawjson progress, -q, step logs, per-step metadata,
// the timeline page, pull and push progress, and a failing RUN shown with its Dockerfile lines.

#include <gtest/gtest.h>

#include <regex>
#include <sstream>

#include "tests/integration/busybox_build_fixture.h"

namespace cbuild {
namespace {

using test::run_command;
using test::shell_quote;
using test::write_file;

using ProgressBuildTest = test::BusyboxBuildTest;

bool has_line(const std::string& text, const std::string& pattern) {
    return std::regex_search(text, std::regex(pattern, std::regex::multiline));
}

std::size_t count(const std::string& text, const std::string& needle) {
    std::size_t found = 0;
    for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) ++found;
    return found;
}

std::vector<nlohmann::json> json_lines(const std::string& text) {
    std::vector<nlohmann::json> events;
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (!line.empty() && line.front() == '{') events.push_back(nlohmann::json::parse(line));
    return events;
}

const char* const k_two_steps =
    "FROM BASE\n"
    "COPY a.txt /a.txt\n"
    "RUN echo line-one && echo line-two >&2 && cat /a.txt\n";

TEST_F(ProgressBuildTest, PlainProgressLogsMetadataAndTimeline) {
    write_file(m_context / "a.txt", "from-a\n");
    const auto built =
        build(k_two_steps, "--progress=plain --log-dir logs --metadata-file meta.json --timeline tl.html -t progress/plain:1");
    ASSERT_EQ(built.status, 0) << built.output;
    const std::string& out = built.output;
    EXPECT_TRUE(has_line(out, R"(^#\d+ \[stage-0 1/2\] COPY a.txt /a.txt$)")) << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ \[stage-0 2/2\] RUN echo line-one .*: cache miss: )")) << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ \d+\.\d{3} line-one$)")) << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ \d+\.\d{3} line-two$)")) << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ \d+\.\d{3} from-a$)")) << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ DONE \d+\.\ds$)")) << out;
    EXPECT_EQ(out.find('\x1b'), std::string::npos) << "no control codes when stderr is not a terminal";

    // One whole log per step, named by number, stage and position.
    std::map<std::string, std::string> logs;
    for (const auto& entry : std::filesystem::directory_iterator(m_context / "logs"))
        logs[entry.path().filename().string()] = test::read_file(entry.path());
    ASSERT_EQ(logs.size(), 2u);
    const std::string run_log = logs.rbegin()->second;
    EXPECT_TRUE(std::regex_match(logs.rbegin()->first, std::regex(R"(\d\d-stage-0-2\.log)"))) << logs.rbegin()->first;
    EXPECT_NE(run_log.find("line-one\n"), std::string::npos) << run_log;
    EXPECT_NE(run_log.find("line-two\n"), std::string::npos) << run_log;

    const nlohmann::json metadata = nlohmann::json::parse(test::read_file(m_context / "meta.json"));
    EXPECT_TRUE(metadata.contains("containerimage.config.digest"));
    std::vector<nlohmann::json> steps;
    for (const nlohmann::json& step : metadata["cbuild.steps"])
        if (step["activity"] == "build") steps.push_back(step);
    ASSERT_EQ(steps.size(), 2u) << metadata.dump(2);
    for (const nlohmann::json& step : steps) {
        EXPECT_EQ(step["cached"], false);
        EXPECT_EQ(step["state"], "done");
        EXPECT_EQ(step["key"].get<std::string>().rfind("sha256:", 0), 0u);
        EXPECT_TRUE(step.contains("miss_reason"));
        EXPECT_TRUE(std::regex_match(step["started"].get<std::string>(),
                                     std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
        EXPECT_TRUE(step.contains("finished"));
    }
    EXPECT_EQ(steps[1]["description"], "[stage-0 2/2] RUN echo line-one && echo line-two >&2 && cat /a.txt");
    EXPECT_EQ(steps[1]["line"], 3);

    const std::string page = test::read_file(m_context / "tl.html");
    const std::size_t begin = page.find("id=\"timeline-data\">") + 19;
    const nlohmann::json data = nlohmann::json::parse(page.substr(begin, page.find("</script>", begin) - begin));
    EXPECT_EQ(data["steps"].size(), metadata["cbuild.steps"].size());
    EXPECT_EQ(data["steps"].back()["critical"], true);

    // The same build again: every step from the cache, said once per step.
    const auto again = build(k_two_steps, "--progress=plain --metadata-file meta2.json -t progress/plain:2");
    ASSERT_EQ(again.status, 0) << again.output;
    EXPECT_EQ(count(again.output, "CACHED"), 2u) << again.output;
    EXPECT_FALSE(has_line(again.output, R"(^#\d+ \d+\.\d{3} line-one$)")) << "a cached RUN runs nothing: " << again.output;
    const nlohmann::json cached = nlohmann::json::parse(test::read_file(m_context / "meta2.json"));
    for (const nlohmann::json& step : cached["cbuild.steps"])
        if (step["activity"] == "build") {
            EXPECT_EQ(step["cached"], true) << cached.dump(2);
        }
    EXPECT_TRUE(std::filesystem::is_directory(m_context / "meta2.json.logs")) << "logs beside the metadata file";
}

TEST_F(ProgressBuildTest, RawJsonIsOneObjectPerEvent) {
    const auto built = build("FROM BASE\nRUN echo raw-output\n", "--progress=rawjson -t progress/raw:1");
    ASSERT_EQ(built.status, 0) << built.output;
    std::set<std::string> kinds;
    bool saw_output = false;
    for (const nlohmann::json& event : json_lines(built.output)) {
        kinds.insert(event["kind"].get<std::string>());
        EXPECT_TRUE(event.contains("time") && event.contains("step") && event.contains("number")) << event.dump();
        if (event["kind"] == "output" && event["text"].get<std::string>().find("raw-output") != std::string::npos)
            saw_output = true;
    }
    EXPECT_TRUE(saw_output) << built.output;
    for (const char* kind : {"started", "cache_miss", "output", "done"}) EXPECT_TRUE(kinds.count(kind)) << kind;
    EXPECT_EQ(built.output.find("#1 "), std::string::npos) << "no plain lines: " << built.output;
}

TEST_F(ProgressBuildTest, QuietPrintsOnlyTheImageId) {
    write_file(m_context / "Dockerfile", "FROM " + s_base + "\nRUN echo not-shown\n");
    const auto ran = run_command(test::cbuild_binary().string() + " --root " + shell_quote(store().string()) +
                                     " -q -t progress/quiet:1 . 2>stderr.txt",
                                 m_context);
    ASSERT_EQ(ran.status, 0) << ran.output << test::read_file(m_context / "stderr.txt");
    EXPECT_TRUE(std::regex_match(ran.output, std::regex("sha256:[0-9a-f]{64}\n"))) << ran.output;
    EXPECT_EQ(manifest("progress/quiet:1")["config"]["digest"].get<std::string>() + "\n", ran.output);
    EXPECT_EQ(test::read_file(m_context / "stderr.txt"), "");
}

TEST_F(ProgressBuildTest, FailingRunShowsTheDockerfileLinesWithTheStepMarked) {
    const auto built = build("FROM BASE\nRUN echo one\nRUN echo about-to-fail && exit 7\nRUN echo never\n",
                             "--progress=plain --log-dir logs -t progress/fails:1");
    EXPECT_EQ(built.status, 1) << built.output;
    const std::string& out = built.output;
    EXPECT_NE(out.find(" > [stage-0 2/3] RUN echo about-to-fail && exit 7:\nabout-to-fail\n------\n"), std::string::npos)
        << out;
    EXPECT_NE(out.find("Dockerfile:3\n--------------------\n"), std::string::npos) << out;
    EXPECT_NE(out.find("   1 |     FROM "), std::string::npos) << out;
    EXPECT_NE(out.find("   2 |     RUN echo one\n   3 | >>> RUN echo about-to-fail && exit 7\n   4 |     RUN echo never\n"),
              std::string::npos)
        << out;
    EXPECT_NE(out.find("ERROR: failed to solve: process \"/bin/sh -c echo about-to-fail && exit 7\" did not complete "
                       "successfully: exit code: 7"),
              std::string::npos)
        << out;
    EXPECT_TRUE(has_line(out, R"(^#\d+ ERROR: process )")) << out;
    std::string failed_log;
    for (const auto& entry : std::filesystem::directory_iterator(m_context / "logs"))
        if (entry.path().filename().string().find("-stage-0-2.log") != std::string::npos)
            failed_log = test::read_file(entry.path());
    EXPECT_EQ(failed_log, "about-to-fail\n");
}

TEST_F(ProgressBuildTest, PullAndPushReportTheirBytes) {
    const std::string target = s_registry->host() + "/progress/pushed:1";
    write_file(m_context / "Dockerfile", "FROM " + s_base + "\nRUN echo pushed > /pushed\n");
    const auto built = test::run_cbuild(
        "--root " + shell_quote((m_dir.path() / "fresh-store").string()) + " --progress=rawjson --push -t " + target + " .",
        m_context);
    ASSERT_EQ(built.status, 0) << built.output;
    std::map<std::string, std::string> activity;  // step → activity
    std::map<std::string, std::uint64_t> bytes;    // activity → bytes reported done
    std::set<std::string> done;
    for (const nlohmann::json& event : json_lines(built.output)) {
        const std::string step = event["step"];
        if (event["kind"] == "started") activity[step] = event["activity"];
        if (event["kind"] == "bytes" && event["done"] == event["total"]) bytes[activity[step]] += event["done"].get<std::uint64_t>();
        if (event["kind"] == "done") done.insert(activity[step]);
    }
    EXPECT_GT(bytes["pull"], 0u) << built.output;
    EXPECT_GT(bytes["push"], 0u) << built.output;
    EXPECT_TRUE(done.count("pull") && done.count("push") && done.count("build")) << built.output;
}

}  // namespace
}  // namespace cbuild
