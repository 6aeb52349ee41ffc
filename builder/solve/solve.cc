// The sequential solver: stages in build order, steps in Dockerfile order. Each layer is
// written once, streamed through the layer writer into the content store.

#include "builder/solve/solve.h"

#include <cstdlib>

#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "builder/copy/copy.h"
#include "builder/sandbox/sandbox.h"
#include "builder/snapshot/internal/image_path.h"
#include "builder/snapshot/snapshot_store.h"
#include "builder/snapshot/unpack.h"
#include "builder/snapshot/upper_diff.h"
#include "builder/solve/internal/copy_memo.h"
#include "builder/solve/internal/run_step.h"
#include "builder/solve/internal/step_key.h"
#include "builder/solve/scheduler.h"
#include "cache/cache_index.h"
#include "cache/file_hash_index.h"
#include "cache/gc.h"
#include "cache/step_lock.h"
#include "common/atomic_file.h"
#include "builder/solve/internal/stage_image.h"
#include "builder/solve/internal/stored_filesystem.h"
#include "common/error.h"
#include "parser/shell_lex.h"

namespace cbuild::builder {

namespace {

using internal::StageImage;

// A directory for the files a build makes on the side (ADD unpacking, base image contents);
// removed with everything in it when the last user lets go.
class ScratchDirectory {
public:
    ScratchDirectory() {
        std::string pattern = (std::filesystem::temp_directory_path() / "cbuild-build-XXXXXX").string();
        if (!mkdtemp(pattern.data())) throw IoError(pattern, "mkdtemp", errno);
        m_path = pattern;
    }
    ~ScratchDirectory() {
        std::error_code ignored;  // leftovers in $TMPDIR are harmless; a destructor must not throw
        std::filesystem::remove_all(m_path, ignored);
    }
    ScratchDirectory(const ScratchDirectory&) = delete;
    ScratchDirectory& operator=(const ScratchDirectory&) = delete;
    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

bool is_layer_step(const parser::Instruction& instruction) {
    return std::holds_alternative<parser::CopyInstruction>(instruction) ||
           std::holds_alternative<parser::AddInstruction>(instruction) ||
           std::holds_alternative<parser::RunInstruction>(instruction) ||
           std::holds_alternative<parser::WorkdirInstruction>(instruction);
}

// Whether a `--mount from=` value names `stage`: by name or index, or, for a stage standing for a
// --build-context, by any spelling of the context's name (`alpine`, `docker.io/library/alpine`).
bool names_stage(const PlannedStage& stage, const std::string& from) {
    if (stage.name == from || std::to_string(stage.index) == from) return true;
    return !stage.base.context.empty() && context_name(from) == stage.base.context;
}

[[noreturn]] void fail_at(const parser::SourceSpan& source, const std::string& message) {
    throw ParseError(source.file, source.start_line, 0, message, source.original.substr(0, source.original.find('\n')));
}

class Solver {
public:
    Solver(const Plan& plan, const SolveOptions& options, cache::ContentStore& store)
        : m_plan(plan), m_options(options), m_store(store), m_time(internal::build_time(options.source_date_epoch)),
          m_scratch(std::make_shared<ScratchDirectory>()),
          m_state_dir(options.state_dir.empty() ? store.root() : options.state_dir),
          m_snapshots(m_state_dir / "snapshots"), m_cache(cache::cache_index_dir(m_state_dir)),
          m_hashes(cache::file_hash_index_path(m_state_dir)), m_stages(plan.stages.size()) {}

    BuiltImage run();

private:
    // Where a step sits, for cache bookkeeping and messages.
    struct StepInfo {
        std::string identity;     // Dockerfile, stage and position: finds the step's previous key
        std::string description;  // "[build 2/5] RUN make"
        bool no_cache = false;    // --no-cache, or the stage is in --no-cache-filter
        const CancelToken* cancel = nullptr;  // set when another stage failed: stop the step
        std::string stage;                    // for progress: the stage's name, the step's place
        std::size_t position = 0;             // 0: an ONBUILD trigger
        std::size_t stage_steps = 0;
    };

    void build_stage(std::size_t index, const CancelToken& cancel);
    StageImage start_stage(const PlannedStage& stage);
    void run_step(StageImage& image, const PlannedStage& stage, const PlannedStep& step, const StepInfo& info);
    void run_onbuild_triggers(StageImage& image, const PlannedStage& stage, std::string& previous);
    LayerDigests add_layer(StageImage& image, LayerChanges changes, registry::HistoryEntry history,
                           const StepInfo* donor_step = nullptr);
    LayerDigests write_layer_blob(StageImage& image, const LayerChanges& changes, registry::HistoryEntry history,
                                  const StepInfo* donor_step = nullptr);
    std::optional<LayerDonor> previous_layer(const StepInfo& info);
    void copy_step(StageImage& image, const PlannedStep& step, const StepInfo& info);
    void directory_base(StageImage& image, const PlannedStage& stage, const CancelToken& cancel);
    void workdir_step(StageImage& image, const parser::WorkdirInstruction& workdir, const StepInfo& info);
    void run_command_step(StageImage& image, const PlannedStep& step, const StepInfo& info);
    std::vector<std::string> mount_keys(const parser::RunInstruction& run, const PlannedStep& step);
    // Held while a step is looked up in the cache and, on a miss, done and recorded: a
    // concurrent build of the same key waits, then takes this one's result from the cache.
    cache::StepLock lock_step(const Digest& key, const StepInfo& info);
    bool reuse(StageImage& image, const internal::StepKey& key, const StepInfo& info);
    bool take_cached(StageImage& image, const Digest& key, const StepInfo& info);
    void remember(StageImage& image, const internal::StepKey& key, const StepInfo& info, const LayerDigests& digests);
    void emit(ProgressEvent event);
    void run_reported(StageImage& image, const PlannedStage& stage, const PlannedStep& step, const StepInfo& info,
                      std::string& previous);
    std::string last_step_of(std::size_t stage) const;
    FileTree& tree_of(StageImage& image);
    std::vector<std::filesystem::path> snapshots_of(const StageImage& image);
    std::vector<std::filesystem::path> mount_source(const parser::Mount& mount, const PlannedStep& step);
    // A stored image used as a source, by reference: its snapshots and filesystem.
    struct SourceImage {
        std::vector<std::filesystem::path> lowers;
        FileTree tree;
    };
    const SourceImage& source_image(const registry::Reference& reference, const parser::SourceSpan& source);

    const Plan& m_plan;
    const SolveOptions& m_options;
    cache::ContentStore& m_store;
    internal::BuildTime m_time;
    std::shared_ptr<ScratchDirectory> m_scratch;
    std::filesystem::path m_state_dir;
    SnapshotStore m_snapshots;
    cache::CacheIndex m_cache;
    cache::FileHashIndex m_hashes;
    // Each stage's image, written once by the job that builds it and read only by the jobs
    // that run after it (the scheduler orders them), so it needs no lock.
    std::vector<std::optional<StageImage>> m_stages;
    std::mutex m_sources_mutex;
    std::map<std::string, SourceImage> m_source_images;  // COPY --from=image, RUN --mount from=image
    std::set<std::size_t> m_trees_needed;  // stages whose files another stage copies
};

StageImage Solver::start_stage(const PlannedStage& stage) {
    StageImage image;
    switch (stage.base.kind) {
    case StageBase::Kind::directory:  // the directory's files go on as the first layer
    case StageBase::Kind::scratch: {
        const Platform& platform = m_plan.target_platform;
        image.config.architecture = platform.architecture;
        image.config.os = platform.os;
        image.config.variant = platform.variant;
        image.config.rootfs.type = "layers";
        // BuildKit's emptyImage: the default PATH and `/` as the working directory.
        image.config.config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
        image.config.config.working_dir = "/";
        image.key = internal::scratch_key(platform);
        break;
    }
    case StageBase::Kind::stage:
        image = *m_stages[stage.base.stage];
        image.cmd_set = false;
        break;
    case StageBase::Kind::image: {
        const registry::Reference& reference = *stage.base.image;
        const auto stored = load_stored_image(m_store, reference.to_string(), m_plan.target_platform);
        if (!stored)
            fail_at(stage.from.source, "base image `" + reference.familiar() +
                                           "` is not in the local store, and pulling from a registry is not "
                                           "supported by this version of cbuild yet");
        image.config = stored->config;
        image.layers = stored->manifest.layers;
        for (const registry::Descriptor& layer : image.layers) image.layer_blobs.push_back(m_store.blob_path(layer.digest));
        image.key = internal::image_key(stored->manifest_descriptor, m_plan.target_platform);
        image.tree_current = false;  // unpacked only when a step needs the files
        break;
    }
    }
    return image;
}

const Solver::SourceImage& Solver::source_image(const registry::Reference& reference,
                                                const parser::SourceSpan& source) {
    const std::string key = reference.to_string();
    const std::lock_guard lock(m_sources_mutex);
    if (const auto it = m_source_images.find(key); it != m_source_images.end()) return it->second;
    const auto stored = load_stored_image(m_store, key, m_plan.target_platform);
    if (!stored)
        fail_at(source, "image `" + reference.familiar() + "` is not in the local store, and pulling from a "
                                                            "registry is not supported by this version of cbuild yet");
    std::vector<std::filesystem::path> blobs;
    for (const registry::Descriptor& layer : stored->manifest.layers) blobs.push_back(m_store.blob_path(layer.digest));
    SourceImage image;
    try {
        if (geteuid() == 0) {
            image.lowers = internal::layer_snapshots(m_snapshots, stored->config.rootfs.diff_ids, blobs);
            image.tree = internal::snapshot_filesystem(image.lowers);
        } else {
            const std::filesystem::path scratch = m_scratch->path() / ("image-" + sha256_of(key).hex().substr(0, 16));
            std::filesystem::create_directories(scratch);
            image.tree = internal::tar_filesystem(blobs, scratch);
        }
    } catch (const Error& error) {
        fail_at(source, "image `" + reference.familiar() + "`: " + error.what());
    }
    return m_source_images.emplace(key, std::move(image)).first->second;
}

std::vector<std::filesystem::path> Solver::snapshots_of(const StageImage& image) {
    return internal::layer_snapshots(m_snapshots, image.config.rootfs.diff_ids, image.layer_blobs);
}

// What a `RUN --mount ... from=` names: an earlier stage (by name or index) or an image.
std::vector<std::filesystem::path> Solver::mount_source(const parser::Mount& mount, const PlannedStep& step) {
    for (std::size_t index : step.stage_inputs) {
        const PlannedStage& stage = m_plan.stages[index];
        if (names_stage(stage, mount.from)) return snapshots_of(*m_stages[index]);
    }
    for (const registry::Reference& reference : step.image_inputs)
        if (reference.to_string() == registry::Reference::parse(mount.from).to_string())
            return source_image(reference, parser::source_of(step.instruction)).lowers;
    throw Error("mount source `" + mount.from + "` is neither a stage nor an image of this build");
}

FileTree& Solver::tree_of(StageImage& image) {
    if (!image.tree_current) {
        if (geteuid() == 0) {
            image.tree = internal::snapshot_filesystem(snapshots_of(image));
        } else {
            const std::filesystem::path scratch = m_scratch->path() / ("tree-" + image.key.hex().substr(0, 16));
            std::filesystem::create_directories(scratch);
            image.tree = internal::tar_filesystem(image.layer_blobs, scratch);
        }
        image.tree_current = true;
    }
    return image.tree;
}

void Solver::emit(ProgressEvent event) {
    if (m_options.progress) m_options.progress(event);
}

cache::StepLock Solver::lock_step(const Digest& key, const StepInfo& info) {
    return cache::StepLock(
        m_cache.dir(), key, [&info] { return cancel_requested() || (info.cancel && info.cancel->cancelled()); },
        [&] {
            emit({.kind = ProgressEvent::Kind::output,
                  .step = info.identity,
                  .text = "waiting for another build of the same step to finish\n"});
        });
}

// The step's layer from the cache, when `key` was recorded and the layer is still in the store.
bool Solver::take_cached(StageImage& image, const Digest& key, const StepInfo& info) {
    if (info.no_cache) return false;
    const std::optional<cache::CacheRecord> record = m_cache.find(key);
    if (!record || !m_store.has(record->layer_digest)) return false;
    const nlohmann::json history = nlohmann::json::parse(record->history_json, nullptr, false);
    registry::HistoryEntry entry;
    if (history.is_object()) {
        entry.created = history.value("created", "");
        entry.created_by = history.value("created_by", "");
        entry.comment = history.value("comment", "");
    }
    image.layers.push_back(registry::Descriptor{.media_type = record->layer_media_type,
                                                .digest = record->layer_digest,
                                                .size = static_cast<std::int64_t>(record->layer_size)});
    image.layer_blobs.push_back(m_store.blob_path(record->layer_digest));
    image.config.rootfs.diff_ids.push_back(record->diff_id);
    image.config.history.push_back(std::move(entry));
    image.tree_current = false;
    image.key = key;
    image.step_keys.push_back(key);
    m_cache.set_previous_key(info.identity, key);
    emit({.kind = ProgressEvent::Kind::cached, .step = info.identity, .key = key.to_string()});
    return true;
}

// A step's layer from the cache, when its key was recorded and the layer blob is still in the
// store. On a miss, says why, comparing with the key this step had last time.
bool Solver::reuse(StageImage& image, const internal::StepKey& key, const StepInfo& info) {
    if (take_cached(image, key.key, info)) return true;
    std::vector<std::string> reasons;
    if (info.no_cache) {
        reasons.push_back(m_options.no_cache ? "--no-cache" : "--no-cache-filter names this stage");
    } else if (const auto previous = m_cache.previous_key(info.identity); !previous) {
        reasons.push_back("not built before");
    } else if (*previous == key.key) {
        reasons.push_back("its layer is no longer in the store");
    } else if (const auto before = m_cache.find(*previous)) {
        cache::CacheKeyBuilder inputs;
        for (const cache::CacheKeyInput& input : before->inputs) {
            if (input.kind == cache::CacheKeyInput::Kind::scalar) inputs.add(input.field, input.values.front());
            else inputs.add_list(input.field, input.values);
        }
        std::vector<std::string> files;
        std::ifstream in(m_cache.dir() / "files" / previous->hex());
        for (std::string line; std::getline(in, line);) files.push_back(line);
        reasons = internal::miss_reasons(inputs, files, key);
    } else {
        reasons.push_back("the previous build's record is gone");
    }
    std::string text;
    for (std::size_t i = 0; i < reasons.size() && (m_options.explain || i < 3); ++i) text += (i ? "; " : "") + reasons[i];
    if (!m_options.explain && reasons.size() > 3) text += "; …";
    emit({.kind = ProgressEvent::Kind::cache_miss, .step = info.identity, .key = key.key.to_string(), .text = text});
    return false;
}

// Records a step that ran: its key, what made the key, and the layer it produced.
void Solver::remember(StageImage& image, const internal::StepKey& key, const StepInfo& info, const LayerDigests& digests) {
    const registry::HistoryEntry& history = image.config.history.back();
    const nlohmann::json history_json = {
        {"created", history.created}, {"created_by", history.created_by}, {"comment", history.comment}};
    const std::int64_t now = static_cast<std::int64_t>(std::time(nullptr));
    cache::CacheRecord record{.key = key.key,
                              .inputs = key.inputs.inputs(),
                              .description = info.description,
                              .layer_media_type = digests.media_type,
                              .layer_digest = digests.digest,
                              .layer_size = digests.size,
                              .diff_id = digests.diff_id,
                              .history_json = history_json.dump(),
                              .created = now,
                              .last_used = now};
    if (!key.files.empty()) {
        std::string text;
        for (const std::string& line : key.files) text += line + "\n";
        std::filesystem::create_directories(m_cache.dir() / "files");
        write_file_atomically(m_cache.dir() / "files" / key.key.hex(), text);
    }
    // The member table, when the layer's content was known (COPY and ADD): the next build of
    // the step copies unchanged members from this layer. Losing it costs only time.
    if (digests.members && std::any_of(digests.members->members.begin(), digests.members->members.end(),
                                       [](const LayerMember& member) { return member.fingerprint.has_value(); })) {
        std::filesystem::create_directories(m_cache.dir() / "members");
        replace_cache_file(m_cache.dir() / "members" / key.key.hex(), encode_layer_members(*digests.members));
    }
    m_cache.put(record);
    m_cache.set_previous_key(info.identity, key.key);
    image.key = key.key;
    image.step_keys.push_back(key.key);
}

LayerDigests Solver::add_layer(StageImage& image, LayerChanges changes, registry::HistoryEntry history,
                               const StepInfo* donor_step) {
    const LayerDigests digests = write_layer_blob(image, changes, std::move(history), donor_step);
    image.tree.apply(changes.entries, changes.whiteouts);
    return digests;
}

// The layer the step made last time, whose gzip members the new one may reuse (layer_members.h):
// none with --no-cache, or when its record, blob or member table is gone.
std::optional<LayerDonor> Solver::previous_layer(const StepInfo& info) {
    if (info.no_cache) return std::nullopt;
    const std::optional<Digest> previous = m_cache.previous_key(info.identity);
    if (!previous) return std::nullopt;
    const std::optional<cache::CacheRecord> record = m_cache.find(*previous);
    if (!record || !m_store.has(record->layer_digest)) return std::nullopt;
    std::ifstream in(m_cache.dir() / "members" / previous->hex(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::optional<LayerMembers> members = decode_layer_members(text);
    if (!members || members->blob != record->layer_digest) return std::nullopt;
    return LayerDonor{.blob = m_store.blob_path(record->layer_digest), .members = std::move(*members)};
}

// Writes the layer into the store and adds it to the image (not to its tree: a RUN layer's
// files move to their snapshot first). A finished step's layer is kept even if a later step
// fails, as BuildKit keeps its cache: the next build resumes from it. With `donor_step`, the
// gzip members of that step's previous layer whose entries are unchanged are copied, not
// compressed again.
LayerDigests Solver::write_layer_blob(StageImage& image, const LayerChanges& changes, registry::HistoryEntry history,
                                      const StepInfo* donor_step) {
    auto write = [&](const LayerDonor* donor) {
        // write_layer() hashes the blob as it makes it.
        cache::BlobWriter writer = m_store.begin_blob(cache::BlobHashing::by_caller);
        const LayerDigests written = write_layer(changes.entries, changes.whiteouts, writer, m_options.layers, donor);
        writer.commit(written.digest, written.size);
        return written;
    };
    std::optional<LayerDigests> digests;
    if (const std::optional<LayerDonor> donor = donor_step ? previous_layer(*donor_step) : std::nullopt) {
        try {
            digests = write(&*donor);
        } catch (const DonorMismatch& mismatch) {
            emit({.kind = ProgressEvent::Kind::output,
                  .step = donor_step->identity,
                  .text = std::string("compressing the whole layer again: ") + mismatch.what() + "\n"});
        }
        if (digests && digests->reused_bytes > 0) {
            emit({.kind = ProgressEvent::Kind::output,
                  .step = donor_step->identity,
                  .text = std::to_string(digests->reused_bytes * 100 / digests->size) +
                          "% of the layer's compressed bytes reused from its previous build\n"});
        }
    }
    if (!digests) digests = write(nullptr);
    image.layer_blobs.push_back(m_store.blob_path(digests->digest));
    image.layers.push_back(registry::Descriptor{
        .media_type = digests->media_type, .digest = digests->digest, .size = static_cast<std::int64_t>(digests->size)});
    image.config.rootfs.diff_ids.push_back(digests->diff_id);
    image.config.history.push_back(std::move(history));
    return *digests;
}

void Solver::copy_step(StageImage& image, const PlannedStep& step, const StepInfo& info) {
    const bool is_add = std::holds_alternative<parser::AddInstruction>(step.instruction);
    const parser::SourceSpan& source = parser::source_of(step.instruction);
    CopyRequest request = is_add ? copy_request(std::get<parser::AddInstruction>(step.instruction))
                                 : copy_request(std::get<parser::CopyInstruction>(step.instruction));
    request.working_dir = image.config.config.working_dir.empty() ? "/" : image.config.config.working_dir;
    request.created_time = CopyTime{m_time.seconds, m_time.nanoseconds};
    request.source_date_epoch = m_options.source_date_epoch;

    CopySource from = CopySource::context(m_options.context_dir, m_options.context_ignore);
    if (!step.stage_inputs.empty()) {
        from = CopySource::tree(m_stages[step.stage_inputs.front()]->tree);
    } else if (!step.image_inputs.empty()) {
        from = CopySource::tree(source_image(step.image_inputs.front(), source).tree);
    }
    const std::string text = copy_history(request, is_add);
    // A rebuild of an unchanged context learns the key from one walk of stat calls.
    std::optional<Digest> fingerprint;
    if (!is_add && step.stage_inputs.empty() && step.image_inputs.empty() && !info.no_cache) {
        try {
            fingerprint = internal::copy_fingerprint(image.key, request, text, m_options.context_dir, m_options.context_ignore,
                                                      m_cache.dir());
        } catch (const Error& error) {
            fail_at(source, error.what());
        }
        if (const auto known = fingerprint ? internal::recall_copy_key(m_cache.dir(), *fingerprint) : std::nullopt) {
            const cache::StepLock lock = lock_step(*known, info);
            if (take_cached(image, *known, info)) return;
        }
    }
    std::vector<LayerEntry> entries;
    internal::StepKey key;
    try {
        const std::filesystem::path scratch = m_scratch->path() / ("step-" + sha256_of(info.identity).hex().substr(0, 16));
        std::filesystem::create_directories(scratch);
        entries = resolve_copy(request, from, tree_of(image), scratch);
        key = internal::copy_key(image.key, text, request.working_dir, entries, m_hashes);
    } catch (const ParseError&) {
        throw;
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    if (fingerprint) internal::remember_copy_key(m_cache.dir(), *fingerprint, key.key);
    const cache::StepLock lock = lock_step(key.key, info);
    if (reuse(image, key, info)) return;
    const LayerDigests digests =
        add_layer(image, {std::move(entries), {}}, internal::history_entry(text + " # buildkit", false, m_time), &info);
    remember(image, key, info, digests);
}

// A --build-context directory as a stage's base (BuildKit's local named context): its files as
// one layer on an empty image, keyed by their content as a COPY is.
void Solver::directory_base(StageImage& image, const PlannedStage& stage, const CancelToken& cancel) {
    CopyRequest request;
    request.sources = {"."};
    request.dest = "/";
    request.created_time = CopyTime{m_time.seconds, m_time.nanoseconds};
    request.source_date_epoch = m_options.source_date_epoch;
    const std::string name = stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name;
    const std::string text = "COPY --from=" + stage.base.context + " . /";
    const StepInfo info{.identity = stage.from.source.file + "#" + std::to_string(stage.index) + "#context",
                        .description = "[" + name + " context] " + stage.base.directory.string(),
                        .no_cache = m_options.no_cache || m_options.no_cache_filter.count(stage.name) > 0,
                        .cancel = &cancel,
                        .stage = name,
                        .position = 0,
                        .stage_steps = stage.steps.size()};
    std::vector<LayerEntry> entries;
    internal::StepKey key;
    try {
        entries = resolve_copy(request, CopySource::context(stage.base.directory, parser::PatternMatcher()),
                               tree_of(image), m_scratch->path());
        key = internal::copy_key(image.key, text, "/", entries, m_hashes);
    } catch (const Error& error) {
        fail_at(stage.from.source, "--build-context " + stage.base.context + "=" + stage.base.directory.string() +
                                       ": " + error.what());
    }
    const cache::StepLock lock = lock_step(key.key, info);
    if (reuse(image, key, info)) return;
    const LayerDigests digests =
        add_layer(image, {std::move(entries), {}}, internal::history_entry(text + " # buildkit", false, m_time), &info);
    remember(image, key, info, digests);
}

void Solver::workdir_step(StageImage& image, const parser::WorkdirInstruction& workdir, const StepInfo& info) {
    const std::string path = internal::workdir_path(image.config.config.working_dir, workdir.path);
    const internal::StepKey key = internal::workdir_key(image.key, path, image.config.config.user);
    const cache::StepLock lock = lock_step(key.key, info);
    if (path != "/" && reuse(image, key, info)) {
        image.config.config.working_dir = path;
        return;
    }
    tree_of(image);
    std::vector<LayerEntry> created = internal::apply_workdir(image, workdir, m_time);
    if (image.config.history.back().empty_layer) return;  // WORKDIR /
    registry::HistoryEntry history = std::move(image.config.history.back());
    image.config.history.pop_back();
    const LayerDigests digests = add_layer(image, {std::move(created), {}}, std::move(history));
    remember(image, key, info, digests);
}

void Solver::run_step(StageImage& image, const PlannedStage& stage, const PlannedStep& step, const StepInfo& info) {
    const parser::SourceSpan& source = parser::source_of(step.instruction);
    if (cancel_requested()) throw InterruptedError("build interrupted");
    try {
        for (const parser::ArgDefinition& arg : step.resolved_args) image.declared_args.push_back(arg);
        if (internal::apply_metadata(image, step, m_time)) return;
        if (const auto* workdir = std::get_if<parser::WorkdirInstruction>(&step.instruction)) {
            workdir_step(image, *workdir, info);
            return;
        }
    } catch (const ParseError&) {
        throw;
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    if (std::holds_alternative<parser::CopyInstruction>(step.instruction) ||
        std::holds_alternative<parser::AddInstruction>(step.instruction)) {
        copy_step(image, step, info);
        return;
    }
    (void)stage;
    run_command_step(image, step, info);
}

// What each --mount contributes to a RUN's key: its spec as written (expanded), and for a bind
// mount what it shows: a context path's content, a stage's key, an image's manifest. Cache,
// secret and ssh mounts count by their options only, never their content.
std::vector<std::string> Solver::mount_keys(const parser::RunInstruction& run, const PlannedStep& step) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < run.mounts.size(); ++i) {
        const parser::Mount& mount = run.mounts[i];
        std::string key = i < run.mount_specs.size() ? run.mount_specs[i] : mount.target;
        if (mount.type == parser::MountType::bind) {
            if (mount.from.empty()) {
                const std::string relative = internal::clamp_path(mount.source);
                key += " content=" + internal::context_path_digest(
                                         relative.empty() ? m_options.context_dir : m_options.context_dir / relative, m_hashes)
                                         .to_string();
            } else {
                bool found = false;
                for (std::size_t index : step.stage_inputs) {
                    const PlannedStage& stage = m_plan.stages[index];
                    if (names_stage(stage, mount.from)) {
                        key += " stage=" + m_stages[index]->key.to_string();
                        found = true;
                    }
                }
                if (!found) key += " image=" + mount.from;
            }
        }
        keys.push_back(std::move(key));
    }
    return keys;
}

// RUN: the command in a sandbox whose root is an overlay of the image's snapshots; what it
// changed (the overlay's upper directory) becomes the layer, and the upper directory itself
// becomes the new layer's snapshot, so the next RUN unpacks nothing.
void Solver::run_command_step(StageImage& image, const PlannedStep& step, const StepInfo& info) {
    const auto& run = std::get<parser::RunInstruction>(step.instruction);
    const parser::SourceSpan& source = run.source;
    if (geteuid() != 0)
        fail_at(source, "RUN needs root, or a user namespace to be root in: snapshots keep the image's owners, "
                        "and this process could not create one (see the warning above; run cbuild as root, or "
                        "allow unprivileged user namespaces)");
    std::vector<std::filesystem::path> lowers;
    internal::PreparedRun prepared;
    internal::StepKey key;
    // The job gives its slot back while it waits for locks (a locked cache mount in prepare_run,
    // the step's key) and while the command runs: a job that holds a lock while its command runs
    // must never wait for a slot held by a job that waits for that lock.
    std::optional<JobSlotRelease> slot;
    if (info.cancel) slot.emplace(*info.cancel);
    try {
        tree_of(image);
        const internal::RunInputs inputs{
            .options = m_options,
            .cache_mounts_dir = m_state_dir / "cache-mounts",
            .source_lowers = [&](const parser::Mount& mount) { return mount_source(mount, step); },
            .declared_args = image.declared_args};
        prepared = internal::prepare_run(run, step, image, inputs);
        key = internal::run_key(image.key, prepared.spec.args, prepared.key_env, image.config.config.user,
                                prepared.spec.cwd, prepared.sandbox_text, mount_keys(run, step));
    } catch (const ParseError&) {
        throw;
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    const cache::StepLock lock = lock_step(key.key, info);
    if (reuse(image, key, info)) return;
    slot.reset();  // unpacking is cbuild's own work
    try {
        lowers = snapshots_of(image);
    } catch (const Error& error) {
        fail_at(source, error.what());
    }

    SnapshotStore::Scratch scratch = m_snapshots.make_scratch();
    SandboxSpec& spec = prepared.spec;
    const bool overlay = m_snapshots.overlay_supported();
    if (overlay) {
        spec.lowers = lowers;
        spec.upper = scratch.upper();
        spec.work = scratch.work();
    } else {
        copy_merged(lowers, scratch.upper());
        spec.rootfs = scratch.upper();
    }
    spec.output = [this, &info](std::string_view text) {
        emit({.kind = ProgressEvent::Kind::output, .step = info.identity, .text = std::string(text)});
    };
    spec.should_stop = [&info] { return cancel_requested() || (info.cancel && info.cancel->cancelled()); };
    SandboxResult result;
    try {
        if (info.cancel) slot.emplace(*info.cancel);
        result = run_in_sandbox(spec);
        slot.reset();
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    if (result.cancelled) throw InterruptedError("build interrupted during `" + source.original.substr(0, source.original.find('\n')) + "`");
    if (result.exit_status != 0 || result.timed_out) {
        std::string message = internal::failed_process_message(spec.args, result);
        if (!result.output_tail.empty()) message += "\n" + internal::last_lines(result.output_tail, 20);
        fail_at(source, message);
    }

    LayerChanges changes = overlay ? diff_upper(scratch.upper(), lowers) : diff_trees(lowers, scratch.upper());
    const std::string upper = scratch.upper().string();
    std::optional<Digest> parent;
    for (const Digest& diff_id : image.config.rootfs.diff_ids) parent = chain_id(parent, diff_id);
    const LayerDigests digests =
        write_layer_blob(image, changes, internal::history_entry(std::move(prepared.created_by), false, m_time));
    const Digest chain = chain_id(parent, digests.diff_id);
    std::filesystem::path snapshot;
    if (overlay) {
        snapshot = m_snapshots.commit(std::move(scratch), chain);
    } else {
        snapshot = m_snapshots.ensure(chain, [&](const std::filesystem::path& target) {
            unpack_layer(image.layer_blobs.back(), target, WhiteoutStyle::overlay, lowers);
        });
    }
    // The layer's files now live in the snapshot, at the same relative paths.
    for (LayerEntry& entry : changes.entries)
        if (!entry.content.host_path.empty() && entry.content.host_path.rfind(upper, 0) == 0)
            entry.content.host_path = snapshot.string() + entry.content.host_path.substr(upper.size());
    image.tree.apply(changes.entries, changes.whiteouts);
    remember(image, key, info, digests);
}

// ONBUILD triggers of an image used as a base run first, as BuildKit inserts them before the
// stage's own instructions; the new image does not inherit them.
void Solver::run_onbuild_triggers(StageImage& image, const PlannedStage& stage, std::string& previous) {
    const std::vector<std::string> triggers = std::move(image.config.config.on_build);
    image.config.config.on_build.clear();
    if (triggers.empty() || stage.base.kind != StageBase::Kind::image) return;
    const parser::ShellLex lex('\\');
    for (const std::string& trigger : triggers) {
        parser::Environment env = parser::Environment::from_list(image.config.config.env);
        const parser::Ast ast = parser::parse_ast(trigger + "\n", stage.from.source.file + " (ONBUILD of " +
                                                                     stage.base.image->familiar() + ")");
        for (const parser::Node& node : ast.children) {
            struct Expander : parser::WordExpander {
                const parser::ShellLex& lex;
                const parser::Environment& env;
                Expander(const parser::ShellLex& l, const parser::Environment& e) : lex(l), env(e) {}
                std::string word(std::string_view text) override { return lex.process_word(text, env); }
                std::vector<std::string> words(std::string_view text) override { return lex.process_words(text, env); }
            } expander(lex, env);
            PlannedStep step{parser::expand_instruction(parser::parse_instruction(node, ast.children.size() ? stage.from.source.file : ""), expander), {}, {}, {}, {}};
            const StepInfo info{.identity = stage.from.source.file + "#" + std::to_string(stage.index) + "#onbuild#" + trigger,
                                .description = "[" + (stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name) +
                                               " ONBUILD] " + trigger,
                                .no_cache = m_options.no_cache || m_options.no_cache_filter.count(stage.name) > 0,
                                .stage = stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name};
            run_reported(image, stage, step, info, previous);
        }
    }
}

// Layer steps (COPY, ADD, RUN, WORKDIR) are reported as BuildKit shows its vertices; metadata
// instructions only change the config and are not. `previous` is the step this one follows.
void Solver::run_reported(StageImage& image, const PlannedStage& stage, const PlannedStep& step, const StepInfo& info,
                          std::string& previous) {
    if (!is_layer_step(step.instruction) || !m_options.progress) {
        run_step(image, stage, step, info);
        return;
    }
    const parser::SourceSpan& source = parser::source_of(step.instruction);
    ProgressEvent started{.kind = ProgressEvent::Kind::started,
                          .step = info.identity,
                          .description = info.description,
                          .stage = info.stage,
                          .position = info.position,
                          .stage_steps = info.stage_steps,
                          .file = source.file,
                          .line = source.start_line,
                          .end_line = source.end_line};
    if (!previous.empty()) started.depends_on.push_back(previous);
    for (std::size_t input : step.stage_inputs) started.depends_on.push_back(last_step_of(input));
    for (const registry::Reference& input : step.image_inputs) started.depends_on.push_back("pull " + input.to_string());
    emit(std::move(started));
    try {
        run_step(image, stage, step, info);
    } catch (const ParseError& error) {
        emit({.kind = ProgressEvent::Kind::failed, .step = info.identity, .text = error.message()});
        throw;
    } catch (const std::exception& error) {
        emit({.kind = ProgressEvent::Kind::failed, .step = info.identity, .text = error.what()});
        throw;
    }
    emit({.kind = ProgressEvent::Kind::done, .step = info.identity});
    previous = info.identity;
}

// The id of the last reported step that made `index`'s filesystem: its own last layer step, or
// its base's.
std::string Solver::last_step_of(std::size_t index) const {
    const PlannedStage& stage = m_plan.stages[index];
    for (std::size_t i = stage.steps.size(); i-- > 0;) {
        const parser::Instruction& instruction = stage.steps[i].instruction;
        if (is_layer_step(instruction))
            return parser::source_of(instruction).file + "#" + std::to_string(stage.index) + "#" + std::to_string(i);
    }
    if (stage.base.kind == StageBase::Kind::stage) return last_step_of(stage.base.stage);
    if (stage.base.kind == StageBase::Kind::image) return "pull " + stage.base.image->to_string();
    return "";
}

void Solver::build_stage(std::size_t index, const CancelToken& cancel) {
    const PlannedStage& stage = m_plan.stages[index];
    StageImage image = start_stage(stage);
    std::string previous = stage.base.kind == StageBase::Kind::stage  ? last_step_of(stage.base.stage)
                           : stage.base.kind == StageBase::Kind::image ? "pull " + stage.base.image->to_string()
                                                                       : "";
    run_onbuild_triggers(image, stage, previous);
    if (stage.base.kind == StageBase::Kind::directory) directory_base(image, stage, cancel);
    const std::string name = stage.name.empty() ? "stage-" + std::to_string(stage.index) : stage.name;
    const bool no_cache = m_options.no_cache || m_options.no_cache_filter.count(stage.name) > 0;
    for (std::size_t i = 0; i < stage.steps.size(); ++i) {
        const PlannedStep& step = stage.steps[i];
        const parser::SourceSpan& source = parser::source_of(step.instruction);
        const StepInfo info{
            .identity = source.file + "#" + std::to_string(stage.index) + "#" + std::to_string(i),
            .description = "[" + name + " " + std::to_string(i + 1) + "/" + std::to_string(stage.steps.size()) + "] " +
                           source.original.substr(0, source.original.find('\n')),
            .no_cache = no_cache,
            .cancel = &cancel,
            .stage = name,
            .position = i + 1,
            .stage_steps = stage.steps.size()};
        if (cancel.cancelled()) return;  // another stage failed; the scheduler reports it
        run_reported(image, stage, step, info, previous);
    }
    // Later stages read this one's files (COPY --from): make its tree now, while no other job
    // touches this stage.
    if (m_trees_needed.count(index)) tree_of(image);
    m_stages[index] = std::move(image);
}

BuiltImage Solver::run() {
    // Builds hold the store's GC lock shared, so `cbuild prune` never removes what a build uses.
    const cache::GcLease lease(m_store.root());

    if (m_options.need_filesystem) m_trees_needed.insert(m_plan.target);
    for (std::size_t index : m_plan.build_order)
        for (const PlannedStep& step : m_plan.stages[index].steps)
            m_trees_needed.insert(step.stage_inputs.begin(), step.stage_inputs.end());
    Scheduler scheduler(std::max<std::size_t>(1, m_options.jobs));
    std::map<std::size_t, Scheduler::JobId> jobs;
    for (std::size_t index : m_plan.build_order) {
        const PlannedStage& stage = m_plan.stages[index];
        std::set<std::size_t> dependencies;
        if (stage.base.kind == StageBase::Kind::stage) dependencies.insert(stage.base.stage);
        for (const PlannedStep& step : stage.steps) dependencies.insert(step.stage_inputs.begin(), step.stage_inputs.end());
        std::vector<Scheduler::JobId> after;
        for (std::size_t dependency : dependencies) after.push_back(jobs.at(dependency));
        jobs[index] = scheduler.add(stage.name.empty() ? "stage-" + std::to_string(index) : stage.name, after,
                                    [this, index](const CancelToken& cancel) { build_stage(index, cancel); });
    }
    try {
        scheduler.run({jobs.at(m_plan.target)});
    } catch (...) {
        m_hashes.save();
        throw;
    }
    m_hashes.save();

    StageImage& target = *m_stages[m_plan.target];
    // BuildKit's exporter (patchImageConfig): the image was created when its last history entry
    // was, so a rebuild whose steps all come from the cache gives the same image, byte for byte.
    target.config.created = m_time.rfc3339;
    if (!m_options.source_date_epoch)
        for (const registry::HistoryEntry& entry : target.config.history)
            if (!entry.created.empty()) target.config.created = entry.created;
    for (const auto& [key, value] : m_plan.labels) target.config.config.labels[key] = value;  // --label, as docker
    std::vector<Digest> all_keys;
    std::set<Digest> seen;
    for (std::size_t index : m_plan.build_order)
        if (m_stages[index])
            for (const Digest& key : m_stages[index]->step_keys)
                if (seen.insert(key).second) all_keys.push_back(key);
    const std::string config_json = registry::to_json(target.config);
    registry::ImageManifest manifest{.schema_version = 2,
                                     .media_type = registry::k_oci_manifest,
                                     .config = registry::digest_of(config_json, registry::k_oci_config),
                                     .layers = target.layers};
    m_store.put_blob(config_json);
    const std::string manifest_json = registry::to_json(manifest);
    m_store.put_blob(manifest_json);
    return BuiltImage{.manifest = std::move(manifest),
                      .config = target.config,
                      .manifest_descriptor = registry::digest_of(manifest_json, registry::k_oci_manifest),
                      .filesystem = m_options.need_filesystem ? tree_of(target) : FileTree(),
                      .target_step_keys = target.step_keys,
                      .all_step_keys = std::move(all_keys),
                      .resources = m_scratch};
}

}  // namespace

BuiltImage solve(const Plan& plan, const SolveOptions& options, cache::ContentStore& store) {
    return Solver(plan, options, store).run();
}

}  // namespace cbuild::builder
