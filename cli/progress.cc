#include "cli/progress.h"

#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <deque>
#include <optional>
#include <nlohmann/json.hpp>

#include "cli/human_size.h"
#include "common/error.h"

namespace cbuild::cli {

using builder::ProgressEvent;
using Kind = builder::ProgressEvent::Kind;

ProgressMode parse_progress_mode(const std::string& text) {
    if (text == "auto") return ProgressMode::automatic;
    if (text == "tty") return ProgressMode::tty;
    if (text == "plain") return ProgressMode::plain;
    if (text == "rawjson") return ProgressMode::rawjson;
    if (text == "quiet") return ProgressMode::quiet;
    throw UsageError("invalid --progress `" + text + "`: expected auto, tty, plain, rawjson or quiet");
}

ProgressMode resolve_progress_mode(ProgressMode mode, bool terminal, bool ci) {
    if (mode == ProgressMode::automatic || mode == ProgressMode::tty)
        return terminal && !ci ? ProgressMode::tty : ProgressMode::plain;
    return mode;
}

std::string rfc3339_ms(Clock::time_point time) {
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(time.time_since_epoch()).count();
    const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char text[96];  // room for any int the fields could hold, so the compiler sees no truncation
    std::snprintf(text, sizeof text, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900, utc.tm_mon + 1,
                  utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec, static_cast<int>(ms % 1000));
    return text;
}

std::string format_bytes(std::uint64_t bytes) { return human_size(bytes, "%.1f"); }

namespace {

double seconds_between(Clock::time_point from, Clock::time_point to) {
    return std::chrono::duration<double>(to - from).count();
}

std::string format_seconds(double seconds, const char* format) {
    char text[32];
    std::snprintf(text, sizeof text, format, std::max(0.0, seconds));
    return text;
}

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

const char* activity_name(ProgressEvent::Activity activity) {
    switch (activity) {
    case ProgressEvent::Activity::pull: return "pull";
    case ProgressEvent::Activity::push: return "push";
    case ProgressEvent::Activity::build: break;
    }
    return "build";
}

// Output arrives in chunks that need not end at a line: the unfinished tail waits for the rest.
class LineSplitter {
public:
    // Appends `text` to `number`'s pending output; returns the lines it completed.
    std::vector<std::string> add(std::size_t number, std::string_view text) {
        std::string& pending = m_pending[number];
        pending += text;
        std::vector<std::string> lines;
        std::size_t start = 0;
        for (std::size_t newline; (newline = pending.find('\n', start)) != std::string::npos; start = newline + 1)
            lines.push_back(pending.substr(start, newline - start));
        pending.erase(0, start);
        return lines;
    }
    // What is left of `number`'s output without a final newline.
    std::optional<std::string> flush(std::size_t number) {
        const auto it = m_pending.find(number);
        if (it == m_pending.end()) return std::nullopt;
        std::string rest = std::move(it->second);
        m_pending.erase(it);
        if (rest.empty()) return std::nullopt;
        return rest;
    }

private:
    std::map<std::size_t, std::string> m_pending;
};

// BuildKit's plain progress: `#N` lines, the step's header again whenever another step's lines
// came in between.
class PlainDisplay final : public ProgressDisplay {
public:
    PlainDisplay(std::ostream& out, bool explain) : m_out(out), m_explain(explain) {}

    void event(const ProgressEvent& event, const StepRecord& step) override {
        const std::string tag = "#" + std::to_string(step.number) + " ";
        switch (event.kind) {
        case Kind::started: header(step); break;
        case Kind::cached:
            header(step);
            m_out << tag << "CACHED" << (m_explain ? " (key " + event.key + ")" : "") << "\n";
            break;
        case Kind::cache_miss:
            header(step);
            m_out << tag << step.description << ": cache miss: " << event.text
                  << (m_explain ? " (key " + event.key + ")" : "") << "\n";
            break;
        case Kind::output:
            for (const std::string& line : m_lines.add(step.number, event.text)) output_line(step, event.time, line);
            break;
        case Kind::bytes:
            if (event.done == event.total) {
                header(step);
                m_out << tag << event.blob.substr(0, 19) << " " << format_bytes(event.done) << " / "
                      << format_bytes(event.total) << " done\n";
            }
            break;
        case Kind::done:
            flush(step, event.time);
            header(step);
            m_out << tag << "DONE " << format_seconds(seconds_between(step.started, event.time), "%.1fs") << "\n";
            break;
        case Kind::failed:
            flush(step, event.time);
            header(step);
            m_out << tag << "ERROR: " << first_line(event.text) << "\n";
            break;
        }
        m_out.flush();
    }

private:
    void header(const StepRecord& step) {
        if (m_current == step.number) return;
        if (m_current != 0) m_out << "\n";
        m_out << "#" << step.number << " " << step.description << "\n";
        m_current = step.number;
    }
    void output_line(const StepRecord& step, Clock::time_point time, const std::string& line) {
        header(step);
        m_out << "#" << step.number << " " << format_seconds(seconds_between(step.started, time), "%.3f") << " "
              << line << "\n";
    }
    void flush(const StepRecord& step, Clock::time_point time) {
        if (const auto rest = m_lines.flush(step.number)) output_line(step, time, *rest);
    }

    std::ostream& m_out;
    bool m_explain;
    std::size_t m_current = 0;
    LineSplitter m_lines;
};

class RawJsonDisplay final : public ProgressDisplay {
public:
    explicit RawJsonDisplay(std::ostream& out) : m_out(out) {}

    void event(const ProgressEvent& event, const StepRecord& step) override {
        nlohmann::json line = {{"time", rfc3339_ms(event.time)}, {"step", event.step}, {"number", step.number}};
        const auto duration_ms = [&] {
            return std::chrono::duration_cast<std::chrono::milliseconds>(event.time - step.started).count();
        };
        switch (event.kind) {
        case Kind::started:
            line["kind"] = "started";
            line["activity"] = activity_name(event.activity);
            line["description"] = event.description;
            if (event.activity == ProgressEvent::Activity::build) {
                line["stage"] = event.stage;
                line["position"] = event.position;
                line["stage_steps"] = event.stage_steps;
                line["file"] = event.file;
                line["line"] = event.line;
            }
            line["depends_on"] = event.depends_on;
            break;
        case Kind::cached:
            line["kind"] = "cached";
            line["key"] = event.key;
            break;
        case Kind::cache_miss:
            line["kind"] = "cache_miss";
            line["key"] = event.key;
            line["reason"] = event.text;
            break;
        case Kind::output:
            line["kind"] = "output";
            line["text"] = event.text;
            break;
        case Kind::bytes:
            line["kind"] = "bytes";
            line["blob"] = event.blob;
            line["done"] = event.done;
            line["total"] = event.total;
            break;
        case Kind::done:
            line["kind"] = "done";
            line["duration_ms"] = duration_ms();
            break;
        case Kind::failed:
            line["kind"] = "failed";
            line["duration_ms"] = duration_ms();
            line["error"] = event.text;
            break;
        }
        m_out << line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
        m_out.flush();
    }

private:
    std::ostream& m_out;
};

class QuietDisplay final : public ProgressDisplay {
public:
    void event(const ProgressEvent&, const StepRecord&) override {}
};

// The live view: a frame of one line per step (and the last lines of running steps' output),
// redrawn in place with ANSI codes at most ten times a second; the last frame stays. When `out`
// is not a terminal, nothing is drawn until the end, and the summary has no control codes.
class TtyDisplay final : public ProgressDisplay {
public:
    TtyDisplay(std::ostream& out, bool terminal) : m_out(out), m_terminal(terminal) {
        winsize size{};
        if (terminal && ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0) {
            m_width = size.ws_col;
            m_height = size.ws_row;
        }
    }

    void event(const ProgressEvent& event, const StepRecord& step) override {
        if (m_start == Clock::time_point{}) m_start = event.time;
        if (m_steps.size() < step.number) m_steps.resize(step.number);
        m_steps[step.number - 1] = step;
        if (event.kind == Kind::output) {
            std::deque<std::string>& tail = m_tails[step.number];
            for (std::string& line : m_lines.add(step.number, event.text)) {
                tail.push_back(std::move(line));
                if (tail.size() > k_tail_lines) tail.pop_front();
            }
        }
    }
    bool wants_ticks() const override { return m_terminal; }
    void tick(Clock::time_point now) override { draw(now, false); }
    void finish(const std::vector<StepRecord>& steps) override {
        m_steps = steps;
        if (m_start == Clock::time_point{} && !steps.empty()) m_start = steps.front().started;
        Clock::time_point end = m_start;
        for (const StepRecord& step : m_steps) end = std::max({end, step.started, step.finished});
        draw(end, true);
    }

private:
    static constexpr std::size_t k_tail_lines = 6;

    std::string fit(std::string text, std::size_t width) const {
        if (text.size() <= width) return text;
        std::size_t cut = width;
        while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;  // not inside a UTF-8 character
        return text.substr(0, cut);
    }

    std::string step_line(const StepRecord& step, Clock::time_point now) const {
        const Clock::time_point end = step.state == StepRecord::State::running ? now : step.finished;
        const double elapsed = seconds_between(step.started, end);
        std::string right;
        if (step.activity != ProgressEvent::Activity::build && step.bytes_total > 0) {
            right = format_bytes(step.bytes_done) + " / " + format_bytes(step.bytes_total);
            if (elapsed > 0) right += " " + format_bytes(static_cast<std::uint64_t>(step.bytes_done / elapsed)) + "/s";
            right += "  ";
        }
        if (step.state == StepRecord::State::failed) right += "ERROR ";
        right += format_seconds(elapsed, "%.1fs");
        std::string left = " => " + std::string(step.cached ? "CACHED " : "") + step.description;
        const std::size_t room = m_width > right.size() + 12 ? m_width - right.size() - 2 : 10;
        left = fit(left, room - 2);  // at least three spaces before the times
        return left + std::string(room - std::min(room, left.size()) + 1, ' ') + right;
    }

    void draw(Clock::time_point now, bool final) {
        if (m_steps.empty() && !final) return;
        std::size_t finished = 0;
        for (const StepRecord& step : m_steps)
            if (step.number != 0 && step.state != StepRecord::State::running) ++finished;
        std::vector<std::string> lines;
        lines.push_back("[+] Building " + format_seconds(seconds_between(m_start, now), "%.1fs") + " (" +
                        std::to_string(finished) + "/" + std::to_string(m_steps.size()) + ")" +
                        (final ? " FINISHED" : ""));
        for (const StepRecord& step : m_steps) {
            if (step.number == 0) continue;
            lines.push_back(step_line(step, now));
            if (final || step.state != StepRecord::State::running) continue;
            if (const auto it = m_tails.find(step.number); it != m_tails.end())
                for (const std::string& line : it->second) lines.push_back(fit(" => => # " + line, m_width - 1));
        }
        if (!m_terminal) {
            if (!final) return;
            for (const std::string& line : lines) m_out << line << "\n";
            m_out.flush();
            return;
        }
        // Only what fits on the screen can be redrawn in place: the newest lines win.
        const std::size_t rows = m_height > 2 ? m_height - 1 : lines.size();
        if (!final && lines.size() > rows) lines.erase(lines.begin() + 1, lines.begin() + 1 + (lines.size() - rows));
        std::string frame;
        if (m_drawn > 0) frame += "\x1b[" + std::to_string(m_drawn) + "A";
        for (const std::string& line : lines) frame += "\r" + line + "\x1b[K\n";
        frame += "\x1b[J";
        m_out << frame;
        m_out.flush();
        m_drawn = final ? 0 : lines.size();
    }

    std::ostream& m_out;
    bool m_terminal;
    std::size_t m_width = 80;
    std::size_t m_height = 0;
    Clock::time_point m_start{};
    std::vector<StepRecord> m_steps;  // by number - 1
    std::map<std::size_t, std::deque<std::string>> m_tails;
    LineSplitter m_lines;
    std::size_t m_drawn = 0;
};

std::string log_name(const StepRecord& step) {
    char number[16];
    std::snprintf(number, sizeof number, "%02zu", step.number);
    std::string stage = step.stage;
    std::replace(stage.begin(), stage.end(), '/', '_');
    return std::string(number) + "-" + stage + "-" + (step.position ? std::to_string(step.position) : "onbuild") + ".log";
}

}  // namespace

std::unique_ptr<ProgressDisplay> make_progress_display(ProgressMode mode, std::ostream& out, bool terminal,
                                                       bool explain) {
    switch (mode) {
    case ProgressMode::tty: return std::make_unique<TtyDisplay>(out, terminal);
    case ProgressMode::rawjson: return std::make_unique<RawJsonDisplay>(out);
    case ProgressMode::quiet: return std::make_unique<QuietDisplay>();
    case ProgressMode::automatic:
    case ProgressMode::plain: break;
    }
    return std::make_unique<PlainDisplay>(out, explain);
}

BuildProgress::BuildProgress(std::unique_ptr<ProgressDisplay> display, std::filesystem::path log_dir)
    : m_display(std::move(display)), m_log_dir(std::move(log_dir)) {
    if (!m_log_dir.empty()) {
        std::error_code error;
        std::filesystem::create_directories(m_log_dir, error);
        if (error) throw IoError(m_log_dir.string(), "cannot create the log directory", error.value());
    }
    if (m_display->wants_ticks()) {
        m_ticker = std::jthread([this](std::stop_token stop) {
            std::unique_lock lock(m_mutex);
            while (!m_finished && !stop.stop_requested()) {
                m_wake.wait_for(lock, std::chrono::milliseconds(100));
                if (m_finished || stop.stop_requested()) break;
                m_display->tick(Clock::now());
            }
        });
    }
}

BuildProgress::~BuildProgress() {
    {
        const std::lock_guard lock(m_mutex);
        m_finished = true;
    }
    m_wake.notify_all();
}

builder::ProgressSink BuildProgress::sink() {
    return [this](const ProgressEvent& event) { handle(event); };
}

void BuildProgress::handle(const ProgressEvent& event) {
    const std::lock_guard lock(m_mutex);
    auto found = m_numbers.find(event.step);
    if (found == m_numbers.end()) {
        if (event.kind != Kind::started) return;  // a step is known from its start on
        StepRecord step{.number = m_steps.size() + 1,
                        .id = event.step,
                        .activity = event.activity,
                        .description = event.description,
                        .stage = event.stage,
                        .position = event.position,
                        .stage_steps = event.stage_steps,
                        .file = event.file,
                        .line = event.line,
                        .end_line = event.end_line,
                        .depends_on = event.depends_on,
                        .started = event.time};
        if (!m_log_dir.empty() && event.activity == ProgressEvent::Activity::build) {
            Log log{.file = nullptr, .path = m_log_dir / log_name(step)};
            log.file = std::make_unique<AtomicFile>(log.path);
            m_logs.emplace(m_steps.size(), std::move(log));
        }
        found = m_numbers.emplace(event.step, m_steps.size()).first;
        m_steps.push_back(std::move(step));
    }
    const std::size_t index = found->second;
    StepRecord& step = m_steps[index];
    const auto end_log = [&] {
        const auto log = m_logs.find(index);
        if (log == m_logs.end()) return;
        log->second.file->commit();
        step.log = log->second.path;
        m_logs.erase(log);
    };
    switch (event.kind) {
    case Kind::started: break;
    case Kind::cached:
        step.cached = true;
        step.key = event.key;
        break;
    case Kind::cache_miss:
        step.key = event.key;
        step.miss_reason = event.text;
        break;
    case Kind::output:
        if (const auto log = m_logs.find(index); log != m_logs.end()) log->second.file->write(event.text);
        break;
    case Kind::bytes: {
        auto& blobs = m_blob_bytes[step.id];
        blobs[event.blob] = std::max(blobs[event.blob], event.done);
        m_blob_totals[step.id][event.blob] = event.total;
        step.bytes_done = 0;
        step.bytes_total = 0;
        for (const auto& [blob, done] : blobs) step.bytes_done += done;
        for (const auto& [blob, total] : m_blob_totals[step.id]) step.bytes_total += total;
        break;
    }
    case Kind::done:
        step.state = StepRecord::State::done;
        step.finished = event.time;
        end_log();
        break;
    case Kind::failed:
        step.state = StepRecord::State::failed;
        step.error = event.text;
        step.finished = event.time;
        end_log();
        break;
    }
    if (!m_finished) m_display->event(event, step);
}

void BuildProgress::finish() {
    {
        const std::lock_guard lock(m_mutex);
        if (m_finished) return;
        m_finished = true;
    }
    m_wake.notify_all();
    if (m_ticker.joinable()) m_ticker.join();
    const std::lock_guard lock(m_mutex);
    m_display->finish(m_steps);
}

std::vector<StepRecord> BuildProgress::steps() const {
    const std::lock_guard lock(m_mutex);
    return m_steps;
}

nlohmann::json steps_metadata(const std::vector<StepRecord>& steps) {
    nlohmann::json list = nlohmann::json::array();
    for (const StepRecord& step : steps) {
        nlohmann::json entry = {{"number", step.number},
                                {"description", step.description},
                                {"activity", activity_name(step.activity)},
                                {"cached", step.cached},
                                {"state", step.state == StepRecord::State::done     ? "done"
                                          : step.state == StepRecord::State::failed ? "failed"
                                                                                    : "running"},
                                {"started", rfc3339_ms(step.started)}};
        if (step.activity == ProgressEvent::Activity::build) {
            entry["stage"] = step.stage;
            entry["file"] = step.file;
            entry["line"] = step.line;
        }
        if (!step.key.empty()) entry["key"] = step.key;
        if (!step.miss_reason.empty()) entry["miss_reason"] = step.miss_reason;
        if (!step.error.empty()) entry["error"] = step.error;
        if (step.state != StepRecord::State::running) {
            entry["finished"] = rfc3339_ms(step.finished);
            entry["duration_ms"] =
                std::chrono::duration_cast<std::chrono::milliseconds>(step.finished - step.started).count();
        }
        if (step.bytes_total > 0) entry["bytes"] = step.bytes_total;
        if (!step.log.empty()) entry["log"] = step.log.string();
        list.push_back(std::move(entry));
    }
    return list;
}

}  // namespace cbuild::cli
