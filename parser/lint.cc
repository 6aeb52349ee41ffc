// The build checks, in the order BuildKit runs them: parse-time rules over every instruction
// (instructions.Parse), stage-name and casing rules over all stages, the FROM rules with the
// meta ARGs, then each dispatched stage replayed instruction by instruction (dockerfile2llb's
// dispatch) with its ENV, declared ARGs, WORKDIR and SHELL state.

#include "parser/lint.h"

#include <algorithm>
#include <cctype>

#include "common/error.h"
#include "parser/ast.h"
#include "parser/dockerfile.h"
#include "parser/internal/lint_text.h"
#include "parser/shell_lex.h"

namespace cbuild::parser {

namespace {

struct Rule {
    const char* name;
    const char* description;
    const char* slug;  // the URL's last path element
    bool experimental = false;
};

const Rule k_stage_name_casing{"StageNameCasing", "Stage names should be lowercase", "stage-name-casing"};
const Rule k_from_as_casing{"FromAsCasing", "The 'as' keyword should match the case of the 'from' keyword",
                            "from-as-casing"};
const Rule k_no_empty_continuation{"NoEmptyContinuation",
                                   "Empty continuation lines will become errors in a future release",
                                   "no-empty-continuation"};
const Rule k_consistent_casing{
    "ConsistentInstructionCasing",
    "All commands within the Dockerfile should use the same casing (either upper or lower)",
    "consistent-instruction-casing"};
const Rule k_duplicate_stage_name{"DuplicateStageName", "Stage names should be unique", "duplicate-stage-name"};
const Rule k_reserved_stage_name{"ReservedStageName", "Reserved words should not be used as stage names",
                                 "reserved-stage-name"};
const Rule k_json_args{"JSONArgsRecommended",
                       "JSON arguments recommended for ENTRYPOINT/CMD to prevent unintended behavior related to OS signals",
                       "json-args-recommended"};
const Rule k_maintainer{"MaintainerDeprecated",
                        "The MAINTAINER instruction is deprecated, use a label instead to define an image author",
                        "maintainer-deprecated"};
const Rule k_undefined_arg_in_from{"UndefinedArgInFrom", "FROM command must use declared ARGs",
                                   "undefined-arg-in-from"};
const Rule k_workdir_relative{"WorkdirRelativePath",
                              "Relative workdir without an absolute workdir declared within the build can have "
                              "unexpected results if the base image changes",
                              "workdir-relative-path"};
const Rule k_undefined_var{"UndefinedVar", "Variables should be defined before their use", "undefined-var"};
const Rule k_multiple_instructions{"MultipleInstructionsDisallowed",
                                   "Multiple instructions of the same type should not be used in the same stage",
                                   "multiple-instructions-disallowed"};
const Rule k_legacy_key_value{"LegacyKeyValueFormat",
                              "Legacy key/value format with whitespace separator should not be used",
                              "legacy-key-value-format"};
const Rule k_redundant_target_platform{
    "RedundantTargetPlatform",
    "Setting platform to predefined $TARGETPLATFORM in FROM is redundant as this is the default behavior",
    "redundant-target-platform"};
const Rule k_secrets_in_arg_or_env{"SecretsUsedInArgOrEnv",
                                   "Sensitive data should not be used in the ARG or ENV commands",
                                   "secrets-used-in-arg-or-env"};
const Rule k_invalid_default_arg_in_from{"InvalidDefaultArgInFrom",
                                         "Default value for global ARG results in an empty or invalid base image name",
                                         "invalid-default-arg-in-from"};
const Rule k_from_platform_const{"FromPlatformFlagConstDisallowed",
                                 "FROM --platform flag should not use a constant value",
                                 "from-platform-flag-const-disallowed"};
const Rule k_copy_ignored_file{"CopyIgnoredFile", "Attempting to Copy file that is excluded by .dockerignore",
                               "copy-ignored-file", true};
const Rule k_invalid_definition_description{
    "InvalidDefinitionDescription",
    "Comment for build stage or argument should follow the format: `# <arg/stage name> <description>`. If this is "
    "not intended to be a description comment, add an empty line or comment between the instruction and the comment.",
    "invalid-definition-description", true};

const char* const k_default_path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const std::set<std::string> k_predefined_names = {"BUILDPLATFORM",  "BUILDOS",    "BUILDARCH",    "BUILDVARIANT",
                                                  "TARGETPLATFORM", "TARGETOS",   "TARGETARCH",   "TARGETVARIANT",
                                                  "TARGETSTAGE"};
// Read by the frontend itself, never put in a stage's environment (BuildKit's nonEnvArgs).
const std::set<std::string> k_non_env_args = {"BUILDKIT_SBOM_SCAN_CONTEXT", "BUILDKIT_SBOM_SCAN_STAGE"};

std::string go_quoted(std::string_view text) { return go_quote(text); }

// The keyword as the author wrote it: the first word of the logical line.
std::string written_keyword(const std::string& original) {
    std::size_t start = 0;
    while (start < original.size() && std::isspace(static_cast<unsigned char>(original[start]))) ++start;
    std::size_t end = start;
    while (end < original.size() && !std::isspace(static_cast<unsigned char>(original[end]))) ++end;
    return original.substr(start, end - start);
}

// Records every variable name an expansion looked up and did not find.
class RecordingExpander : public WordExpander {
public:
    RecordingExpander(const ShellLex& lex, const Environment& env) : m_lex(lex), m_env(env) {}
    std::string word(std::string_view text) override {
        Expansion expansion = m_lex.process_word_with_matches(text, m_env);
        m_unmatched.insert(expansion.unmatched.begin(), expansion.unmatched.end());
        return std::move(expansion.word);
    }
    // EXPOSE: expanded in dispatch without a report, as upstream.
    std::vector<std::string> words(std::string_view text) override { return m_lex.process_words(text, m_env); }
    const std::set<std::string>& unmatched() const { return m_unmatched; }

private:
    const ShellLex& m_lex;
    const Environment& m_env;
    std::set<std::string> m_unmatched;
};

std::vector<std::string> keys_of(const Environment& env) {
    std::vector<std::string> keys;
    for (const auto& entry : env.entries()) keys.push_back(entry.first);
    return keys;
}

// What a stage carries from instruction to instruction, and hands to stages built FROM it.
struct StageScope {
    Environment env;
    bool env_known = true;           // false over an image whose ENV the caller could not supply
    std::set<std::string> declared;  // ARG names declared so far (BuildKit's d.buildArgs)
    bool workdir_set = false;
    bool shell_set = false;
};

class Linter {
public:
    Linter(std::string_view bytes, const Ast& ast, const Dockerfile& dockerfile, const LintOptions& options,
           CheckConfig config)
        : m_bytes(bytes), m_ast(ast), m_dockerfile(dockerfile), m_options(options), m_config(std::move(config)),
          m_lex(dockerfile.escape) {}

    std::vector<LintWarning> run();

private:
    void warn(const Rule& rule, std::string message, int start_line, int end_line);
    void warn(const Rule& rule, std::string message, const SourceSpan& source) {
        warn(rule, std::move(message), source.start_line, source.end_line);
    }
    std::vector<std::string> comments_before(int line) const;
    void check_nodes();
    void check_stage_names();
    void check_casing();
    void check_from_lines();
    std::set<std::size_t> dispatched_stages() const;
    void dispatch(std::size_t index);
    void dispatch_arg(const ArgInstruction& arg, StageScope& scope);
    void report_unmatched(const std::set<std::string>& unmatched, const StageScope& scope, const SourceSpan& source);
    std::string predefined(const std::string& name) const;

    std::string_view m_bytes;
    const Ast& m_ast;
    const Dockerfile& m_dockerfile;
    const LintOptions& m_options;
    CheckConfig m_config;
    ShellLex m_lex;
    Environment m_global_env;              // predefined ARGs and meta ARGs with a value
    std::set<std::string> m_meta_keys;     // every meta ARG name
    std::vector<std::optional<StageScope>> m_finished;
    std::vector<LintWarning> m_warnings;
};

void Linter::warn(const Rule& rule, std::string message, int start_line, int end_line) {
    if (rule.experimental) {
        if (!m_config.experimental_all && !m_config.experimental.count(rule.name)) return;
    } else if (m_config.skip_all || m_config.skip.count(rule.name)) {
        return;
    }
    m_warnings.push_back({rule.name, rule.description, std::string("https://docs.docker.com/go/dockerfile/rule/") + rule.slug + "/",
                          std::move(message), m_dockerfile.file_name, start_line, end_line});
}

std::string Linter::predefined(const std::string& name) const {
    for (const auto& [key, value] : m_options.predefined_args)
        if (key == name) return value;
    return {};
}

// The comment lines right above `line` (BuildKit's PrevComment): a blank line or an empty
// comment ends the run.
std::vector<std::string> Linter::comments_before(int line) const {
    std::vector<std::string_view> lines;
    std::size_t pos = 0;
    while (pos <= m_bytes.size() && static_cast<int>(lines.size()) < line - 1) {
        const std::size_t end = std::min(m_bytes.find('\n', pos), m_bytes.size());
        lines.push_back(m_bytes.substr(pos, end - pos));
        pos = end + 1;
    }
    std::vector<std::string> comments;
    for (std::size_t i = lines.size(); i-- > 0;) {
        std::string_view text = lines[i];
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
        if (text.empty() || text.front() != '#') break;
        text.remove_prefix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
        if (text.empty()) break;
        comments.insert(comments.begin(), std::string(text));
    }
    return comments;
}

void Linter::check_nodes() {
    const auto describe = [&](const char* instruction, const std::vector<std::string>& keys, const Node& node) {
        const std::vector<std::string> comments = comments_before(node.start_line);
        if (comments.empty() || keys.empty()) return;
        const std::string first_word = comments.back().substr(0, comments.back().find(' '));
        if (std::find(keys.begin(), keys.end(), first_word) != keys.end()) return;
        const std::string example = keys.size() > 1 ? "<arg_key>" : keys[0];
        warn(k_invalid_definition_description,
             std::string("Comment for ") + instruction + " should follow the format: `# " + example + " <description>`",
             node.start_line, node.end_line);
    };
    for (const Node& node : m_ast.children) {
        const std::string keyword = written_keyword(node.original);
        if (node.keyword == "from") {
            if (node.args.size() == 3 && !internal::is_lower(node.args[2]))
                warn(k_stage_name_casing, "Stage name '" + node.args[2] + "' should be lowercase", node.start_line, node.end_line);
            if (node.args.size() >= 3) {
                const bool lower = internal::is_lower(keyword), upper_case = internal::is_upper(keyword);
                if ((lower && !internal::is_lower(node.args[1])) || (!lower && upper_case && !internal::is_upper(node.args[1])))
                    warn(k_from_as_casing, "'" + node.args[1] + "' and '" + keyword + "' keywords' casing do not match",
                         node.start_line, node.end_line);
                std::string stage = node.args[2];
                for (char& c : stage) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
                describe("FROM", {stage}, node);
            }
        } else if (node.keyword == "maintainer") {
            warn(k_maintainer, "Maintainer instruction is deprecated in favor of using label", node.start_line, node.end_line);
        } else if (node.keyword == "arg") {
            std::vector<std::string> keys;
            for (const std::string& arg : node.args) keys.push_back(arg.substr(0, arg.find('=')));
            describe("ARG", keys, node);
        }
    }
}

void Linter::check_stage_names() {
    std::set<std::string> seen;
    for (const Stage& stage : m_dockerfile.stages) {
        const std::string& name = stage.name();
        if (name.empty()) continue;
        if (name == "context" || name == "scratch")
            warn(k_reserved_stage_name, "Stage name should not use the same name as reserved stage " + go_quoted(name),
                 stage.from.source);
        if (!seen.insert(name).second)
            warn(k_duplicate_stage_name, "Duplicate stage name " + go_quoted(name) + ", stage names should be unique",
                 stage.from.source);
    }
}

void Linter::check_casing() {
    std::vector<std::pair<std::string, const SourceSpan*>> commands;
    for (const Stage& stage : m_dockerfile.stages) {
        commands.emplace_back(written_keyword(stage.from.source.original), &stage.from.source);
        for (const Instruction& instruction : stage.instructions)
            commands.emplace_back(written_keyword(source_of(instruction).original), &source_of(instruction));
    }
    int lower_count = 0, upper_count = 0;
    for (const auto& [name, source] : commands) {
        if (internal::is_lower(name)) ++lower_count;
        else if (internal::is_upper(name)) ++upper_count;
    }
    const bool majority_lower = lower_count > upper_count;
    for (const auto& [name, source] : commands) {
        if (majority_lower && !internal::is_lower(name))
            warn(k_consistent_casing, "Command '" + name + "' should match the case of the command majority (lowercase)", *source);
        else if (!majority_lower && !internal::is_upper(name))
            warn(k_consistent_casing, "Command '" + name + "' should match the case of the command majority (uppercase)", *source);
    }
}

void Linter::check_from_lines() {
    Environment defaults;  // the meta ARGs with their defaults only, no build args
    for (const auto& [name, value] : m_options.predefined_args) {
        defaults.set(name, value);
        m_global_env.set(name, value);
    }
    bool defaults_valid = true;
    for (const ArgInstruction& instruction : m_dockerfile.meta_args) {
        for (const ArgDefinition& definition : instruction.args) {
            m_meta_keys.insert(definition.key);
            try {
                if (definition.value && defaults_valid)
                    defaults.set(definition.key, m_lex.process_word(*definition.value, defaults));
            } catch (const ExpandError&) {
                defaults_valid = false;
            }
            std::optional<std::string> value;
            if (const auto given = m_options.build_args.find(definition.key); given != m_options.build_args.end())
                value = given->second;
            else if (definition.value)
                value = m_lex.process_word(*definition.value, m_global_env);
            if (value) m_global_env.set(definition.key, *value);
        }
    }
    std::vector<std::string> known(m_meta_keys.begin(), m_meta_keys.end());
    for (const std::string& key : keys_of(m_global_env))
        if (!m_meta_keys.count(key)) known.push_back(key);
    std::sort(known.begin(), known.end());
    const auto report_undeclared = [&](const Expansion& expansion, const SourceSpan& source) {
        for (const std::string& name : expansion.unmatched) {
            if (std::binary_search(known.begin(), known.end(), name) || k_predefined_names.count(name)) continue;
            std::string message = "FROM argument '" + name + "' is not declared";
            if (const std::string close = internal::suggest(name, known); !close.empty())
                message += " (did you mean " + close + "?)";
            warn(k_undefined_arg_in_from, message, source);
        }
    };
    for (const Stage& stage : m_dockerfile.stages) {
        const FromInstruction& from = stage.from;
        if (defaults_valid) {
            try {
                if (!internal::is_valid_image_reference(m_lex.process_word(from.base_name, defaults)))
                    warn(k_invalid_default_arg_in_from, "Default value for ARG " + from.base_name +
                                                            " results in empty or invalid base image name",
                         from.source);
            } catch (const ExpandError&) {
                defaults_valid = false;
            }
        }
        try {
            report_undeclared(m_lex.process_word_with_matches(from.base_name, m_global_env), from.source);
            if (from.platform.empty()) continue;
            const Expansion platform = m_lex.process_word_with_matches(from.platform, m_global_env);
            report_undeclared(platform, from.source);
            if (platform.matched.size() == 1 && platform.unmatched.empty() && platform.matched.count("TARGETPLATFORM") &&
                platform.word == m_global_env.get("TARGETPLATFORM").value_or(""))
                warn(k_redundant_target_platform, "Setting platform to predefined " + from.platform +
                                                      " in FROM is redundant as this is the default behavior",
                     from.source);
            if (platform.matched.empty() && platform.unmatched.empty()) {
                const auto parts = internal::parse_platform(platform.word, predefined("BUILDARCH"));
                if (parts && stage.name().find(parts->os) == std::string::npos &&
                    stage.name().find(parts->architecture) == std::string::npos)
                    warn(k_from_platform_const, "FROM --platform flag should not use constant value " + go_quoted(platform.word),
                         from.source);
            }
        } catch (const ExpandError&) {
            // The planner reports the malformed word with its location.
        }
    }
}

std::set<std::size_t> Linter::dispatched_stages() const {
    std::set<std::size_t> stages;
    if (m_options.all_stages) {
        for (std::size_t i = 0; i < m_dockerfile.stages.size(); ++i) stages.insert(i);
        return stages;
    }
    std::optional<std::size_t> target = m_dockerfile.stages.size() - 1;
    if (!m_options.target.empty()) target = find_stage(m_dockerfile, m_options.target);
    if (!target) return stages;
    const auto stage_named = [&](const std::string& name, std::size_t current) -> std::optional<std::size_t> {
        if (const auto found = find_stage(m_dockerfile, name); found && *found < current) return found;
        if (!name.empty() && name.size() < 6 && std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; })) {
            const std::size_t index = std::stoul(name);
            if (index < current) return index;
        }
        return std::nullopt;
    };
    std::vector<std::size_t> pending{*target};
    while (!pending.empty()) {
        const std::size_t index = pending.back();
        pending.pop_back();
        if (!stages.insert(index).second) continue;
        const Stage& stage = m_dockerfile.stages[index];
        std::string base = stage.from.base_name;
        try {
            base = m_lex.process_word(base, m_global_env);
        } catch (const ExpandError&) {
        }
        if (const auto found = stage_named(base, index)) pending.push_back(*found);
        for (const Instruction& instruction : stage.instructions) {
            if (const auto* copy = std::get_if<CopyInstruction>(&instruction))
                if (const auto found = stage_named(copy->from, index)) pending.push_back(*found);
            if (const auto* run = std::get_if<RunInstruction>(&instruction))
                for (const Mount& mount : run->mounts)
                    if (const auto found = stage_named(mount.from, index)) pending.push_back(*found);
        }
    }
    return stages;
}

void Linter::report_unmatched(const std::set<std::string>& unmatched, const StageScope& scope, const SourceSpan& source) {
    if (!scope.env_known) return;
    const std::vector<std::string> options = keys_of(scope.env);
    for (const std::string& name : unmatched) {
        if (scope.declared.count(name) || k_non_env_args.count(name)) continue;
        std::string message = "Usage of undefined variable '$" + name + "'";
        if (const std::string close = internal::suggest(name, options); !close.empty())
            message += " (did you mean $" + close + "?)";
        warn(k_undefined_var, message, source);
    }
}

void Linter::dispatch_arg(const ArgInstruction& arg, StageScope& scope) {
    for (const ArgDefinition& definition : arg.args) {
        if (internal::is_secret_name(definition.key))
            warn(k_secrets_in_arg_or_env, "Do not use ARG or ENV instructions for sensitive data (ARG " + go_quoted(definition.key) + ")",
                 arg.source);
        std::optional<std::string> value;
        if (const auto given = m_options.build_args.find(definition.key); given != m_options.build_args.end()) {
            value = given->second;
        } else if (definition.value) {
            try {
                Expansion expansion = m_lex.process_word_with_matches(*definition.value, scope.env);
                report_unmatched(expansion.unmatched, scope, arg.source);
                value = std::move(expansion.word);
            } catch (const ExpandError&) {
                value = *definition.value;
            }
        } else {
            value = m_global_env.get(definition.key);
        }
        if (value && !k_non_env_args.count(definition.key)) scope.env.set(definition.key, *value);
        scope.declared.insert(definition.key);
    }
}

void Linter::dispatch(std::size_t index) {
    const Stage& stage = m_dockerfile.stages[index];
    StageScope scope;
    std::string base = stage.from.base_name, platform = stage.from.platform;
    try {
        base = m_lex.process_word(base, m_global_env);
        platform = m_lex.process_word(platform, m_global_env);
    } catch (const ExpandError&) {
        scope.env_known = false;
    }
    if (const auto parent = find_stage(m_dockerfile, base); parent && *parent < index && m_finished[*parent]) {
        scope = *m_finished[*parent];
    } else if (base != "scratch" && scope.env_known) {
        std::optional<std::vector<std::string>> image_env;
        if (m_options.image_environment) image_env = m_options.image_environment(base, platform);
        scope.env_known = image_env.has_value();
        for (const std::string& entry : image_env.value_or(std::vector<std::string>{})) {
            const std::size_t equals = entry.find('=');
            scope.env.set(entry.substr(0, equals), equals == std::string::npos ? "" : entry.substr(equals + 1));
        }
    }
    if (!scope.env.find("PATH")) scope.env.set("PATH", k_default_path);

    std::optional<const SourceSpan*> last_cmd, last_entrypoint, last_healthcheck;
    const auto used_once = [&](std::optional<const SourceSpan*>& last, const SourceSpan& source) {
        if (last)
            warn(k_multiple_instructions, "Multiple " + written_keyword(source.original) +
                                              " instructions should not be used in the same stage because only the last one will be used",
                 **last);
        last = &source;
    };
    for (const Instruction& instruction : stage.instructions) {
        const SourceSpan& source = source_of(instruction);
        const std::string keyword = written_keyword(source.original);
        if (const auto* arg = std::get_if<ArgInstruction>(&instruction)) {
            dispatch_arg(*arg, scope);
            continue;
        }
        std::optional<Instruction> expanded;
        {
            RecordingExpander expander(m_lex, scope.env);
            try {
                expanded = expand_instruction(instruction, expander);
            } catch (const ParseError&) {
                // The planner reports it; the unexpanded instruction still gets its checks.
            }
            report_unmatched(expander.unmatched(), scope, source);
        }
        const Instruction& current = expanded ? *expanded : instruction;
        if (const auto* env = std::get_if<EnvInstruction>(&current)) {
            for (const KeyValue& variable : env->variables) {
                if (variable.legacy)
                    warn(k_legacy_key_value, "\"" + keyword + " key=value\" should be used instead of legacy \"" + keyword +
                                                 " key value\" format",
                         source);
                if (internal::is_secret_name(variable.key))
                    warn(k_secrets_in_arg_or_env,
                         "Do not use ARG or ENV instructions for sensitive data (ENV " + go_quoted(variable.key) + ")", source);
                scope.env.set(variable.key, variable.value);
            }
        } else if (const auto* label = std::get_if<LabelInstruction>(&current)) {
            for (const KeyValue& pair : label->labels)
                if (pair.legacy)
                    warn(k_legacy_key_value, "\"" + keyword + " key=value\" should be used instead of legacy \"" + keyword +
                                                 " key value\" format",
                         source);
        } else if (const auto* cmd = std::get_if<CmdInstruction>(&current)) {
            used_once(last_cmd, source);
            if (cmd->command.prepend_shell && !scope.shell_set)
                warn(k_json_args, "JSON arguments recommended for " + keyword + " to prevent unintended behavior related to OS signals", source);
        } else if (const auto* entrypoint = std::get_if<EntrypointInstruction>(&current)) {
            used_once(last_entrypoint, source);
            if (entrypoint->command.prepend_shell && !scope.shell_set)
                warn(k_json_args, "JSON arguments recommended for " + keyword + " to prevent unintended behavior related to OS signals", source);
        } else if (std::holds_alternative<HealthcheckInstruction>(current)) {
            used_once(last_healthcheck, source);
        } else if (std::holds_alternative<ShellInstruction>(current)) {
            scope.shell_set = true;
        } else if (const auto* workdir = std::get_if<WorkdirInstruction>(&current)) {
            if (!scope.workdir_set && (workdir->path.empty() || workdir->path.front() != '/'))
                warn(k_workdir_relative, "Relative workdir " + go_quoted(workdir->path) + " can have unexpected results if the base image changes",
                     source);
            scope.workdir_set = true;
        } else if (m_options.ignore) {
            const auto check_sources = [&](const std::vector<std::string>& paths, const char* verb) {
                for (const std::string& path : paths) {
                    if (path.rfind("http://", 0) == 0 || path.rfind("https://", 0) == 0 || path.rfind("git@", 0) == 0) continue;
                    if (m_options.ignore->matches_or_parent_matches(path))
                        warn(k_copy_ignored_file, std::string("Attempting to ") + verb + " file " + go_quoted(path) +
                                                      " that is excluded by .dockerignore",
                             source);
                }
            };
            if (const auto* copy = std::get_if<CopyInstruction>(&current); copy && copy->from.empty())
                check_sources(copy->files.source_paths, "Copy");
            if (const auto* add = std::get_if<AddInstruction>(&current)) check_sources(add->files.source_paths, "Add");
        }
    }
    m_finished[index] = std::move(scope);
}

std::vector<LintWarning> Linter::run() {
    for (const Warning& warning : m_dockerfile.warnings)
        if (warning.url.find(k_no_empty_continuation.slug) != std::string::npos)
            warn(k_no_empty_continuation, "Empty continuation line", warning.line, warning.line);
    check_nodes();
    check_stage_names();
    check_casing();
    try {
        check_from_lines();
    } catch (const ExpandError&) {
        return m_warnings;  // a meta ARG does not expand: the planner stops there too
    }
    m_finished.resize(m_dockerfile.stages.size());
    for (std::size_t index : dispatched_stages()) dispatch(index);

    std::stable_sort(m_warnings.begin(), m_warnings.end(),
                     [](const LintWarning& a, const LintWarning& b) { return a.start_line < b.start_line; });
    std::vector<LintWarning> unique;
    for (LintWarning& warning : m_warnings) {
        const bool seen = std::any_of(unique.begin(), unique.end(), [&](const LintWarning& other) {
            return other.rule == warning.rule && other.message == warning.message && other.start_line == warning.start_line;
        });
        if (!seen) unique.push_back(std::move(warning));
    }
    return unique;
}

}  // namespace

LintReport lint_dockerfile(std::string_view bytes, const std::string& file_name, const LintOptions& options) {
    const Ast ast = parse_ast(bytes, file_name);
    const Dockerfile dockerfile = dockerfile_from_ast(ast, file_name);
    CheckConfig config;
    if (const auto given = options.build_args.find("BUILDKIT_DOCKERFILE_CHECK"); given != options.build_args.end()) {
        config = parse_check_config(given->second, file_name, 0);
    } else if (const auto directive = detect_directive(bytes, "check", false)) {
        config = parse_check_config(directive->value, file_name, directive->line);
    }
    LintReport report;
    report.error_on_warnings = config.error;
    report.warnings = Linter(bytes, ast, dockerfile, options, std::move(config)).run();
    return report;
}

}  // namespace cbuild::parser
