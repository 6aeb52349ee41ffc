#pragma once
// The image a stage is building, as the solver grows it step by step.

#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "builder/snapshot/file_tree.h"
#include "registry/image.h"

namespace cbuild::builder::internal {

struct StageImage {
    registry::ImageConfig config;
    std::vector<registry::Descriptor> layers;  // base layer first, parallel to rootfs.diff_ids
    FileTree tree;                              // the stage's filesystem so far
    bool cmd_set = false;                       // CMD given in this stage: ENTRYPOINT keeps it
};

// The history `created` stamp and the mtime of directories a step creates: SOURCE_DATE_EPOCH
// when it is set, else the time the build started.
struct BuildTime {
    std::int64_t seconds = 0;
    std::uint32_t nanoseconds = 0;
    std::string rfc3339;  // Go's RFC3339Nano, e.g. "2026-11-22T10:00:00.5Z"
};
BuildTime build_time(std::optional<std::int64_t> source_date_epoch);

// Applies an instruction that changes only the image config (ENV, LABEL, CMD, ENTRYPOINT,
// EXPOSE, VOLUME, USER, STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, ARG, MAINTAINER), with the
// history entry BuildKit writes for it. Returns false for any other instruction. Throws
// cbuild::Error for a value BuildKit rejects at this point (an unknown stop signal, a bad port).
bool apply_metadata(StageImage& image, const PlannedStep& step, const BuildTime& time);

// WORKDIR: sets the working directory and returns the directories to create (with parents,
// mode 0755, owned by the stage's USER), empty when they all exist. Its history entry always
// has a layer (an empty one when nothing is created), as BuildKit's, except for `/`.
std::vector<LayerEntry> apply_workdir(StageImage& image, const parser::WorkdirInstruction& workdir,
                                      const BuildTime& time);

// The history entry of a step: BuildKit's text, comment and empty_layer flag.
registry::HistoryEntry history_entry(std::string created_by, bool empty_layer, const BuildTime& time);

// Go's `%q` of a string list (`["a" "b"]`) and `%v` (`[a b]`), as BuildKit's history prints them.
std::string go_quoted_list(const std::vector<std::string>& values);
std::string go_plain_list(const std::vector<std::string>& values);

}  // namespace cbuild::builder::internal
