// The expansion hook: which fields of each instruction take $VARIABLES. This follows BuildKit,
// where it is split between the instructions' Expand methods (ENV, LABEL, ARG, ADD, COPY,
// WORKDIR, USER, VOLUME, STOPSIGNAL, RUN --mount) and dockerfile2llb (FROM base name and
// --platform with the meta ARGs, EXPOSE with word splitting). RUN, CMD, ENTRYPOINT, SHELL,
// HEALTHCHECK, MAINTAINER and ONBUILD are never expanded by the frontend. Beyond upstream's
// Expand methods, COPY --from, --chmod and --exclude are expanded too, as the planner expands
// them (a COPY --from holding `$` would otherwise name no stage).

#include "common/error.h"
#include "parser/instructions.h"
#include "parser/internal/instruction_error.h"
#include "parser/internal/run_mount.h"
#include "parser/shell_lex.h"

namespace cbuild::parser {

namespace {

[[noreturn]] void fail_at(const SourceSpan& source, const std::string& message) {
    const std::string line = source.original.substr(0, source.original.find('\n'));
    throw ParseError(source.file, source.start_line, 0, message, line);
}

// Runs `body`, reporting an expansion or value error at the instruction's line.
template <typename Body>
auto located(const SourceSpan& source, Body&& body) {
    try {
        return body();
    } catch (const ExpandError& error) {
        fail_at(source, error.what());
    } catch (const internal::InstructionError& error) {
        fail_at(source, error.what());
    }
}

std::vector<std::string> each_word(const std::vector<std::string>& values, WordExpander& expander) {
    std::vector<std::string> out;
    out.reserve(values.size());
    for (const std::string& value : values) out.push_back(expander.word(value));
    return out;
}

std::vector<KeyValue> each_pair(const std::vector<KeyValue>& pairs, WordExpander& expander) {
    std::vector<KeyValue> out;
    out.reserve(pairs.size());
    for (const KeyValue& pair : pairs)
        out.push_back({expander.word(pair.key), expander.word(pair.value), pair.legacy});
    return out;
}

SourcesAndDest expand_files(const SourcesAndDest& files, WordExpander& expander) {
    SourcesAndDest out = files;  // inline file bodies are expanded at use time
    out.source_paths = each_word(files.source_paths, expander);
    out.dest = expander.word(files.dest);
    return out;
}

std::string expand_chmod(const std::string& chmod, WordExpander& expander) {
    std::string out = expander.word(chmod);
    if (!out.empty())
        if (const std::optional<std::string> error = check_chmod(out))
            throw internal::InstructionError(*error);
    return out;
}

}  // namespace

FromInstruction FromInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        FromInstruction out = *this;
        out.base_name = expander.word(base_name);
        if (out.base_name.empty())
            throw internal::InstructionError("base name (" + base_name + ") should not be blank");
        out.platform = expander.word(platform);
        return out;
    });
}

RunInstruction RunInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        RunInstruction out = *this;
        out.mounts.clear();
        for (const std::string& spec : mount_specs) out.mounts.push_back(internal::parse_mount(spec, &expander));
        return out;
    });
}

CmdInstruction CmdInstruction::expand(WordExpander&) const { return *this; }

EntrypointInstruction EntrypointInstruction::expand(WordExpander&) const { return *this; }

LabelInstruction LabelInstruction::expand(WordExpander& expander) const {
    return located(source, [&] { return LabelInstruction{source, each_pair(labels, expander)}; });
}

MaintainerInstruction MaintainerInstruction::expand(WordExpander&) const { return *this; }

ExposeInstruction ExposeInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        ExposeInstruction out{};
        out.source = source;
        for (const std::string& port : ports)
            for (std::string& word : expander.words(port)) out.ports.push_back(std::move(word));
        return out;
    });
}

EnvInstruction EnvInstruction::expand(WordExpander& expander) const {
    return located(source, [&] { return EnvInstruction{source, each_pair(variables, expander)}; });
}

AddInstruction AddInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        AddInstruction out = *this;
        out.files = expand_files(files, expander);
        out.chown = expander.word(chown);
        out.chmod = expand_chmod(chmod, expander);
        out.checksum = expander.word(checksum);
        out.excludes = each_word(excludes, expander);
        return out;
    });
}

CopyInstruction CopyInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        CopyInstruction out = *this;
        out.files = expand_files(files, expander);
        out.from = expander.word(from);
        out.chown = expander.word(chown);
        out.chmod = expand_chmod(chmod, expander);
        out.excludes = each_word(excludes, expander);
        return out;
    });
}

VolumeInstruction VolumeInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        VolumeInstruction out{source, each_word(volumes, expander)};
        for (const std::string& volume : out.volumes)
            if (volume.empty())
                throw internal::InstructionError("VOLUME specified can not be an empty string");
        return out;
    });
}

UserInstruction UserInstruction::expand(WordExpander& expander) const {
    return located(source, [&] { return UserInstruction{source, expander.word(user)}; });
}

WorkdirInstruction WorkdirInstruction::expand(WordExpander& expander) const {
    return located(source, [&] { return WorkdirInstruction{source, expander.word(path)}; });
}

ArgInstruction ArgInstruction::expand(WordExpander& expander) const {
    return located(source, [&] {
        ArgInstruction out{};
        out.source = source;
        for (const ArgDefinition& arg : args) {
            ArgDefinition expanded{expander.word(arg.key), std::nullopt};
            if (arg.value) expanded.value = expander.word(*arg.value);
            out.args.push_back(std::move(expanded));
        }
        return out;
    });
}

OnbuildInstruction OnbuildInstruction::expand(WordExpander&) const { return *this; }

StopsignalInstruction StopsignalInstruction::expand(WordExpander& expander) const {
    return located(source, [&] { return StopsignalInstruction{source, expander.word(signal)}; });
}

HealthcheckInstruction HealthcheckInstruction::expand(WordExpander&) const { return *this; }

ShellInstruction ShellInstruction::expand(WordExpander&) const { return *this; }

Instruction expand_instruction(const Instruction& instruction, WordExpander& expander) {
    return std::visit([&](const auto& value) -> Instruction { return value.expand(expander); },
                      static_cast<const InstructionVariant&>(instruction));
}

}  // namespace cbuild::parser
