#pragma once
// How a build shows what it does (--progress, as `docker buildx build`): BuildKit's plain lines,
// the redrawn tty view, one JSON object per event, or nothing; the full log of each step
// (--log-dir); and the record of each step that --metadata-file and --timeline are made from.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json_fwd.hpp>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "builder/solve/progress_event.h"
#include "common/atomic_file.h"

namespace cbuild::cli {

enum class ProgressMode { automatic, tty, plain, rawjson, quiet };

// "auto", "tty", "plain", "rawjson" or "quiet". Throws cbuild::UsageError for anything else.
ProgressMode parse_progress_mode(const std::string& text);

// What `mode` means here: auto is tty when stderr is a terminal and CI is not set to "true",
// else plain; tty on something that is not a terminal, or under CI, is plain too.
ProgressMode resolve_progress_mode(ProgressMode mode, bool terminal, bool ci);

using Clock = std::chrono::system_clock;

// One step of the build (a Dockerfile instruction, or an image pulled or pushed), assembled from
// its events.
struct StepRecord {
    enum class State { running, done, failed };

    std::size_t number = 0;  // #N: steps are numbered from 1 in the order they started
    std::string id{};          // ProgressEvent::step
    builder::ProgressEvent::Activity activity = builder::ProgressEvent::Activity::build;
    std::string description{};
    std::string stage{};
    std::size_t position = 0;
    std::size_t stage_steps = 0;
    std::string file{};
    int line = 0;
    int end_line = 0;
    std::vector<std::string> depends_on{};
    std::string key{};          // the cache key, when the step has one
    bool cached = false;
    std::string miss_reason{};  // why it was not taken from the cache
    State state = State::running;
    std::string error{};
    Clock::time_point started{};
    Clock::time_point finished{};  // set when done or failed
    std::uint64_t bytes_done = 0;   // transfers: summed over their blobs
    std::uint64_t bytes_total = 0;
    std::filesystem::path log{};  // the step's log file (--log-dir), once written
};

// Renders events as they come. Called one event at a time (BuildProgress serializes).
class ProgressDisplay {
public:
    virtual ~ProgressDisplay() = default;
    // `step` is the step's record with the event applied.
    virtual void event(const builder::ProgressEvent& event, const StepRecord& step) = 0;
    // Time passes (about 10 times a second, only when wants_ticks()): redraw what depends on it.
    virtual void tick(Clock::time_point) {}
    virtual bool wants_ticks() const { return false; }
    // The build has ended, successfully or not: the last output.
    virtual void finish(const std::vector<StepRecord>&) {}
};

// rawjson writes one JSON object per line per event, with the fields that event has:
//   time         RFC 3339 with ms (UTC), when the event happened
//   kind         "started", "cached", "cache_miss", "output", "bytes", "done", "failed"
//   step         the step's id (stable over its events); number: its #N
//   started:     activity ("build", "pull", "push"), description, stage, position,
//                stage_steps, file, line (Dockerfile steps), depends_on (step ids)
//   cached:      key;  cache_miss: key, reason;  output: text (invalid UTF-8 replaced)
//   bytes:       blob (digest), done, total (bytes of that blob)
//   done:        duration_ms;  failed: duration_ms, error
// The display for a resolved `mode` (not automatic), writing to `out`. `terminal` says whether
// `out` is a terminal: only then does the tty display write control codes (otherwise it prints
// its final summary once, as plain text). `explain` adds cache keys to the plain lines.
std::unique_ptr<ProgressDisplay> make_progress_display(ProgressMode mode, std::ostream& out, bool terminal,
                                                       bool explain);

// The consumer of a build's events: keeps a StepRecord per step, writes each build step's
// output to `log_dir` (when not empty) as `NN-STAGE-POSITION.log` (NN the step number, e.g.
// `03-build-2.log`; ONBUILD triggers `NN-STAGE-onbuild.log`), each file appearing whole when
// its step ends, and hands each event to the display. Thread-safe.
class BuildProgress {
public:
    // Creates `log_dir` when it is missing; throws cbuild::IoError naming it when it cannot.
    BuildProgress(std::unique_ptr<ProgressDisplay> display, std::filesystem::path log_dir);
    ~BuildProgress();
    BuildProgress(const BuildProgress&) = delete;
    BuildProgress& operator=(const BuildProgress&) = delete;

    // A sink feeding this object, for SolveOptions::progress and the transfers.
    builder::ProgressSink sink();
    // Throws cbuild::IoError when a step's log cannot be written.
    void handle(const builder::ProgressEvent& event);
    // Stops the redrawing and lets the display print its end; later events are only recorded.
    void finish();
    // Every step so far, by number.
    std::vector<StepRecord> steps() const;

private:
    struct Log {
        std::unique_ptr<AtomicFile> file;
        std::filesystem::path path;
    };

    std::unique_ptr<ProgressDisplay> m_display;
    std::filesystem::path m_log_dir;
    mutable std::mutex m_mutex;
    std::vector<StepRecord> m_steps;
    std::map<std::string, std::size_t> m_numbers;  // step id → index in m_steps
    std::map<std::string, std::map<std::string, std::uint64_t>> m_blob_bytes;  // transfer → blob → done
    std::map<std::string, std::map<std::string, std::uint64_t>> m_blob_totals;  // transfer → blob → size
    std::map<std::size_t, Log> m_logs;  // by index in m_steps, while the step runs
    bool m_finished = false;
    std::condition_variable m_wake;
    std::jthread m_ticker;
};

// An RFC 3339 time in UTC with milliseconds: "2026-11-22T17:55:01.042Z".
std::string rfc3339_ms(Clock::time_point time);

// The per-step record that --metadata-file keeps under "cbuild.steps": one object per step
// with number, description, activity, stage, file, line, key, cached, miss_reason, state,
// error, started, finished (RFC 3339 with ms), duration_ms and log.
nlohmann::json steps_metadata(const std::vector<StepRecord>& steps);

// "1.2MB", "532kB", "17B": sizes as BuildKit prints them (decimal units).
std::string format_bytes(std::uint64_t bytes);

}  // namespace cbuild::cli
