// The sequential solver: stages in build order, steps in Dockerfile order. Each layer is
// written once, streamed through the layer writer into the content store.

#include "builder/solve/solve.h"

#include <cstdlib>

#include "builder/copy/copy.h"
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

[[noreturn]] void fail_at(const parser::SourceSpan& source, const std::string& message) {
    throw ParseError(source.file, source.start_line, 0, message, source.original.substr(0, source.original.find('\n')));
}

class Solver {
public:
    Solver(const Plan& plan, const SolveOptions& options, cache::ContentStore& store)
        : m_plan(plan), m_options(options), m_store(store), m_time(internal::build_time(options.source_date_epoch)),
          m_scratch(std::make_shared<ScratchDirectory>()), m_stages(plan.stages.size()) {}

    BuiltImage run();

private:
    StageImage start_stage(const PlannedStage& stage);
    void run_step(StageImage& image, const PlannedStage& stage, const PlannedStep& step);
    void run_onbuild_triggers(StageImage& image, const PlannedStage& stage);
    void add_layer(StageImage& image, std::vector<LayerEntry> entries, registry::HistoryEntry history);
    void copy_step(StageImage& image, const PlannedStep& step);
    const FileTree& image_tree(const registry::Reference& reference, const parser::SourceSpan& source);

    const Plan& m_plan;
    const SolveOptions& m_options;
    cache::ContentStore& m_store;
    internal::BuildTime m_time;
    std::shared_ptr<ScratchDirectory> m_scratch;
    std::vector<std::optional<StageImage>> m_stages;
    std::map<std::string, FileTree> m_image_trees;  // COPY --from=image sources, by reference
    // Layers written but not yet in the store: committed together once the whole build has
    // succeeded, so a failed build adds nothing to the store (an uncommitted writer discards).
    struct PendingLayer {
        cache::BlobWriter writer;
        LayerDigests digests;
    };
    std::vector<PendingLayer> m_pending_layers;
};

StageImage Solver::start_stage(const PlannedStage& stage) {
    StageImage image;
    switch (stage.base.kind) {
    case StageBase::Kind::scratch: {
        const Platform& platform = m_plan.target_platform;
        image.config.architecture = platform.architecture;
        image.config.os = platform.os;
        image.config.variant = platform.variant;
        image.config.rootfs.type = "layers";
        // BuildKit's emptyImage: the default PATH and `/` as the working directory.
        image.config.config.env = {"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
        image.config.config.working_dir = "/";
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
        image.tree = internal::stored_filesystem(m_store, stored->manifest, m_scratch->path());
        break;
    }
    }
    return image;
}

const FileTree& Solver::image_tree(const registry::Reference& reference, const parser::SourceSpan& source) {
    const std::string key = reference.to_string();
    if (const auto it = m_image_trees.find(key); it != m_image_trees.end()) return it->second;
    const auto stored = load_stored_image(m_store, key, m_plan.target_platform);
    if (!stored)
        fail_at(source, "image `" + reference.familiar() + "` is not in the local store, and pulling from a "
                                                            "registry is not supported by this version of cbuild yet");
    return m_image_trees.emplace(key, internal::stored_filesystem(m_store, stored->manifest, m_scratch->path()))
        .first->second;
}

void Solver::add_layer(StageImage& image, std::vector<LayerEntry> entries, registry::HistoryEntry history) {
    image.tree.apply(entries);
    cache::BlobWriter writer = m_store.begin_blob();
    const LayerDigests digests = write_layer(std::move(entries), {}, writer, m_options.layers);
    m_pending_layers.push_back({std::move(writer), digests});
    image.layers.push_back(registry::Descriptor{
        .media_type = digests.media_type, .digest = digests.digest, .size = static_cast<std::int64_t>(digests.size)});
    image.config.rootfs.diff_ids.push_back(digests.diff_id);
    image.config.history.push_back(std::move(history));
}

void Solver::copy_step(StageImage& image, const PlannedStep& step) {
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
        from = CopySource::tree(image_tree(step.image_inputs.front(), source));
    }
    std::vector<LayerEntry> entries;
    try {
        entries = resolve_copy(request, from, image.tree, m_scratch->path());
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    add_layer(image, std::move(entries), internal::history_entry(copy_history(request, is_add) + " # buildkit", false, m_time));
}

void Solver::run_step(StageImage& image, const PlannedStage& stage, const PlannedStep& step) {
    const parser::SourceSpan& source = parser::source_of(step.instruction);
    try {
        if (internal::apply_metadata(image, step, m_time)) return;
        if (const auto* workdir = std::get_if<parser::WorkdirInstruction>(&step.instruction)) {
            std::vector<LayerEntry> created = internal::apply_workdir(image, *workdir, m_time);
            if (image.config.history.back().empty_layer) return;  // WORKDIR /
            registry::HistoryEntry history = std::move(image.config.history.back());
            image.config.history.pop_back();
            add_layer(image, std::move(created), std::move(history));
            return;
        }
    } catch (const ParseError&) {
        throw;
    } catch (const Error& error) {
        fail_at(source, error.what());
    }
    if (std::holds_alternative<parser::CopyInstruction>(step.instruction) ||
        std::holds_alternative<parser::AddInstruction>(step.instruction)) {
        copy_step(image, step);
        return;
    }
    (void)stage;
    fail_at(source, std::string(parser::instruction_name(step.instruction)) +
                        " needs a sandbox to run commands, which this version of cbuild does not have yet");
}

// ONBUILD triggers of an image used as a base run first, as BuildKit inserts them before the
// stage's own instructions; the new image does not inherit them.
void Solver::run_onbuild_triggers(StageImage& image, const PlannedStage& stage) {
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
            run_step(image, stage, step);
        }
    }
}

BuiltImage Solver::run() {
    for (std::size_t index : m_plan.build_order) {
        const PlannedStage& stage = m_plan.stages[index];
        StageImage image = start_stage(stage);
        run_onbuild_triggers(image, stage);
        for (const PlannedStep& step : stage.steps) run_step(image, stage, step);
        m_stages[index] = std::move(image);
    }
    StageImage& target = *m_stages[m_plan.target];
    target.config.created = m_time.rfc3339;
    for (PendingLayer& layer : m_pending_layers) layer.writer.commit(layer.digests.digest, layer.digests.size);

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
                      .filesystem = target.tree,
                      .resources = m_scratch};
}

}  // namespace

BuiltImage solve(const Plan& plan, const SolveOptions& options, cache::ContentStore& store) {
    return Solver(plan, options, store).run();
}

}  // namespace cbuild::builder
