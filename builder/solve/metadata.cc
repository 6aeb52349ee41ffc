// Instructions that change only the image config, written the way BuildKit's dockerfile2llb
// writes them (dispatchEnv, dispatchCmd, dispatchExpose, ... and commitToHistory), so the
// config and history of our images match what `docker buildx build` produces.

#include <chrono>
#include <cstdio>
#include <ctime>
#include <set>

#include "builder/solve/internal/stage_image.h"
#include "common/error.h"
#include "parser/ast.h"

namespace cbuild::builder::internal {

namespace {

constexpr const char* k_history_comment = "buildkit.dockerfile.v0";

// Go's time.Duration.String(): "1h0m0s", "1m30s", "1.5s", "500ms", "0s".
std::string go_duration(std::chrono::nanoseconds duration) {
    std::int64_t ns = duration.count();
    if (ns == 0) return "0s";
    std::string sign = ns < 0 ? "-" : "";
    std::uint64_t value = ns < 0 ? static_cast<std::uint64_t>(-ns) : static_cast<std::uint64_t>(ns);
    const auto fraction = [](std::uint64_t v, int digits) {
        std::string out = std::to_string(v);
        out.insert(0, static_cast<std::size_t>(digits) - std::min<std::size_t>(out.size(), static_cast<std::size_t>(digits)), '0');
        while (!out.empty() && out.back() == '0') out.pop_back();
        return out.empty() ? std::string() : "." + out;
    };
    if (value < 1'000) return sign + std::to_string(value) + "ns";
    if (value < 1'000'000) return sign + std::to_string(value / 1'000) + fraction(value % 1'000, 3) + "µs";
    if (value < 1'000'000'000) return sign + std::to_string(value / 1'000'000) + fraction(value % 1'000'000, 6) + "ms";
    const std::uint64_t seconds = value / 1'000'000'000;
    std::string out = std::to_string(seconds % 60) + fraction(value % 1'000'000'000, 9) + "s";
    if (seconds >= 60) out = std::to_string((seconds / 60) % 60) + "m" + out;
    if (seconds >= 3600) out = std::to_string(seconds / 3600) + "h" + out;
    return sign + out;
}

void set_env(registry::ImageConfig& config, const std::string& key, const std::string& value) {
    for (std::string& entry : config.config.env) {
        if (entry.compare(0, key.size() + 1, key + "=") == 0) {
            entry = key + "=" + value;
            return;
        }
    }
    config.config.env.push_back(key + "=" + value);
}

std::vector<std::string> with_shell(const registry::ImageConfig& config, const parser::CommandLine& command) {
    if (!command.prepend_shell) return command.arguments;
    std::vector<std::string> args = config.config.shell.empty() ? std::vector<std::string>{"/bin/sh", "-c"}
                                                                : config.config.shell;
    std::string joined;
    for (const std::string& part : command.arguments) joined += (joined.empty() ? "" : " ") + part;
    args.push_back(joined);
    return args;
}

// nat.ParsePortSpecs for EXPOSE: `80`, `80/udp`, `8000-8002/tcp`.
std::set<std::string> parse_ports(const std::vector<std::string>& specs) {
    std::set<std::string> ports;
    for (const std::string& spec : specs) {
        const std::size_t slash = spec.find('/');
        const std::string range = spec.substr(0, slash);
        std::string protocol = slash == std::string::npos ? "tcp" : spec.substr(slash + 1);
        for (char& c : protocol) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        const auto number = [&](const std::string& text) {
            if (text.empty() || text.size() > 5 || text.find_first_not_of("0123456789") != std::string::npos)
                throw Error("invalid containerPort: " + spec);
            const unsigned long value = std::stoul(text);
            if (value > 65535) throw Error("invalid containerPort: " + spec);
            return value;
        };
        if (protocol != "tcp" && protocol != "udp" && protocol != "sctp") throw Error("invalid proto: " + protocol);
        const std::size_t dash = range.find('-');
        const unsigned long first = number(range.substr(0, dash));
        const unsigned long last = dash == std::string::npos ? first : number(range.substr(dash + 1));
        if (last < first) throw Error("invalid range specified for container port: " + spec);
        for (unsigned long port = first; port <= last; ++port) ports.insert(std::to_string(port) + "/" + protocol);
    }
    return ports;
}

// moby's signal.ParseSignal: a positive number, or a name with or without `SIG`.
void check_stop_signal(const std::string& signal) {
    static const std::set<std::string> k_names = {
        "ABRT", "ALRM", "BUS",  "CHLD", "CLD",   "CONT", "FPE",  "HUP",    "ILL",  "INT",  "IO",
        "IOT",  "KILL", "PIPE", "POLL", "PROF",  "PWR",  "QUIT", "SEGV",   "STKFLT", "STOP", "SYS",
        "TERM", "TRAP", "TSTP", "TTIN", "TTOU",  "UNUSED", "URG", "USR1",  "USR2", "VTALRM", "WINCH",
        "XCPU", "XFSZ", "RTMIN", "RTMAX"};
    if (!signal.empty() && signal.find_first_not_of("0123456789") == std::string::npos) {
        if (signal.size() <= 3 && std::stoi(signal) > 0) return;
        throw Error("Invalid signal: " + signal);
    }
    std::string name = signal;
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    if (name.rfind("SIG", 0) == 0) name = name.substr(3);
    for (const char* prefix : {"RTMIN+", "RTMAX-"}) {
        const std::string p = prefix;
        if (name.rfind(p, 0) == 0 && name.size() > p.size() && name.size() <= p.size() + 2 &&
            name.find_first_not_of("0123456789", p.size()) == std::string::npos)
            return;
    }
    if (!k_names.count(name)) throw Error("Invalid signal: " + signal);
}

}  // namespace

BuildTime build_time(std::optional<std::int64_t> source_date_epoch) {
    BuildTime time;
    if (source_date_epoch) {
        time.seconds = *source_date_epoch;
    } else {
        const auto now = std::chrono::system_clock::now().time_since_epoch();
        time.seconds = std::chrono::duration_cast<std::chrono::seconds>(now).count();
        time.nanoseconds = static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now).count() % 1'000'000'000);
    }
    const std::time_t seconds = static_cast<std::time_t>(time.seconds);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    char buffer[64];
    std::strftime(buffer, sizeof buffer, "%Y-%m-%dT%H:%M:%S", &utc);
    time.rfc3339 = buffer;
    if (time.nanoseconds) {
        std::snprintf(buffer, sizeof buffer, ".%09u", time.nanoseconds);
        std::string fraction = buffer;
        while (fraction.back() == '0') fraction.pop_back();
        time.rfc3339 += fraction;
    }
    time.rfc3339 += "Z";
    return time;
}

registry::HistoryEntry history_entry(std::string created_by, bool empty_layer, const BuildTime& time) {
    registry::HistoryEntry entry;
    entry.created = time.rfc3339;
    entry.created_by = std::move(created_by);
    entry.comment = k_history_comment;
    entry.empty_layer = empty_layer;
    return entry;
}

std::string go_quoted_list(const std::vector<std::string>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + parser::go_quote(values[i]);
    return out + "]";
}

std::string go_plain_list(const std::vector<std::string>& values) {
    std::string out = "[";
    for (std::size_t i = 0; i < values.size(); ++i) out += (i ? " " : "") + values[i];
    return out + "]";
}

bool apply_metadata(StageImage& image, const PlannedStep& step, const BuildTime& time) {
    registry::ImageConfig& config = image.config;
    registry::ExecutionConfig& run = config.config;
    std::optional<std::string> history;
    const bool handled = std::visit(
        [&](const auto& typed) -> bool {
            using T = std::decay_t<decltype(typed)>;
            if constexpr (std::is_same_v<T, parser::EnvInstruction>) {
                std::string message = "ENV";
                for (const parser::KeyValue& kv : typed.variables) {
                    set_env(config, kv.key, kv.value);
                    message += " " + kv.key + "=" + kv.value;
                }
                history = message;
            } else if constexpr (std::is_same_v<T, parser::LabelInstruction>) {
                std::string message = "LABEL";
                for (const parser::KeyValue& kv : typed.labels) {
                    run.labels[kv.key] = kv.value;
                    message += " " + kv.key + "=" + kv.value;
                }
                history = message;
            } else if constexpr (std::is_same_v<T, parser::MaintainerInstruction>) {
                config.author = typed.maintainer;
                history = "MAINTAINER " + typed.maintainer;
            } else if constexpr (std::is_same_v<T, parser::CmdInstruction>) {
                run.cmd = with_shell(config, typed.command);
                run.args_escaped = true;
                image.cmd_set = true;
                history = "CMD " + go_quoted_list(*run.cmd);
            } else if constexpr (std::is_same_v<T, parser::EntrypointInstruction>) {
                run.entrypoint = with_shell(config, typed.command);
                if (!image.cmd_set) run.cmd.reset();  // a CMD inherited from the base no longer applies
                history = "ENTRYPOINT " + go_quoted_list(*run.entrypoint);
            } else if constexpr (std::is_same_v<T, parser::ExposeInstruction>) {
                const std::set<std::string> ports = parse_ports(typed.ports);
                std::string message = "EXPOSE map[";
                bool first = true;
                for (const std::string& port : ports) {
                    run.exposed_ports.insert(port);
                    message += (first ? "" : " ") + port + ":{}";
                    first = false;
                }
                history = message + "]";
            } else if constexpr (std::is_same_v<T, parser::VolumeInstruction>) {
                for (const std::string& volume : typed.volumes) {
                    if (volume.empty()) throw Error("VOLUME specified can not be an empty string");
                    run.volumes.insert(volume);
                }
                history = "VOLUME " + go_plain_list(typed.volumes);
            } else if constexpr (std::is_same_v<T, parser::UserInstruction>) {
                run.user = typed.user;
                history = "USER " + typed.user;
            } else if constexpr (std::is_same_v<T, parser::StopsignalInstruction>) {
                check_stop_signal(typed.signal);
                run.stop_signal = typed.signal;
                history = "STOPSIGNAL " + typed.signal;
            } else if constexpr (std::is_same_v<T, parser::HealthcheckInstruction>) {
                registry::Healthcheck health;
                health.test = typed.test;
                health.interval = typed.interval;
                health.timeout = typed.timeout;
                health.start_period = typed.start_period;
                health.start_interval = typed.start_interval;
                health.retries = typed.retries;
                run.healthcheck = health;
                history = "HEALTHCHECK &{" + go_quoted_list(health.test) + " " +
                          parser::go_quote(go_duration(health.interval)) + " " +
                          parser::go_quote(go_duration(health.timeout)) + " " +
                          parser::go_quote(go_duration(health.start_period)) + " " +
                          parser::go_quote(go_duration(health.start_interval)) + " " +
                          parser::go_quote_rune(health.retries) + "}";
            } else if constexpr (std::is_same_v<T, parser::ShellInstruction>) {
                run.shell = typed.shell;
                history = "SHELL " + go_plain_list(typed.shell);
            } else if constexpr (std::is_same_v<T, parser::OnbuildInstruction>) {
                run.on_build.push_back(typed.expression);  // BuildKit writes no history for it
            } else if constexpr (std::is_same_v<T, parser::ArgInstruction>) {
                std::string message = "ARG";
                for (const parser::ArgDefinition& arg : step.resolved_args)
                    message += " " + arg.key + (arg.value ? "=" + *arg.value : "");
                history = message;
            } else {
                return false;
            }
            return true;
        },
        static_cast<const parser::InstructionVariant&>(step.instruction));
    if (history) config.history.push_back(history_entry(*history, /*empty_layer=*/true, time));
    return handled;
}

}  // namespace cbuild::builder::internal
