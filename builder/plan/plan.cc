// Planning follows BuildKit's dockerfile2llb: global ARGs first, then, starting from the target,
// each stage is expanded instruction by instruction with the variables in scope before that
// instruction; the stages it reads (FROM, COPY --from, RUN --mount from=) are planned on demand,
// so a stage the target does not need is never expanded, pulled or run.

#include "builder/plan/plan.h"

#include <algorithm>
#include <set>

#include "common/error.h"
#include "parser/shell_lex.h"

namespace cbuild::builder {

namespace {

using parser::Environment;
using parser::Instruction;

const std::set<std::string, std::less<>> k_proxy_args = {
    "HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
    "ftp_proxy",  "NO_PROXY",   "no_proxy",    "ALL_PROXY",   "all_proxy"};

bool is_number(std::string_view text) {
    return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

class ScopeExpander : public parser::WordExpander {
public:
    ScopeExpander(const parser::ShellLex& lex, const Environment& env) : m_lex(lex), m_env(env) {}
    std::string word(std::string_view text) override { return m_lex.process_word(text, m_env); }
    std::vector<std::string> words(std::string_view text) override { return m_lex.process_words(text, m_env); }

private:
    const parser::ShellLex& m_lex;
    const Environment& m_env;
};


class Planner {
public:
    Planner(const parser::Dockerfile& dockerfile, const BuildRequest& request)
        : m_dockerfile(dockerfile), m_request(request), m_lex(dockerfile.escape) {}

    Plan run();

private:
    struct StageState {
        enum class Status { not_started, in_progress, done };
        Status status = Status::not_started;
        std::vector<std::pair<std::string, std::string>> env;  // the stage's image ENV when finished
    };

    [[noreturn]] void fail(const parser::SourceSpan& source, const std::string& message) const {
        throw ParseError(source.file, source.start_line, 0, message, first_line(source.original));
    }
    static std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

    void expand_meta_args();
    std::optional<std::size_t> find_stage(std::string_view name) const;
    const NamedContext* find_context(std::string_view name) const;
    // The stage standing for the --build-context of a name that is no stage, made on first use.
    std::size_t context_stage(const NamedContext& context, const std::string& name, const parser::SourceSpan& source);
    // Makes `index` the context's files or image, with no steps, its image ENV in scope after it.
    void plan_context(std::size_t index, const NamedContext& context, const std::string& name);
    void plan_stage(std::size_t index, const parser::SourceSpan& requested_by);
    StageBase resolve_base(std::size_t index, const parser::FromInstruction& from);
    // A `--from` or `from=` value: a stage (by name or index) or an image.
    void add_input(PlannedStep& step, std::size_t current, const std::string& from,
                   const parser::SourceSpan& source);
    // Gives each declared ARG its value (build arg, default, global, or predefined platform ARG).
    std::vector<parser::ArgDefinition> declare_args(const parser::ArgInstruction& arg, Environment& args,
                                                    std::map<std::string, std::string>& values,
                                                    std::set<std::string>& declared);
    // Chomps and expands COPY/ADD heredoc bodies as BuildKit does: quotes are plain text there.
    void finish_inline_files(parser::SourcesAndDest& files, const Environment& scope,
                             const parser::SourceSpan& source) const;

    const parser::Dockerfile& m_dockerfile;
    const BuildRequest& m_request;
    parser::ShellLex m_lex;
    Environment m_meta_env;                       // platform ARGs + global ARGs with values
    std::map<std::string, std::optional<std::string>> m_global_args;  // declared before FROM
    std::set<std::string> m_consumed_build_args;
    std::vector<StageState> m_states;
    std::map<std::string, std::size_t> m_context_stages;  // context_name → its appended stage
    Plan m_plan;
};

void Planner::expand_meta_args() {
    for (const auto& [name, value] : platform_args(m_request)) m_meta_env.set(name, value);
    for (const parser::ArgInstruction& instruction : m_dockerfile.meta_args) {
        ScopeExpander expander(m_lex, m_meta_env);
        const parser::ArgInstruction expanded = instruction.expand(expander);
        for (const parser::ArgDefinition& definition : expanded.args) {
            std::optional<std::string> value = definition.value;
            if (const auto given = m_request.build_args.find(definition.key); given != m_request.build_args.end()) {
                value = given->second;
                m_consumed_build_args.insert(definition.key);
            }
            m_global_args[definition.key] = value;
            if (value) m_meta_env.set(definition.key, *value);
        }
    }
}

std::optional<std::size_t> Planner::find_stage(std::string_view name) const {
    return parser::find_stage(m_dockerfile, name);
}

const NamedContext* Planner::find_context(std::string_view name) const {
    if (m_request.named_contexts.empty()) return nullptr;
    const std::optional<std::string> key = context_name(name);
    if (!key) return nullptr;
    const auto it = m_request.named_contexts.find(*key);
    return it == m_request.named_contexts.end() ? nullptr : &it->second;
}

void Planner::plan_context(std::size_t index, const NamedContext& context, const std::string& name) {
    PlannedStage& planned = m_plan.stages[index];
    StageBase& base = planned.base;
    base.context = name;
    if (context.kind == NamedContext::Kind::directory) {
        base.kind = StageBase::Kind::directory;
        base.directory = context.directory;
    } else {
        if (!context.image)
            throw Error("--build-context " + name + "=" + context.value + ": the OCI layout was not imported");
        base.kind = StageBase::Kind::image;
        base.image = context.image;
        if (m_request.image_environment) {
            std::vector<std::string> image_env;
            try {
                image_env = m_request.image_environment(*context.image, base.platform);
            } catch (const ParseError&) {
                throw;
            } catch (const Error& error) {
                fail(planned.from.source, "--build-context " + name + "=" + context.value + ": " + error.what());
            }
            for (const std::string& entry : image_env) {
                const std::size_t equals = entry.find('=');
                m_states[index].env.emplace_back(entry.substr(0, equals),
                                                 equals == std::string::npos ? "" : entry.substr(equals + 1));
            }
        }
    }
    m_states[index].status = StageState::Status::done;
    m_plan.build_order.push_back(index);
}

std::size_t Planner::context_stage(const NamedContext& context, const std::string& name,
                                   const parser::SourceSpan& source) {
    const std::string key = *context_name(name);
    if (const auto it = m_context_stages.find(key); it != m_context_stages.end()) return it->second;
    const std::size_t index = m_plan.stages.size();
    PlannedStage stage;
    stage.index = index;
    stage.name = key;
    stage.from.base_name = name;
    stage.from.stage_name = key;
    stage.from.source = source;
    stage.needed = true;
    m_plan.stages.push_back(std::move(stage));
    m_states.emplace_back();
    m_context_stages[key] = index;
    plan_context(index, context, key);
    return index;
}

StageBase Planner::resolve_base(std::size_t index, const parser::FromInstruction& from) {
    StageBase base;
    base.platform = from.platform;
    if (from.base_name == "scratch") return base;
    if (const auto stage = find_stage(from.base_name)) {
        if (*stage == index) fail(from.source, "circular dependency detected on stage: " + from.stage_name);
        base.kind = StageBase::Kind::stage;
        base.stage = *stage;
        return base;
    }
    if (const NamedContext* context = find_context(from.base_name)) {
        base.kind = StageBase::Kind::stage;
        base.stage = context_stage(*context, from.base_name, from.source);
        return base;
    }
    try {
        base.image = registry::Reference::parse(from.base_name);
    } catch (const registry::ReferenceError& error) {
        fail(from.source, error.what());
    }
    base.kind = StageBase::Kind::image;
    return base;
}

void Planner::add_input(PlannedStep& step, std::size_t current, const std::string& from,
                        const parser::SourceSpan& source) {
    std::optional<std::size_t> stage = find_stage(from);
    if (!stage && is_number(from)) {
        if (from.size() > 6 || std::stoul(from) >= current)
            fail(source, "invalid from flag value " + from + ": refers to current or future build stage");
        stage = std::stoul(from);
    }
    if (stage) {
        if (*stage == current) fail(source, "circular dependency detected on stage: " + from);
        plan_stage(*stage, source);
        step.stage_inputs.push_back(*stage);
        return;
    }
    if (const NamedContext* context = find_context(from)) {
        step.stage_inputs.push_back(context_stage(*context, from, source));
        return;
    }
    try {
        step.image_inputs.push_back(registry::Reference::parse(from));
    } catch (const registry::ReferenceError& error) {
        fail(source, error.what());
    }
}

void Planner::finish_inline_files(parser::SourcesAndDest& files, const Environment& scope,
                                  const parser::SourceSpan& source) const {
    const parser::ShellLex heredoc_lex('\\', {.skip_process_quotes = true});
    for (parser::InlineFile& file : files.source_contents) {
        std::string content = file.content();
        if (file.expand) {
            try {
                content = heredoc_lex.process_word(content, scope);
            } catch (const parser::ExpandError& error) {
                fail(source, error.what());
            }
        }
        file.data = std::move(content);
        file.chomp = false;
        file.expand = false;
    }
}

std::vector<parser::ArgDefinition> Planner::declare_args(const parser::ArgInstruction& arg, Environment& args,
                                                         std::map<std::string, std::string>& values,
                                                         std::set<std::string>& declared) {
    const auto predefined = platform_args(m_request);
    std::vector<parser::ArgDefinition> resolved;
    for (const parser::ArgDefinition& definition : arg.args) {
        std::optional<std::string> value;
        if (const auto given = m_request.build_args.find(definition.key); given != m_request.build_args.end()) {
            value = given->second;
            m_consumed_build_args.insert(definition.key);
        } else if (definition.value) {
            value = definition.value;
        } else if (const auto global = m_global_args.find(definition.key); global != m_global_args.end()) {
            value = global->second;
        } else {
            for (const auto& [name, platform_value] : predefined)
                if (name == definition.key) value = platform_value;
        }
        declared.insert(definition.key);
        resolved.push_back({definition.key, value});
        if (value) {
            args.set(definition.key, *value);
            values[definition.key] = *value;
        } else {
            args.erase(definition.key);
            values.erase(definition.key);
        }
    }
    return resolved;
}

void Planner::plan_stage(std::size_t index, const parser::SourceSpan& requested_by) {
    StageState& state = m_states[index];
    if (state.status == StageState::Status::done) return;
    if (state.status == StageState::Status::in_progress)
        fail(requested_by, "circular dependency detected on stage: " +
                               (m_plan.stages[index].name.empty() ? std::to_string(index) : m_plan.stages[index].name));
    state.status = StageState::Status::in_progress;

    const parser::Stage& stage = m_dockerfile.stages[index];
    PlannedStage& planned = m_plan.stages[index];
    planned.needed = true;
    if (const NamedContext* context = planned.name.empty() ? nullptr : find_context(planned.name)) {
        plan_context(index, *context, *context_name(planned.name));
        return;
    }
    {
        ScopeExpander expander(m_lex, m_meta_env);
        planned.from = stage.from.expand(expander);
    }
    planned.base = resolve_base(index, planned.from);

    // The scope an instruction sees: the stage's ENV layered over its ARGs (ENV wins on a
    // shared name), both as they stood before that instruction.
    Environment args;
    Environment env(&args);
    std::map<std::string, std::string> arg_values;  // sorted, for RUN's environment
    std::set<std::string> declared;
    if (planned.base.kind == StageBase::Kind::stage) {
        plan_stage(planned.base.stage, planned.from.source);
        for (const auto& [name, value] : m_states[planned.base.stage].env) env.set(name, value);
    } else if (planned.base.kind == StageBase::Kind::image && m_request.image_environment) {
        std::vector<std::string> image_env;
        try {
            image_env = m_request.image_environment(*planned.base.image, planned.base.platform);
        } catch (const ParseError&) {
            throw;
        } catch (const Error& error) {
            fail(planned.from.source, error.what());  // e.g. the image cannot be pulled
        }
        for (const std::string& entry : image_env) {
            const std::size_t equals = entry.find('=');
            env.set(entry.substr(0, equals), equals == std::string::npos ? "" : entry.substr(equals + 1));
        }
    }

    ScopeExpander expander(m_lex, env);
    for (const Instruction& instruction : stage.instructions) {
        PlannedStep step{parser::expand_instruction(instruction, expander), {}, {}, {}, {}};
        std::visit(
            [&](const auto& typed) {
                using T = std::decay_t<decltype(typed)>;
                if constexpr (std::is_same_v<T, parser::EnvInstruction>) {
                    for (const parser::KeyValue& variable : typed.variables) env.set(variable.key, variable.value);
                } else if constexpr (std::is_same_v<T, parser::ArgInstruction>) {
                    step.resolved_args = declare_args(typed, args, arg_values, declared);
                } else if constexpr (std::is_same_v<T, parser::CopyInstruction>) {
                    if (!typed.from.empty()) add_input(step, index, typed.from, typed.source);
                    finish_inline_files(std::get<parser::CopyInstruction>(step.instruction).files, env, typed.source);
                } else if constexpr (std::is_same_v<T, parser::AddInstruction>) {
                    finish_inline_files(std::get<parser::AddInstruction>(step.instruction).files, env, typed.source);
                } else if constexpr (std::is_same_v<T, parser::RunInstruction>) {
                    for (const parser::Mount& mount : typed.mounts)
                        if (!mount.from.empty()) add_input(step, index, mount.from, typed.source);
                    step.build_arg_environment.reserve(arg_values.size());
                    for (const auto& [name, value] : arg_values) step.build_arg_environment.push_back(name + "=" + value);
                    bool added_proxy = false;
                    for (const auto& [name, value] : m_request.build_args) {
                        if (k_proxy_args.count(name) && !declared.count(name)) {
                            step.build_arg_environment.push_back(name + "=" + value);
                            m_consumed_build_args.insert(name);
                            added_proxy = true;
                        }
                    }
                    if (added_proxy) std::sort(step.build_arg_environment.begin(), step.build_arg_environment.end());
                }
            },
            static_cast<const parser::InstructionVariant&>(step.instruction));
        planned.steps.push_back(std::move(step));
    }
    state.env = env.entries();
    state.status = StageState::Status::done;
    m_plan.build_order.push_back(index);
}

Plan Planner::run() {
    if (m_dockerfile.stages.empty())
        throw ParseError(m_dockerfile.file_name, 0, 0, "the Dockerfile has no build stage (no FROM)");
    // Stages for --build-context names are appended while stages are planned, which hold
    // references into both vectors.
    m_states.reserve(m_dockerfile.stages.size() + m_request.named_contexts.size());
    m_plan.stages.reserve(m_dockerfile.stages.size() + m_request.named_contexts.size());
    m_states.resize(m_dockerfile.stages.size());
    for (std::size_t i = 0; i < m_dockerfile.stages.size(); ++i) {
        PlannedStage stage;
        stage.index = i;
        stage.name = m_dockerfile.stages[i].from.stage_name;
        stage.from = m_dockerfile.stages[i].from;
        m_plan.stages.push_back(std::move(stage));
    }
    m_plan.target = m_dockerfile.stages.size() - 1;
    m_plan.target_platform = m_request.target_platform;
    m_plan.labels = m_request.labels;
    if (!m_request.target.empty()) {
        const auto target = find_stage(m_request.target);
        if (!target) throw Error("target stage \"" + m_request.target + "\" could not be found");
        m_plan.target = *target;
    }
    expand_meta_args();
    plan_stage(m_plan.target, m_dockerfile.stages[m_plan.target].from.source);
    for (const auto& [name, value] : m_request.build_args)
        if (!m_consumed_build_args.count(name) && !k_proxy_args.count(name)) m_plan.unused_build_args.push_back(name);
    if (!m_plan.unused_build_args.empty()) {
        std::string names;
        for (const std::string& name : m_plan.unused_build_args) names += (names.empty() ? "" : " ") + name;
        m_plan.warnings.push_back({"One or more build-args [" + names + "] were not consumed", "", "", 0});
    }
    return std::move(m_plan);
}

}  // namespace

// The platform ARGs BuildKit predefines for every build.
std::vector<std::pair<std::string, std::string>> platform_args(const BuildRequest& request) {
    return {{"BUILDPLATFORM", request.build_platform.to_string()},
            {"BUILDOS", request.build_platform.os},
            {"BUILDARCH", request.build_platform.architecture},
            {"BUILDVARIANT", request.build_platform.variant},
            {"TARGETPLATFORM", request.target_platform.to_string()},
            {"TARGETOS", request.target_platform.os},
            {"TARGETARCH", request.target_platform.architecture},
            {"TARGETVARIANT", request.target_platform.variant}};
}

std::optional<std::string> context_name(std::string_view name) {
    try {
        const registry::Reference reference = registry::Reference::parse(name);
        std::string familiar = reference.familiar();
        constexpr std::string_view k_latest = ":latest";
        if (familiar.size() > k_latest.size() && familiar.ends_with(k_latest) && !reference.digest())
            familiar.resize(familiar.size() - k_latest.size());
        return familiar;
    } catch (const registry::ReferenceError&) {
        return std::nullopt;
    }
}

Plan make_plan(const parser::Dockerfile& dockerfile, const BuildRequest& request) {
    return Planner(dockerfile, request).run();
}

}  // namespace cbuild::builder
