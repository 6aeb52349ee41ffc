#include "cli/timeline.h"

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "common/atomic_file.h"

namespace cbuild::cli {

namespace {

using Activity = builder::ProgressEvent::Activity;

// A step still running counts as running until the last moment the build recorded.
Clock::time_point end_of(const StepRecord& step, Clock::time_point last) {
    return step.state == StepRecord::State::running ? last : step.finished;
}

Clock::time_point last_time(const std::vector<StepRecord>& steps) {
    Clock::time_point last{};
    for (const StepRecord& step : steps) last = std::max({last, step.started, step.finished});
    return last;
}

std::vector<const StepRecord*> dependencies(const StepRecord& step, const std::vector<StepRecord>& steps,
                                            const std::map<std::string, const StepRecord*>& by_id,
                                            Clock::time_point last) {
    std::vector<const StepRecord*> found;
    for (const std::string& id : step.depends_on)
        if (const auto it = by_id.find(id); it != by_id.end()) found.push_back(it->second);
    if (found.empty() && step.activity == Activity::push) {
        const StepRecord* latest = nullptr;
        for (const StepRecord& other : steps)
            if (other.activity == Activity::build && end_of(other, last) <= step.started &&
                (!latest || end_of(other, last) >= end_of(*latest, last)))
                latest = &other;
        if (latest) found.push_back(latest);
    }
    return found;
}

const char* kind_of(const StepRecord& step) {
    if (step.activity == Activity::pull) return "pull";
    if (step.activity == Activity::push) return "push";
    if (step.state == StepRecord::State::failed) return "failed";
    return step.cached ? "cached" : "run";
}

}  // namespace

std::vector<std::string> critical_path(const std::vector<StepRecord>& steps) {
    if (steps.empty()) return {};
    const Clock::time_point last = last_time(steps);
    std::map<std::string, const StepRecord*> by_id;
    for (const StepRecord& step : steps) by_id[step.id] = &step;
    const StepRecord* current = &steps.front();
    for (const StepRecord& step : steps)
        if (end_of(step, last) >= end_of(*current, last)) current = &step;
    std::vector<std::string> path;
    std::set<std::string> seen;
    while (current && seen.insert(current->id).second) {
        path.push_back(current->id);
        const StepRecord* next = nullptr;
        for (const StepRecord* dependency : dependencies(*current, steps, by_id, last))
            if (!next || end_of(*dependency, last) > end_of(*next, last)) next = dependency;
        current = next;
    }
    std::reverse(path.begin(), path.end());
    return path;
}

std::string timeline_data(const std::vector<StepRecord>& steps) {
    const auto ms = [](Clock::duration duration) {
        return std::chrono::duration_cast<std::chrono::duration<double, std::milli>>(duration).count();
    };
    Clock::time_point first = steps.empty() ? Clock::time_point{} : steps.front().started;
    for (const StepRecord& step : steps) first = std::min(first, step.started);
    const Clock::time_point last = last_time(steps);
    const std::vector<std::string> path = critical_path(steps);
    const std::set<std::string> critical(path.begin(), path.end());
    nlohmann::json list = nlohmann::json::array();
    for (const StepRecord& step : steps) {
        const Clock::time_point end = end_of(step, last);
        list.push_back({{"number", step.number},
                        {"id", step.id},
                        {"label", step.description},
                        {"kind", kind_of(step)},
                        {"start_ms", ms(step.started - first)},
                        {"end_ms", ms(end - first)},
                        {"duration_ms", ms(end - step.started)},
                        {"critical", critical.count(step.id) > 0},
                        {"depends_on", step.depends_on}});
    }
    const nlohmann::json data = {{"total_ms", steps.empty() ? 0.0 : ms(last - first)}, {"steps", list}};
    return data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

namespace {

constexpr const char* k_page_head = R"html(<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>cbuild timeline</title>
<script>
window.onerror = function (message, source, line) {
  var root = document.documentElement;
  root.setAttribute('data-errors', (root.getAttribute('data-errors') || '') + message + ' (line ' + line + ');');
};
</script>
<style>
body { font: 13px system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 16px; margin: 0 0 8px; }
.legend span { display: inline-block; margin-right: 16px; }
.legend i { display: inline-block; width: 12px; height: 12px; margin-right: 4px; vertical-align: -1px; }
svg text { font: 12px system-ui, sans-serif; fill: #222; }
svg .axis { stroke: #ccc; }
.bar.cached { fill: #9e9e9e; } .bar.run { fill: #1e88e5; } .bar.failed { fill: #e53935; }
.bar.pull { fill: #43a047; } .bar.push { fill: #fb8c00; }
.bar.critical { stroke: #111; stroke-width: 2; }
.label.critical { font-weight: bold; }
</style>
</head>
<body>
<h1>cbuild timeline</h1>
<div class="legend">
<span><i style="background:#9e9e9e"></i>cached</span><span><i style="background:#1e88e5"></i>ran</span>
<span><i style="background:#e53935"></i>failed</span><span><i style="background:#43a047"></i>pulled</span>
<span><i style="background:#fb8c00"></i>pushed</span><span><i style="border:2px solid #111;width:8px;height:8px"></i>critical path (bold)</span>
</div>
<div id="chart"></div>
<script type="application/json" id="timeline-data">)html";

constexpr const char* k_page_tail = R"html(</script>
<script>
(function () {
  var data = JSON.parse(document.getElementById('timeline-data').textContent);
  var ns = 'http://www.w3.org/2000/svg';
  var labelWidth = 420, barWidth = 760, row = 22, top = 28;
  var total = Math.max(data.total_ms, 1);
  var height = top + row * data.steps.length + 10;
  var svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('width', labelWidth + barWidth + 80);
  svg.setAttribute('height', height);
  function add(parent, name, attributes, text) {
    var node = document.createElementNS(ns, name);
    for (var key in attributes) node.setAttribute(key, attributes[key]);
    if (text !== undefined) node.textContent = text;
    parent.appendChild(node);
    return node;
  }
  function seconds(ms) { return (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + 's'; }
  var steps = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 30000, 60000, 300000, 600000];
  var tick = steps[steps.length - 1];
  for (var s = 0; s < steps.length; s++) if (total / steps[s] <= 10) { tick = steps[s]; break; }
  for (var t = 0; t <= total; t += tick) {
    var x = labelWidth + barWidth * t / total;
    add(svg, 'line', {x1: x, x2: x, y1: top - 6, y2: height, 'class': 'axis'});
    add(svg, 'text', {x: x + 2, y: top - 10}, seconds(t));
  }
  data.steps.forEach(function (step, i) {
    var y = top + i * row;
    var critical = step.critical ? ' critical' : '';
    var label = '#' + step.number + ' ' + step.label;
    if (label.length > 60) label = label.slice(0, 59) + '\u2026';
    add(svg, 'text', {x: 4, y: y + 15, 'class': 'label' + critical}, label);
    var x = labelWidth + barWidth * step.start_ms / total;
    var width = Math.max(2, barWidth * (step.end_ms - step.start_ms) / total);
    var bar = add(svg, 'rect', {x: x, y: y + 3, width: width, height: row - 6, rx: 2,
                                'class': 'bar ' + step.kind + critical, 'data-step': step.id});
    add(bar, 'title', {}, '#' + step.number + ' ' + step.label + '\n' + step.kind + ', ' + seconds(step.duration_ms) +
        (step.critical ? ', on the critical path' : ''));
    add(svg, 'text', {x: x + width + 4, y: y + 15}, seconds(step.duration_ms));
  });
  document.getElementById('chart').appendChild(svg);
  document.body.setAttribute('data-bars', String(document.querySelectorAll('rect.bar').length));
})();
</script>
</body>
</html>
)html";

}  // namespace

std::string timeline_html(const std::vector<StepRecord>& steps) {
    std::string data = timeline_data(steps);
    // Inside <script>, "</script" or "<!--" in a label would end or confuse the element; in JSON a
    // '<' is only ever inside a string, where \u003c means the same.
    for (std::size_t at = 0; (at = data.find('<', at)) != std::string::npos; at += 6) data.replace(at, 1, "\\u003c");
    return std::string(k_page_head) + data + k_page_tail;
}

void write_timeline(const std::filesystem::path& path, const std::vector<StepRecord>& steps) {
    write_file_atomically(path, timeline_html(steps));
}

}  // namespace cbuild::cli
