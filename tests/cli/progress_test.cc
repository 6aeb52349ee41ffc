// The progress displays on a scripted event sequence (plain and rawjson text, tty without a
// terminal, quiet), the step logs and records, and the failure box.

#include "cli/progress.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "cli/failure_display.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

namespace cbuild::cli {
namespace {

using builder::ProgressEvent;
using Kind = ProgressEvent::Kind;
using std::chrono::milliseconds;

const Clock::time_point k_t0 = Clock::time_point(std::chrono::seconds(1'700'000'000));

ProgressEvent at(int ms, ProgressEvent event) {
    event.time = k_t0 + milliseconds(ms);
    return event;
}

ProgressEvent started(int ms, const std::string& step, const std::string& description, std::size_t position,
                      int line) {
    return at(ms, {.kind = Kind::started,
                   .step = step,
                   .description = description,
                   .stage = "build",
                   .position = position,
                   .stage_steps = 2,
                   .file = "Dockerfile",
                   .line = line,
                   .end_line = line,
                   .depends_on = {}});
}

// Step 1 comes from the cache; step 2 runs, printing in chunks that split a line, while a pull
// goes on beside it.
std::vector<ProgressEvent> script() {
    return {
        started(0, "s1", "[build 1/2] COPY a /a", 1, 2),
        at(1, {.kind = Kind::cached, .step = "s1", .key = "sha256:aaa"}),
        at(2, {.kind = Kind::done, .step = "s1"}),
        started(10, "s2", "[build 2/2] RUN make", 2, 3),
        at(11, {.kind = Kind::cache_miss, .step = "s2", .key = "sha256:bbb", .text = "not built before"}),
        at(110, {.kind = Kind::output, .step = "s2", .text = "hello\nwor"}),
        at(210, {.kind = Kind::output, .step = "s2", .text = "ld\n"}),
        at(300, {.kind = Kind::started, .step = "pull r", .activity = ProgressEvent::Activity::pull,
                 .description = "pull r"}),
        at(400, {.kind = Kind::bytes, .step = "pull r", .blob = "sha256:0123456789abcdef0123", .done = 500, .total = 2000}),
        at(500, {.kind = Kind::bytes, .step = "pull r", .blob = "sha256:0123456789abcdef0123", .done = 2000, .total = 2000}),
        at(600, {.kind = Kind::done, .step = "pull r"}),
        at(700, {.kind = Kind::output, .step = "s2", .text = "no newline"}),
        at(1510, {.kind = Kind::done, .step = "s2"}),
    };
}

std::string render(ProgressMode mode, bool explain = false, bool finish = true) {
    std::ostringstream out;
    BuildProgress progress(make_progress_display(mode, out, false, explain), {});
    for (const ProgressEvent& event : script()) progress.handle(event);
    if (finish) progress.finish();
    return out.str();
}

TEST(ProgressModeTest, ParsesAndResolves) {
    EXPECT_EQ(parse_progress_mode("plain"), ProgressMode::plain);
    EXPECT_EQ(parse_progress_mode("rawjson"), ProgressMode::rawjson);
    EXPECT_THROW(parse_progress_mode("fancy"), UsageError);
    EXPECT_EQ(resolve_progress_mode(ProgressMode::automatic, true, false), ProgressMode::tty);
    EXPECT_EQ(resolve_progress_mode(ProgressMode::automatic, true, true), ProgressMode::plain) << "CI=true is plain";
    EXPECT_EQ(resolve_progress_mode(ProgressMode::automatic, false, false), ProgressMode::plain);
    EXPECT_EQ(resolve_progress_mode(ProgressMode::tty, false, false), ProgressMode::plain);
    EXPECT_EQ(resolve_progress_mode(ProgressMode::quiet, true, false), ProgressMode::quiet);
}

TEST(PlainDisplayTest, PrintsBuildKitLinesAndRepeatsTheHeaderAfterAnotherStep) {
    EXPECT_EQ(render(ProgressMode::plain),
              "#1 [build 1/2] COPY a /a\n"
              "#1 CACHED\n"
              "#1 DONE 0.0s\n"
              "\n"
              "#2 [build 2/2] RUN make\n"
              "#2 [build 2/2] RUN make: cache miss: not built before\n"
              "#2 0.100 hello\n"
              "#2 0.200 world\n"
              "\n"
              "#3 pull r\n"
              "#3 sha256:0123456789ab 2.0kB / 2.0kB done\n"
              "#3 DONE 0.3s\n"
              "\n"
              "#2 [build 2/2] RUN make\n"
              "#2 1.500 no newline\n"
              "#2 DONE 1.5s\n");
}

TEST(PlainDisplayTest, ExplainAddsKeys) {
    const std::string text = render(ProgressMode::plain, true);
    EXPECT_NE(text.find("#1 CACHED (key sha256:aaa)\n"), std::string::npos) << text;
    EXPECT_NE(text.find("cache miss: not built before (key sha256:bbb)\n"), std::string::npos) << text;
}

TEST(RawJsonDisplayTest, OneObjectPerEventWithTheDocumentedFields) {
    std::istringstream lines(render(ProgressMode::rawjson));
    std::vector<nlohmann::json> events;
    for (std::string line; std::getline(lines, line);) events.push_back(nlohmann::json::parse(line));
    ASSERT_EQ(events.size(), script().size());
    EXPECT_EQ(events[0]["kind"], "started");
    EXPECT_EQ(events[0]["time"], "2023-11-14T22:13:20.000Z");
    EXPECT_EQ(events[0]["number"], 1);
    EXPECT_EQ(events[0]["activity"], "build");
    EXPECT_EQ(events[0]["description"], "[build 1/2] COPY a /a");
    EXPECT_EQ(events[0]["file"], "Dockerfile");
    EXPECT_EQ(events[0]["line"], 2);
    EXPECT_EQ(events[1]["kind"], "cached");
    EXPECT_EQ(events[1]["key"], "sha256:aaa");
    EXPECT_EQ(events[4]["kind"], "cache_miss");
    EXPECT_EQ(events[4]["reason"], "not built before");
    EXPECT_EQ(events[5]["text"], "hello\nwor");
    EXPECT_EQ(events[7]["activity"], "pull");
    EXPECT_EQ(events[8]["kind"], "bytes");
    EXPECT_EQ(events[8]["done"], 500);
    EXPECT_EQ(events[8]["total"], 2000);
    EXPECT_EQ(events[12]["kind"], "done");
    EXPECT_EQ(events[12]["duration_ms"], 1500);
}

TEST(RawJsonDisplayTest, InvalidUtf8OutputIsReplacedNotFatal) {
    std::ostringstream out;
    BuildProgress progress(make_progress_display(ProgressMode::rawjson, out, false, false), {});
    progress.handle(started(0, "s", "[build 1/1] RUN x", 1, 2));
    progress.handle(at(1, {.kind = Kind::output, .step = "s", .text = "bad \xff byte\n"}));
    EXPECT_NE(out.str().find("bad \xef\xbf\xbd byte"), std::string::npos) << out.str();
}

TEST(TtyDisplayTest, WithoutATerminalPrintsOnlyAPlainSummaryAtTheEnd) {
    EXPECT_EQ(render(ProgressMode::tty, false, false), "") << "nothing is drawn while the build runs";
    const std::string text = render(ProgressMode::tty);
    EXPECT_EQ(text.find('\x1b'), std::string::npos) << text;
    EXPECT_NE(text.find("(3/3) FINISHED"), std::string::npos) << text;
    EXPECT_NE(text.find(" => CACHED [build 1/2] COPY a /a"), std::string::npos) << text;
    EXPECT_NE(text.find(" => [build 2/2] RUN make"), std::string::npos) << text;
    EXPECT_NE(text.find("2.0kB / 2.0kB"), std::string::npos) << text;
    EXPECT_NE(text.find("1.5s"), std::string::npos) << text;
}

TEST(TtyDisplayTest, OnATerminalRedrawsInPlace) {
    std::ostringstream out;
    auto display = make_progress_display(ProgressMode::tty, out, true, false);
    StepRecord step{.number = 1, .description = "[build 1/1] RUN make", .started = k_t0};
    display->event(at(0, {.kind = Kind::started, .step = "s"}), step);
    display->event(at(5, {.kind = Kind::output, .step = "s", .text = "compiling\n"}), step);
    display->tick(k_t0 + milliseconds(100));
    display->tick(k_t0 + milliseconds(200));
    const std::string text = out.str();
    EXPECT_NE(text.find(" => => # compiling"), std::string::npos) << text;
    EXPECT_NE(text.find("\x1b[3A"), std::string::npos) << "the second frame goes back over the first: " << text;
}

TEST(QuietDisplayTest, PrintsNothing) { EXPECT_EQ(render(ProgressMode::quiet), ""); }

TEST(BuildProgressTest, RecordsStepsAndWritesEachLogWhole) {
    test::TempDir dir;
    const std::filesystem::path logs = dir.path() / "logs";
    std::ostringstream out;
    BuildProgress progress(make_progress_display(ProgressMode::quiet, out, false, false), logs);
    const std::vector<ProgressEvent> events = script();
    for (std::size_t i = 0; i + 1 < events.size(); ++i) progress.handle(events[i]);
    EXPECT_TRUE(std::filesystem::exists(logs / "01-build-1.log"));
    EXPECT_FALSE(std::filesystem::exists(logs / "02-build-2.log")) << "a running step's log is not there yet";
    progress.handle(events.back());
    EXPECT_EQ(test::read_file(logs / "02-build-2.log"), "hello\nworld\nno newline");
    EXPECT_EQ(test::read_file(logs / "01-build-1.log"), "");
    std::size_t files = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator(logs)) ++files;
    EXPECT_EQ(files, 2u) << "no temporary files left, and no log for the pull";

    const std::vector<StepRecord> steps = progress.steps();
    ASSERT_EQ(steps.size(), 3u);
    EXPECT_TRUE(steps[0].cached);
    EXPECT_EQ(steps[1].key, "sha256:bbb");
    EXPECT_EQ(steps[1].miss_reason, "not built before");
    EXPECT_EQ(steps[1].finished - steps[1].started, milliseconds(1500));
    EXPECT_EQ(steps[2].bytes_done, 2000u);
    EXPECT_EQ(steps[2].bytes_total, 2000u);

    const nlohmann::json metadata = steps_metadata(steps);
    ASSERT_EQ(metadata.size(), 3u);
    EXPECT_EQ(metadata[1]["description"], "[build 2/2] RUN make");
    EXPECT_EQ(metadata[1]["cached"], false);
    EXPECT_EQ(metadata[1]["miss_reason"], "not built before");
    EXPECT_EQ(metadata[1]["started"], "2023-11-14T22:13:20.010Z");
    EXPECT_EQ(metadata[1]["finished"], "2023-11-14T22:13:21.510Z");
    EXPECT_EQ(metadata[1]["duration_ms"], 1500);
    EXPECT_EQ(metadata[1]["log"], (logs / "02-build-2.log").string());
    EXPECT_EQ(metadata[2]["activity"], "pull");
}

TEST(BuildProgressTest, AFailedStepKeepsItsErrorAndLog) {
    test::TempDir dir;
    std::ostringstream out;
    BuildProgress progress(make_progress_display(ProgressMode::plain, out, false, false), dir.path());
    progress.handle(started(0, "s", "[build 1/1] RUN false", 1, 2));
    progress.handle(at(5, {.kind = Kind::output, .step = "s", .text = "oops\n"}));
    progress.handle(at(9, {.kind = Kind::failed, .step = "s", .text = "process failed: exit code: 1\noops"}));
    EXPECT_NE(out.str().find("#1 ERROR: process failed: exit code: 1\n"), std::string::npos) << out.str();
    EXPECT_EQ(test::read_file(dir.path() / "01-build-1.log"), "oops\n");
    EXPECT_EQ(progress.steps()[0].state, StepRecord::State::failed);
}

TEST(FailureDisplayTest, MarksTheFailingLineWithItsContext) {
    const std::string dockerfile = "FROM busybox\nRUN one\nRUN two\nRUN false\nRUN four\nRUN five\nRUN six\n";
    const ParseError error("./Dockerfile", 4, 0,
                           "process \"/bin/sh -c false\" did not complete successfully: exit code: 1\nlast line",
                           "RUN false");
    EXPECT_EQ(render_build_failure(error, dockerfile, {"[stage-0 3/6] RUN false", 4}),
              "------\n"
              " > [stage-0 3/6] RUN false:\n"
              "last line\n"
              "------\n"
              "./Dockerfile:4\n"
              "--------------------\n"
              "   2 |     RUN one\n"
              "   3 |     RUN two\n"
              "   4 | >>> RUN false\n"
              "   5 |     RUN four\n"
              "   6 |     RUN five\n"
              "--------------------\n"
              "ERROR: failed to solve: process \"/bin/sh -c false\" did not complete successfully: exit code: 1");
}

TEST(FailureDisplayTest, MarksEveryLineOfAContinuedInstructionAndStopsAtTheEnds) {
    const std::string dockerfile = "FROM busybox\nRUN a && \\\n  false\n";
    const ParseError error("Dockerfile", 2, 0, "exit code: 1");
    EXPECT_EQ(render_build_failure(error, dockerfile, {"", 3}),
              "Dockerfile:2\n"
              "--------------------\n"
              "   1 |     FROM busybox\n"
              "   2 | >>> RUN a && \\\n"
              "   3 | >>>   false\n"
              "--------------------\n"
              "ERROR: failed to solve: exit code: 1");
}

TEST(FailureDisplayTest, WithoutTheTextNamesFileAndLine) {
    const ParseError error("Dockerfile (ONBUILD of base)", 1, 0, "exit code: 2");
    EXPECT_EQ(render_build_failure(error, "", {}),
              "ERROR: failed to solve: Dockerfile (ONBUILD of base):1: exit code: 2");
}

TEST(FormatBytesTest, DecimalUnits) {
    EXPECT_EQ(format_bytes(17), "17B");
    EXPECT_EQ(format_bytes(532'000), "532.0kB");
    EXPECT_EQ(format_bytes(1'200'000), "1.2MB");
}

}  // namespace
}  // namespace cbuild::cli
