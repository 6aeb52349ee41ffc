// The timeline: its data and critical path from scripted step records, and the page drawn by a
// real headless Chromium (one bar per step, no script errors).

#include "cli/timeline.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <regex>

#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cli {
namespace {

using Activity = builder::ProgressEvent::Activity;
using std::chrono::milliseconds;

const Clock::time_point k_t0 = Clock::time_point(std::chrono::seconds(1'700'000'000));

StepRecord step(std::size_t number, const std::string& id, int start_ms, int end_ms,
                std::vector<std::string> depends_on, Activity activity = Activity::build, bool cached = false) {
    return StepRecord{.number = number,
                      .id = id,
                      .activity = activity,
                      .description = "[" + id + "] step",
                      .depends_on = std::move(depends_on),
                      .cached = cached,
                      .state = StepRecord::State::done,
                      .started = k_t0 + milliseconds(start_ms),
                      .finished = k_t0 + milliseconds(end_ms)};
}

// A pull, two stages from it (a long one and a short one), a final stage copying from both,
// and a push.
std::vector<StepRecord> build() {
    return {
        step(1, "pull base", 0, 100, {}, Activity::pull),
        step(2, "long-1", 100, 900, {"pull base"}),
        step(3, "short-1", 100, 200, {"pull base"}, Activity::build, true),
        step(4, "short-2", 200, 300, {"short-1"}),
        step(5, "final-1", 900, 1000, {"long-1", "short-2"}),
        step(6, "final-2", 1000, 1200, {"final-1", "not-reported"}),
        step(7, "push out", 1250, 1500, {}, Activity::push),
    };
}

TEST(TimelineTest, CriticalPathFollowsTheDependencyThatEndedLast) {
    EXPECT_EQ(critical_path(build()),
              (std::vector<std::string>{"pull base", "long-1", "final-1", "final-2", "push out"}));
    EXPECT_TRUE(critical_path({}).empty());
}

TEST(TimelineTest, DataHasOneEntryPerStepWithKindsAndTimes) {
    const nlohmann::json data = nlohmann::json::parse(timeline_data(build()));
    EXPECT_EQ(data["total_ms"], 1500.0);
    ASSERT_EQ(data["steps"].size(), 7u);
    const nlohmann::json& steps = data["steps"];
    EXPECT_EQ(steps[0]["kind"], "pull");
    EXPECT_EQ(steps[1]["kind"], "run");
    EXPECT_EQ(steps[2]["kind"], "cached");
    EXPECT_EQ(steps[6]["kind"], "push");
    EXPECT_EQ(steps[1]["start_ms"], 100.0);
    EXPECT_EQ(steps[1]["end_ms"], 900.0);
    EXPECT_EQ(steps[1]["duration_ms"], 800.0);
    EXPECT_EQ(steps[1]["critical"], true);
    EXPECT_EQ(steps[2]["critical"], false);
    EXPECT_EQ(steps[4]["depends_on"], nlohmann::json({"long-1", "short-2"}));
}

TEST(TimelineTest, ARunningStepEndsAtTheLastKnownTimeAndAFailedOneIsMarked) {
    std::vector<StepRecord> steps = build();
    steps[3].state = StepRecord::State::running;
    steps[5].state = StepRecord::State::failed;
    const nlohmann::json data = nlohmann::json::parse(timeline_data(steps));
    EXPECT_EQ(data["steps"][3]["end_ms"], 1500.0);
    EXPECT_EQ(data["steps"][5]["kind"], "failed");
}

TEST(TimelineTest, LabelsCannotCloseTheScriptElement) {
    std::vector<StepRecord> steps = build();
    steps[1].description = "[x 1/1] RUN echo '</script><script>alert(1)</script>' <!--";
    const std::string page = timeline_html(steps);
    EXPECT_EQ(page.find("</script><script>alert"), std::string::npos);
    EXPECT_EQ(page.find("<!-- "), std::string::npos);
    const std::size_t begin = page.find("id=\"timeline-data\">") + 19;
    const nlohmann::json data = nlohmann::json::parse(page.substr(begin, page.find("</script>", begin) - begin));
    EXPECT_EQ(data["steps"][1]["label"], steps[1].description);
}

TEST(TimelineTest, ChromiumDrawsOneBarPerStepWithoutErrors) {
    std::string browser;
    for (const char* name : {"chromium", "chromium-browser"})
        if (test::have_program(name)) browser = name;
    if (browser.empty()) {
        if (test::in_ci()) FAIL() << "chromium is not installed (scripts/install-deps installs it)";
        GTEST_SKIP() << "chromium is not installed";
    }
    test::TempDir dir;
    const std::filesystem::path page = dir.path() / "timeline.html";
    std::vector<StepRecord> steps = build();
    steps[1].description = "[x 1/1] RUN echo \"quoted\" & <b>bold</b> \xc3\xa9";
    write_timeline(page, steps);
    const test::CommandResult dumped = test::run_command(
        browser + " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking"
                  " --disable-component-update --disable-sync --user-data-dir=" +
        test::shell_quote((dir.path() / "profile").string()) + " --dump-dom " +
        test::shell_quote("file://" + page.string()) + " 2>/dev/null");
    ASSERT_EQ(dumped.status, 0) << dumped.output;
    const std::string& dom = dumped.output;
    EXPECT_EQ(dom.find("data-errors=\""), std::string::npos) << "the page's script failed: " << dom;
    const std::regex bar("<rect [^>]*class=\"bar ");
    const auto bars = std::distance(std::sregex_iterator(dom.begin(), dom.end(), bar), std::sregex_iterator());
    EXPECT_EQ(bars, 7) << dom;
    EXPECT_NE(dom.find("data-bars=\"7\""), std::string::npos) << dom;
    EXPECT_NE(dom.find("class=\"bar run critical\""), std::string::npos) << dom;
}

}  // namespace
}  // namespace cbuild::cli
