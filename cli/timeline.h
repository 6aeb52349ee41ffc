#pragma once
// The build as a timeline (--timeline FILE.html): one self-contained page (inline CSS, JS and
// SVG, nothing fetched) drawing one bar per step on a time axis, coloured by what the step did
// (cached, ran, failed, pulled, pushed), with the critical path marked.

#include <filesystem>
#include <string>
#include <vector>

#include "cli/progress.h"

namespace cbuild::cli {

// The chain of dependent steps that ends last, as step ids from first to last: the step that
// finished last, then, going back, the dependency of each that finished last. A step's
// dependencies are its events' depends_on (the previous step of its stage, the last step of its
// base stage and of the stages it copies from, the pull of its base image); a push with none
// follows the build step that finished last before it began. Empty for no steps.
std::vector<std::string> critical_path(const std::vector<StepRecord>& steps);

// The page's data, a JSON object: "total_ms" (from the first start to the last end) and
// "steps", one per step in number order: number, id, label, kind ("cached", "run", "failed",
// "pull", "push"), start_ms and end_ms (from the first start), duration_ms, critical (on the
// critical path) and depends_on. A step still running ends at the last time known.
std::string timeline_data(const std::vector<StepRecord>& steps);

// The whole page, with timeline_data embedded. Its script records any JavaScript error in the
// `data-errors` attribute of <html>, and draws one `<rect class="bar …">` per step.
std::string timeline_html(const std::vector<StepRecord>& steps);

// Writes timeline_html(steps) to `path`, whole or not at all. Throws cbuild::IoError naming it.
void write_timeline(const std::filesystem::path& path, const std::vector<StepRecord>& steps);

}  // namespace cbuild::cli
