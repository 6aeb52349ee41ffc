#pragma once
// The image a stage is building, as the solver grows it step by step.

#include <filesystem>
#include <string>
#include <vector>

#include "builder/plan/plan.h"
#include "builder/snapshot/file_tree.h"
#include "registry/image.h"

namespace cbuild::builder::internal {

struct StageImage {
    registry::ImageConfig config;
    std::vector<registry::Descriptor> layers;  // base layer first, parallel to rootfs.diff_ids
    // Where each layer's blob can be read now, parallel to `layers`: the store's file, or the
    // temporary file of a layer this build wrote and has not committed yet.
    std::vector<std::filesystem::path> layer_blobs;
    FileTree tree;                              // the stage's filesystem so far, when tree_current
    // False after a cached step: the tree lags behind `layers` until a step needs the files, and
    // is then read from the snapshots (a fully cached build never unpacks anything).
    bool tree_current = true;
    // The cache key of the last layer-producing step (or of the base): the parent of the next.
    Digest key = sha256_of("");
    std::vector<Digest> step_keys;  // every layer step's key, base first (the chain behind `key`)
    bool cmd_set = false;                       // CMD given in this stage: ENTRYPOINT keeps it
    // The ARGs this stage declared so far, in order, with their values (RUN's history text).
    std::vector<parser::ArgDefinition> declared_args;
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

// The directory WORKDIR `path` names from `current`: path.Join for a relative path, cleaned.
std::string workdir_path(const std::string& current, const std::string& path);

// The history entry of a step: BuildKit's text, comment and empty_layer flag.
registry::HistoryEntry history_entry(std::string created_by, bool empty_layer, const BuildTime& time);

// Go's `%q` of a string list (`["a" "b"]`) and `%v` (`[a b]`), as BuildKit's history prints them.
std::string go_quoted_list(const std::vector<std::string>& values);
std::string go_plain_list(const std::vector<std::string>& values);

}  // namespace cbuild::builder::internal
