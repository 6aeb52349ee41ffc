// The plan as text, for `cbuild debug plan` and `cbuild build --check`: each step shows its
// instruction with the variables expanded, so a user sees what will really run.

#include <chrono>
#include <sstream>

#include "builder/plan/plan.h"

namespace cbuild::builder {

namespace {

std::string join(const std::vector<std::string>& parts, const std::string& separator = " ") {
    std::string out;
    for (const std::string& part : parts) out += (out.empty() ? "" : separator) + part;
    return out;
}

std::string json_list(const std::vector<std::string>& parts) {
    std::string out = "[";
    for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? ", \"" : "\"") + parts[i] + "\"";
    return out + "]";
}

std::string command_text(const parser::CommandLine& command) {
    return command.prepend_shell ? join(command.arguments) : json_list(command.arguments);
}

std::string key_values(const std::vector<parser::KeyValue>& values) {
    std::string out;
    for (const parser::KeyValue& kv : values) out += (out.empty() ? "" : " ") + kv.key + "=" + kv.value;
    return out;
}

std::string copy_flags(const std::string& chown, const std::string& chmod, bool link,
                       const std::vector<std::string>& excludes) {
    std::string out;
    if (!chown.empty()) out += " --chown=" + chown;
    if (!chmod.empty()) out += " --chmod=" + chmod;
    if (link) out += " --link";
    for (const std::string& exclude : excludes) out += " --exclude=" + exclude;
    return out;
}

std::string sources(const parser::SourcesAndDest& files) {
    std::vector<std::string> parts = files.source_paths;
    for (const parser::InlineFile& file : files.source_contents) parts.push_back("<<" + file.name);
    parts.push_back(files.dest);
    return join(parts);
}

std::string seconds(std::chrono::nanoseconds duration) {
    std::ostringstream out;
    out << std::chrono::duration<double>(duration).count() << "s";
    return out.str();
}

// The instruction as it will be executed: the expanded fields where BuildKit expands, the text
// as written (continuations joined) where it does not.
std::string step_text(const parser::Instruction& instruction) {
    return std::visit(
        [](const auto& typed) -> std::string {
            using T = std::decay_t<decltype(typed)>;
            if constexpr (std::is_same_v<T, parser::EnvInstruction>) {
                return "ENV " + key_values(typed.variables);
            } else if constexpr (std::is_same_v<T, parser::LabelInstruction>) {
                return "LABEL " + key_values(typed.labels);
            } else if constexpr (std::is_same_v<T, parser::ArgInstruction>) {
                std::string out = "ARG";
                for (const parser::ArgDefinition& arg : typed.args)
                    out += " " + arg.key + (arg.value ? "=" + *arg.value : "");
                return out;
            } else if constexpr (std::is_same_v<T, parser::CopyInstruction>) {
                return "COPY" + (typed.from.empty() ? "" : " --from=" + typed.from) + (typed.parents ? " --parents" : "") +
                       copy_flags(typed.chown, typed.chmod, typed.link, typed.excludes) + " " + sources(typed.files);
            } else if constexpr (std::is_same_v<T, parser::AddInstruction>) {
                return "ADD" + copy_flags(typed.chown, typed.chmod, typed.link, typed.excludes) +
                       (typed.checksum.empty() ? "" : " --checksum=" + typed.checksum) + " " + sources(typed.files);
            } else if constexpr (std::is_same_v<T, parser::RunInstruction>) {
                std::string out = "RUN";
                for (const std::string& mount : typed.mount_specs) out += " --mount=" + mount;
                if (typed.network == parser::NetworkMode::none) out += " --network=none";
                if (typed.network == parser::NetworkMode::host) out += " --network=host";
                if (typed.security == parser::SecurityMode::insecure) out += " --security=insecure";
                return out + " " + command_text(typed.command);
            } else if constexpr (std::is_same_v<T, parser::CmdInstruction>) {
                return "CMD " + command_text(typed.command);
            } else if constexpr (std::is_same_v<T, parser::EntrypointInstruction>) {
                return "ENTRYPOINT " + command_text(typed.command);
            } else if constexpr (std::is_same_v<T, parser::ShellInstruction>) {
                return "SHELL " + json_list(typed.shell);
            } else if constexpr (std::is_same_v<T, parser::ExposeInstruction>) {
                return "EXPOSE " + join(typed.ports);
            } else if constexpr (std::is_same_v<T, parser::VolumeInstruction>) {
                return "VOLUME " + json_list(typed.volumes);
            } else if constexpr (std::is_same_v<T, parser::UserInstruction>) {
                return "USER " + typed.user;
            } else if constexpr (std::is_same_v<T, parser::WorkdirInstruction>) {
                return "WORKDIR " + typed.path;
            } else if constexpr (std::is_same_v<T, parser::StopsignalInstruction>) {
                return "STOPSIGNAL " + typed.signal;
            } else if constexpr (std::is_same_v<T, parser::MaintainerInstruction>) {
                return "MAINTAINER " + typed.maintainer;
            } else if constexpr (std::is_same_v<T, parser::OnbuildInstruction>) {
                return "ONBUILD " + typed.expression;
            } else if constexpr (std::is_same_v<T, parser::HealthcheckInstruction>) {
                if (!typed.test.empty() && typed.test[0] == "NONE") return std::string("HEALTHCHECK NONE");
                std::string out = "HEALTHCHECK";
                if (typed.interval.count()) out += " --interval=" + seconds(typed.interval);
                if (typed.timeout.count()) out += " --timeout=" + seconds(typed.timeout);
                if (typed.start_period.count()) out += " --start-period=" + seconds(typed.start_period);
                if (typed.start_interval.count()) out += " --start-interval=" + seconds(typed.start_interval);
                if (typed.retries) out += " --retries=" + std::to_string(typed.retries);
                return out + " " + json_list(typed.test);
            } else {
                return "FROM " + typed.base_name;
            }
        },
        static_cast<const parser::InstructionVariant&>(instruction));
}

std::string step_kind(const parser::Instruction& instruction) {
    if (std::holds_alternative<parser::RunInstruction>(instruction)) return "run   ";
    if (std::holds_alternative<parser::CopyInstruction>(instruction) ||
        std::holds_alternative<parser::AddInstruction>(instruction))
        return "copy  ";
    return "config";
}

std::string stage_label(const PlannedStage& stage) {
    return "stage " + std::to_string(stage.index) + (stage.name.empty() ? "" : " \"" + stage.name + "\"");
}

std::string base_text(const Plan& plan, const PlannedStage& stage) {
    std::string out;
    switch (stage.base.kind) {
    case StageBase::Kind::scratch: out = "scratch"; break;
    case StageBase::Kind::image: out = "image " + stage.base.image->to_string(); break;
    case StageBase::Kind::stage: out = stage_label(plan.stages[stage.base.stage]); break;
    case StageBase::Kind::directory: out = "directory " + stage.base.directory.string(); break;
    }
    if (!stage.base.context.empty()) out += " (--build-context " + stage.base.context + ")";
    if (!stage.base.platform.empty()) out += " [" + stage.base.platform + "]";
    return out;
}

}  // namespace

std::string describe(const Plan& plan) {
    std::ostringstream out;
    const PlannedStage& target = plan.stages[plan.target];
    out << "target: " << stage_label(target) << "\n";
    for (std::size_t index : plan.build_order) {
        const PlannedStage& stage = plan.stages[index];
        out << "\n" << stage_label(stage) << " from " << base_text(plan, stage) << "   ("
            << stage.from.source.file << ":" << stage.from.source.start_line << ")\n";
        for (const PlannedStep& step : stage.steps) {
            const parser::SourceSpan& source = parser::source_of(step.instruction);
            out << "  " << step_kind(step.instruction) << "  " << step_text(step.instruction);
            std::vector<std::string> reads;
            for (std::size_t input : step.stage_inputs) reads.push_back(stage_label(plan.stages[input]));
            for (const registry::Reference& image : step.image_inputs) reads.push_back("image " + image.to_string());
            if (!reads.empty()) out << "   <- " << join(reads, ", ");
            if (!step.build_arg_environment.empty()) out << "   [args: " << join(step.build_arg_environment) << "]";
            out << "   (line " << source.start_line << ")\n";
        }
    }
    std::vector<std::string> skipped;
    for (const PlannedStage& stage : plan.stages)
        if (!stage.needed) skipped.push_back(stage_label(stage));
    if (!skipped.empty()) out << "\nnot needed by the target: " << join(skipped, ", ") << "\n";
    for (const parser::Warning& warning : plan.warnings) out << "\nwarning: " << warning.short_text << "\n";
    return out.str();
}

}  // namespace cbuild::builder
