#include "parser/instructions.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>

#include "common/error.h"
#include "parser/internal/duration.h"
#include "parser/internal/flags.h"
#include "parser/internal/instruction_error.h"
#include "parser/internal/run_mount.h"

namespace cbuild::parser {

namespace {

using internal::Flags;
using internal::InstructionError;

// What every per-keyword parser is handed (BuildKit's parseRequest).
struct Request {
    const Node& node;
    const std::vector<Heredoc>& heredocs;  // the outer node's for a trigger nested in ONBUILD
    SourceSpan span;
    Flags flags;
};

// An instruction value that knows where it came from, every other field defaulted.
template <typename T>
T located(const SourceSpan& span) {
    T value{};
    value.source = span;
    return value;
}

[[noreturn]] void fail(const std::string& message, std::string near = {}) {
    throw InstructionError(message, std::move(near));
}

std::string upper(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return out;
}

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string join(const std::vector<std::string>& words, std::string_view separator) {
    std::string out;
    for (std::size_t i = 0; i < words.size(); ++i) {
        if (i > 0) out += separator;
        out += words[i];
    }
    return out;
}

std::string trim(std::string_view text) {
    const auto space = [](char c) { return std::isspace(static_cast<unsigned char>(c)) != 0; };
    while (!text.empty() && space(text.front())) text.remove_prefix(1);
    while (!text.empty() && space(text.back())) text.remove_suffix(1);
    return std::string(text);
}

void exactly_one_argument(const Request& request, std::string_view name) {
    if (request.node.args.size() != 1) fail(std::string(name) + " requires exactly one argument");
}

void at_least_one_argument(const Request& request, std::string_view name) {
    if (request.node.args.empty()) fail(std::string(name) + " requires at least one argument");
}

// handleJSONArgs: the exec form as is; the shell form as one string.
CommandLine command_line(const std::vector<std::string>& args, bool json_form) {
    CommandLine line;
    line.prepend_shell = !json_form;
    if (json_form) line.arguments = args;
    else if (!args.empty()) line.arguments = {join(args, " ")};
    return line;
}

InlineFile inline_file(const Heredoc& heredoc) {
    return {heredoc.name, heredoc.content, heredoc.chomp, heredoc.expand, heredoc.file_descriptor};
}

// The name a `<<NAME` word (`<<-"EOF"`, `3<<EOF`) announces, or nullopt for an ordinary word:
// the parser's `^(\d*)<<(-?)([^<]*)$` with the rest unquoted as one shell word.
std::optional<std::string> heredoc_token_name(std::string_view word) {
    std::size_t pos = 0;
    while (pos < word.size() && std::isdigit(static_cast<unsigned char>(word[pos]))) ++pos;
    if (word.substr(pos, 2) != "<<") return std::nullopt;
    pos += 2;
    if (pos < word.size() && word[pos] == '-') ++pos;
    const std::string_view rest = word.substr(pos);
    if (rest.find('<') != std::string_view::npos) return std::nullopt;
    std::string name;
    char quote = 0;
    for (std::size_t i = 0; i < rest.size(); ++i) {
        const char c = rest[i];
        if (quote != 0) {
            if (c == quote) quote = 0;
            else if (c == '\\' && quote == '"' && i + 1 < rest.size()) name += rest[++i];
            else name += c;
        } else if (c == '\'' || c == '"') {
            quote = c;
        } else if (c == '\\' && i + 1 < rest.size()) {
            name += rest[++i];
        } else if (std::isspace(static_cast<unsigned char>(c))) {
            return std::nullopt;
        } else {
            name += c;
        }
    }
    if (name.empty() || quote != 0) return std::nullopt;
    return name;
}

SourcesAndDest sources_and_dest(const Request& request, std::string_view name) {
    const std::vector<std::string>& args = request.node.args;
    SourcesAndDest out;
    out.dest = args.back();
    if (heredoc_token_name(out.dest))
        fail(std::string(name) + " cannot accept a heredoc as a destination", out.dest);
    for (std::size_t i = 0; i + 1 < args.size(); ++i) {
        const std::optional<std::string> heredoc_name = heredoc_token_name(args[i]);
        const auto heredoc = heredoc_name ? std::find_if(request.heredocs.begin(), request.heredocs.end(),
                                                         [&](const Heredoc& h) { return h.name == *heredoc_name; })
                                          : request.heredocs.end();
        if (heredoc != request.heredocs.end()) out.source_contents.push_back(inline_file(*heredoc));
        else out.source_paths.push_back(args[i]);
    }
    return out;
}

void check_chmod_flag(const std::string& chmod) {
    if (chmod.empty() || chmod.find('$') != std::string::npos) return;  // checked after expansion
    if (const std::optional<std::string> error = check_chmod(chmod)) fail(*error, "--chmod");
}

std::vector<KeyValue> key_values(const Request& request, std::string_view name) {
    const std::vector<std::string>& args = request.node.args;
    if (args.empty()) fail(std::string(name) + " requires at least one argument");
    if (args.size() % 3 != 0) fail("Bad input to " + std::string(name) + ", too many arguments");
    std::vector<KeyValue> out;
    for (std::size_t i = 0; i < args.size(); i += 3) {
        if (args[i].empty()) fail(std::string(name) + " names can not be blank");
        out.push_back({args[i], args[i + 1], args[i + 2].empty()});
    }
    return out;
}

FromInstruction parse_from(Request& request) {
    const std::vector<std::string>& args = request.node.args;
    auto from = located<FromInstruction>(request.span);
    if (args.size() == 3 && lower(args[1]) == "as") {
        from.stage_name = lower(args[2]);
        // ^[a-z][a-z0-9-_.]*$
        const bool valid =
            !from.stage_name.empty() && std::islower(static_cast<unsigned char>(from.stage_name[0])) &&
            std::all_of(from.stage_name.begin(), from.stage_name.end(), [](char c) {
                return std::islower(static_cast<unsigned char>(c)) ||
                       std::isdigit(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
            });
        if (!valid)
            fail("invalid name for build stage: \"" + args[2] +
                     "\", name can't start with a number or contain symbols",
                 args[2]);
    } else if (args.size() != 1) {
        fail("FROM requires either one or three arguments");
    }
    request.flags.add_string("platform");
    request.flags.parse();
    from.base_name = args[0];
    from.platform = request.flags.get_string("platform");
    return from;
}

RunInstruction parse_run(Request& request) {
    request.flags.add_strings("mount");
    request.flags.add_string("network", "default");
    request.flags.add_string("security", "sandbox");
    request.flags.parse();
    auto run = located<RunInstruction>(request.span);
    run.command = command_line(request.node.args, request.node.json_form);
    for (const Heredoc& heredoc : request.heredocs) run.heredocs.push_back(inline_file(heredoc));
    run.mount_specs = request.flags.get_strings("mount");
    for (const std::string& spec : run.mount_specs) {
        try {
            run.mounts.push_back(internal::parse_mount(spec, nullptr));
        } catch (const InstructionError& error) {
            // Point at the whole flag when the field itself is not on the line (a quoted one).
            throw InstructionError(error.what(), error.near().empty() ? spec : error.near());
        }
    }
    run.network = internal::parse_network(request.flags.get_string("network"));
    run.security = internal::parse_security(request.flags.get_string("security"));
    return run;
}

CmdInstruction parse_cmd(Request& request) {
    request.flags.parse();
    return {request.span, command_line(request.node.args, request.node.json_form)};
}

EntrypointInstruction parse_entrypoint(Request& request) {
    request.flags.parse();
    return {request.span, command_line(request.node.args, request.node.json_form)};
}

LabelInstruction parse_label(Request& request) {
    request.flags.parse();
    return {request.span, key_values(request, "LABEL")};
}

MaintainerInstruction parse_maintainer(Request& request) {
    exactly_one_argument(request, "MAINTAINER");
    request.flags.parse();
    return {request.span, request.node.args[0]};
}

ExposeInstruction parse_expose(Request& request) {
    at_least_one_argument(request, "EXPOSE");
    request.flags.parse();
    return {request.span, request.node.args};
}

EnvInstruction parse_env(Request& request) {
    request.flags.parse();
    return {request.span, key_values(request, "ENV")};
}

void no_destination(const Request& request, std::string_view name) {
    if (request.node.args.size() < 2)
        fail(std::string(name) +
             " requires at least two arguments, but only one was provided. Destination could not "
             "be determined.");
}

AddInstruction parse_add(Request& request) {
    no_destination(request, "ADD");
    Flags& flags = request.flags;
    flags.add_strings("exclude");
    flags.add_string("chown");
    flags.add_string("chmod");
    flags.add_bool("link");
    flags.add_bool("keep-git-dir");
    flags.add_string("checksum");
    flags.add_bool("unpack");
    flags.parse();
    auto add = located<AddInstruction>(request.span);
    add.files = sources_and_dest(request, "ADD");
    add.chown = flags.get_string("chown");
    add.chmod = flags.get_string("chmod");
    check_chmod_flag(add.chmod);
    add.link = flags.get_bool("link");
    add.keep_git_dir = flags.get_bool("keep-git-dir");
    add.checksum = flags.get_string("checksum");
    add.excludes = flags.get_strings("exclude");
    if (flags.is_used("unpack")) add.unpack = flags.get_bool("unpack");
    return add;
}

CopyInstruction parse_copy(Request& request) {
    no_destination(request, "COPY");
    Flags& flags = request.flags;
    flags.add_strings("exclude");
    flags.add_bool("parents");
    flags.add_string("chown");
    flags.add_string("from");
    flags.add_string("chmod");
    flags.add_bool("link");
    flags.parse();
    auto copy = located<CopyInstruction>(request.span);
    copy.files = sources_and_dest(request, "COPY");
    copy.from = flags.get_string("from");
    copy.chown = flags.get_string("chown");
    copy.chmod = flags.get_string("chmod");
    check_chmod_flag(copy.chmod);
    copy.link = flags.get_bool("link");
    copy.parents = flags.get_bool("parents");
    copy.excludes = flags.get_strings("exclude");
    return copy;
}

VolumeInstruction parse_volume(Request& request) {
    at_least_one_argument(request, "VOLUME");
    request.flags.parse();
    auto volume = located<VolumeInstruction>(request.span);
    for (const std::string& arg : request.node.args) {
        std::string path = trim(arg);
        if (path.empty()) fail("VOLUME specified can not be an empty string");
        volume.volumes.push_back(std::move(path));
    }
    return volume;
}

UserInstruction parse_user(Request& request) {
    exactly_one_argument(request, "USER");
    request.flags.parse();
    return {request.span, request.node.args[0]};
}

WorkdirInstruction parse_workdir(Request& request) {
    exactly_one_argument(request, "WORKDIR");
    request.flags.parse();
    return {request.span, request.node.args[0]};
}

ArgInstruction parse_arg(Request& request) {
    at_least_one_argument(request, "ARG");
    request.flags.parse();
    auto arg = located<ArgInstruction>(request.span);
    // Unlike ENV, the parser leaves `name=value` whole: a name alone declares without default.
    for (const std::string& word : request.node.args) {
        const std::size_t equals = word.find('=');
        if (equals == 0) fail("ARG names can not be blank", word);
        if (equals == std::string::npos) arg.args.push_back({word, std::nullopt});
        else arg.args.push_back({word.substr(0, equals), word.substr(equals + 1)});
    }
    return arg;
}

StopsignalInstruction parse_stopsignal(Request& request) {
    exactly_one_argument(request, "STOPSIGNAL");
    request.flags.parse();
    return {request.span, request.node.args[0]};
}

// parseOptInterval: empty or zero is "use the default"; otherwise at least 1ms.
std::chrono::nanoseconds interval_flag(const Flags& flags, const std::string& name) {
    const std::string& value = flags.get_string(name);
    if (value.empty()) return std::chrono::nanoseconds{0};
    const std::chrono::nanoseconds duration = internal::parse_go_duration(value);
    if (duration.count() != 0 && duration < std::chrono::milliseconds(1))
        fail("Interval \"" + name + "\" cannot be less than 1ms", "--" + name);
    return duration;
}

HealthcheckInstruction parse_healthcheck(Request& request) {
    at_least_one_argument(request, "HEALTHCHECK");
    const std::vector<std::string>& args = request.node.args;
    Flags& flags = request.flags;
    for (const char* name : {"interval", "timeout", "start-period", "start-interval", "retries"})
        flags.add_string(name);
    flags.parse();
    auto healthcheck = located<HealthcheckInstruction>(request.span);
    const std::string type = upper(args[0]);
    const std::vector<std::string> rest(args.begin() + 1, args.end());
    // Upstream accepts and ignores the timing flags on NONE.
    if (type == "NONE") {
        if (!rest.empty()) fail("HEALTHCHECK NONE takes no arguments");
        healthcheck.test = {"NONE"};
        return healthcheck;
    }
    if (type != "CMD") fail("Unknown type \"" + type + "\" in HEALTHCHECK (try CMD)", args[0]);
    const CommandLine command = command_line(rest, request.node.json_form);
    if (command.arguments.empty()) fail("Missing command after HEALTHCHECK CMD");
    healthcheck.test = {request.node.json_form ? "CMD" : "CMD-SHELL"};
    healthcheck.test.insert(healthcheck.test.end(), command.arguments.begin(), command.arguments.end());
    healthcheck.interval = interval_flag(flags, "interval");
    healthcheck.timeout = interval_flag(flags, "timeout");
    healthcheck.start_period = interval_flag(flags, "start-period");
    healthcheck.start_interval = interval_flag(flags, "start-interval");
    if (const std::string& retries = flags.get_string("retries"); !retries.empty()) {
        healthcheck.retries = internal::parse_go_int32(retries, "--retries");
        if (healthcheck.retries < 0)
            fail("--retries cannot be negative (" + retries + ")", "--retries");
    }
    return healthcheck;
}

ShellInstruction parse_shell(Request& request) {
    request.flags.parse();
    const CommandLine command = command_line(request.node.args, request.node.json_form);
    if (command.arguments.empty()) fail("SHELL requires at least one argument");
    if (!request.node.json_form) fail("SHELL requires the arguments to be in JSON form");
    return {request.span, command.arguments};
}

Instruction parse_node(const Node& node, const std::vector<Heredoc>& heredocs, SourceSpan span);

OnbuildInstruction parse_onbuild(Request& request) {
    if (request.node.nested.empty()) fail("ONBUILD requires at least one argument");
    request.flags.parse();
    const Node& trigger = request.node.nested[0];
    const std::string trigger_name = upper(trim(trigger.keyword));
    if (trigger_name == "ONBUILD") fail("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
    if (trigger_name == "MAINTAINER" || trigger_name == "FROM")
        fail(trigger_name + " isn't allowed as an ONBUILD trigger", trigger.keyword);

    auto onbuild = located<OnbuildInstruction>(request.span);
    // (?i)^\s*ONBUILD\s* removed from the original, then heredoc bodies appended as upstream.
    std::string_view expression = request.node.original;
    while (!expression.empty() && std::isspace(static_cast<unsigned char>(expression.front())))
        expression.remove_prefix(1);
    if (lower(expression.substr(0, 7)) == "onbuild") expression.remove_prefix(7);
    while (!expression.empty() && std::isspace(static_cast<unsigned char>(expression.front())))
        expression.remove_prefix(1);
    onbuild.expression = std::string(expression);
    for (const Heredoc& heredoc : request.heredocs)
        onbuild.expression += "\n" + heredoc.content + heredoc.name;

    SourceSpan trigger_span = request.span;
    trigger_span.original = onbuild.expression;
    onbuild.trigger = std::make_shared<const Instruction>(
        parse_node(trigger, trigger.heredocs.empty() ? request.heredocs : trigger.heredocs, trigger_span));
    return onbuild;
}

using Parser = std::function<Instruction(Request&)>;

template <typename Function>
Parser parser(Function function) {
    return [function](Request& request) -> Instruction { return function(request); };
}

const std::map<std::string, Parser, std::less<>>& parsers() {
    static const std::map<std::string, Parser, std::less<>> table = {
        {"add", parser(parse_add)},
        {"arg", parser(parse_arg)},
        {"cmd", parser(parse_cmd)},
        {"copy", parser(parse_copy)},
        {"entrypoint", parser(parse_entrypoint)},
        {"env", parser(parse_env)},
        {"expose", parser(parse_expose)},
        {"from", parser(parse_from)},
        {"healthcheck", parser(parse_healthcheck)},
        {"label", parser(parse_label)},
        {"maintainer", parser(parse_maintainer)},
        {"onbuild", parser(parse_onbuild)},
        {"run", parser(parse_run)},
        {"shell", parser(parse_shell)},
        {"stopsignal", parser(parse_stopsignal)},
        {"user", parser(parse_user)},
        {"volume", parser(parse_volume)},
        {"workdir", parser(parse_workdir)},
    };
    return table;
}

Instruction parse_node(const Node& node, const std::vector<Heredoc>& heredocs, SourceSpan span) {
    const auto found = parsers().find(lower(node.keyword));
    if (found == parsers().end()) {
        std::vector<std::string> names;
        for (const auto& entry : parsers()) names.push_back(entry.first);
        // The keyword as written (any case) is the first word of the line.
        const std::string written = trim(node.original).substr(0, node.keyword.size());
        fail("unknown instruction: " + upper(node.keyword) +
                 internal::suggestion(lower(node.keyword), names, false),
             written);
    }
    Request request{node, heredocs, std::move(span), Flags(node.flags)};
    return found->second(request);
}

std::string first_line(std::string_view text) {
    const std::size_t newline = text.find('\n');
    return std::string(text.substr(0, newline));
}

}  // namespace

Instruction parse_instruction(const Node& node, const std::string& file_name) {
    const SourceSpan span{file_name, node.original, node.start_line, node.end_line};
    try {
        return parse_node(node, node.heredocs, span);
    } catch (const InstructionError& error) {
        const std::string line = first_line(node.original);
        const std::size_t at = error.near().empty() ? std::string::npos : line.find(error.near());
        const int column = at == std::string::npos ? 0 : static_cast<int>(at) + 1;
        throw ParseError(file_name, node.start_line, column, error.what(), line);
    }
}

std::string InlineFile::content() const {
    if (!chomp) return data;
    // ChompHeredocContent: (?m)^\t+ removed.
    std::string out;
    bool line_start = true;
    for (char c : data) {
        if (line_start && c == '\t') continue;
        line_start = c == '\n';
        out += c;
    }
    return out;
}

std::string_view instruction_name(const Instruction& instruction) {
    static constexpr std::string_view k_names[] = {
        "FROM", "RUN",  "CMD",     "ENTRYPOINT", "LABEL", "MAINTAINER", "EXPOSE",  "ENV",         "ADD",
        "COPY", "VOLUME", "USER",  "WORKDIR",    "ARG",   "ONBUILD",    "STOPSIGNAL", "HEALTHCHECK", "SHELL"};
    static_assert(std::size(k_names) == std::variant_size_v<InstructionVariant>);
    return k_names[instruction.index()];
}

const SourceSpan& source_of(const Instruction& instruction) {
    return std::visit([](const auto& value) -> const SourceSpan& { return value.source; },
                      static_cast<const InstructionVariant&>(instruction));
}

}  // namespace cbuild::parser
