#include "cli/compose_file.h"

#include <yaml-cpp/yaml.h>

#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "common/error.h"

extern char** environ;

namespace cbuild::cli {

namespace {

std::string lower_case(std::string_view text) {
    std::string out(text);
    for (char& c : out)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    return out;
}

bool is_name_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_name_char(char c) { return is_name_start(c) || (c >= '0' && c <= '9'); }

// The end of a `${...}` whose body starts at `start`: the index of its closing brace, counting
// nested `${` so that `${A:-${B}}` closes at the outer brace.
std::size_t closing_brace(std::string_view value, std::size_t start) {
    int depth = 1;
    for (std::size_t i = start; i < value.size(); ++i) {
        if (value[i] == '$' && i + 1 < value.size() && value[i + 1] == '{') {
            ++depth;
            ++i;
        } else if (value[i] == '}' && --depth == 0) {
            return i;
        }
    }
    throw Error("unterminated `${` in `" + std::string(value) + "`");
}

std::string braced(std::string_view body, const ComposeEnvironment& environment) {
    std::size_t name_end = 0;
    while (name_end < body.size() && is_name_char(body[name_end])) ++name_end;
    const std::string name(body.substr(0, name_end));
    if (name.empty() || !is_name_start(name[0])) throw Error("invalid variable name in `${" + std::string(body) + "}`");
    const auto found = environment.find(name);
    const bool set = found != environment.end();
    const std::string_view rest = body.substr(name_end);
    if (rest.empty()) return set ? found->second : "";
    // `:` makes an empty value count as unset for -, ? and + (the shell's rule, which compose follows).
    const bool colon = rest[0] == ':';
    const std::string_view operation = rest.substr(colon ? 1 : 0);
    if (operation.empty()) throw Error("invalid interpolation `${" + std::string(body) + "}`");
    const bool present = set && !(colon && found->second.empty());
    const std::string_view word = operation.substr(1);
    switch (operation[0]) {
    case '-':
        return present ? found->second : interpolate(word, environment);
    case '+':
        return present ? interpolate(word, environment) : "";
    case '?':
        if (!present)
            throw Error("required variable " + name + " is missing a value" +
                        (word.empty() ? "" : ": " + interpolate(word, environment)));
        return found->second;
    default:
        throw Error("invalid interpolation `${" + std::string(body) + "}`");
    }
}

}  // namespace

std::string interpolate(std::string_view value, const ComposeEnvironment& environment) {
    std::string out;
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] != '$' || i + 1 == value.size()) {
            out += value[i];
            continue;
        }
        const char next = value[i + 1];
        if (next == '$') {
            out += '$';
            ++i;
        } else if (next == '{') {
            const std::size_t end = closing_brace(value, i + 2);
            out += braced(value.substr(i + 2, end - i - 2), environment);
            i = end;
        } else if (is_name_start(next)) {
            std::size_t end = i + 1;
            while (end < value.size() && is_name_char(value[end])) ++end;
            const auto found = environment.find(std::string(value.substr(i + 1, end - i - 1)));
            if (found != environment.end()) out += found->second;
            i = end - 1;
        } else {
            out += '$';  // compose keeps a `$` that starts nothing
        }
    }
    return out;
}

ComposeEnvironment parse_dot_env(std::string_view text, const std::string& file) {
    ComposeEnvironment values;
    std::istringstream lines{std::string(text)};
    int number = 0;
    for (std::string line; std::getline(lines, line);) {
        ++number;
        if (!line.empty() && line.back() == '\r') line.pop_back();
        const std::size_t first = line.find_first_not_of(" \t");
        if (first == std::string::npos || line[first] == '#') continue;
        std::string_view rest = std::string_view(line).substr(first);
        if (rest.rfind("export ", 0) == 0) rest.remove_prefix(7);
        const std::size_t equals = rest.find('=');
        if (equals == std::string_view::npos)
            throw ParseError(file, number, 0, "expected KEY=VALUE", line);
        std::string key(rest.substr(0, equals));
        while (!key.empty() && (key.back() == ' ' || key.back() == '\t')) key.pop_back();
        if (key.empty()) throw ParseError(file, number, 0, "the variable name is empty", line);
        std::string_view raw = rest.substr(equals + 1);
        while (!raw.empty() && (raw.front() == ' ' || raw.front() == '\t')) raw.remove_prefix(1);
        std::string value;
        if (!raw.empty() && (raw.front() == '\'' || raw.front() == '"')) {
            const char quote = raw.front();
            std::size_t i = 1;
            for (; i < raw.size() && raw[i] != quote; ++i) {
                if (quote == '"' && raw[i] == '\\' && i + 1 < raw.size()) {
                    const char escaped = raw[++i];
                    value += escaped == 'n' ? '\n' : escaped == 't' ? '\t' : escaped;
                } else {
                    value += raw[i];
                }
            }
            if (i == raw.size()) throw ParseError(file, number, 0, "unterminated quoted value", line);
        } else {
            // An unquoted value ends at ` #`, a comment.
            const std::size_t comment = raw.find(" #");
            value = std::string(raw.substr(0, comment));
            while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.pop_back();
        }
        values[key] = value;
    }
    return values;
}

namespace {

// Reads one compose document, naming the file and line of every complaint.
class ComposeReader {
public:
    ComposeReader(std::string_view text, std::filesystem::path file, const ComposeEnvironment& environment)
        : m_text(text), m_file(std::move(file)),
          m_dir(std::filesystem::absolute(m_file).lexically_normal().parent_path()), m_environment(environment) {}

    ComposeProject read();

private:
    [[noreturn]] void fail(const YAML::Mark& mark, const std::string& message) const {
        const int line = mark.line >= 0 ? mark.line + 1 : 0;
        throw ParseError(m_file.string(), line, mark.column >= 0 ? mark.column + 1 : 0, message, source_line(line));
    }
    std::string source_line(int line) const {
        std::istringstream lines{std::string(m_text)};
        std::string text;
        for (int i = 0; i < line && std::getline(lines, text); ++i) {
        }
        return text;
    }
    // A map's value for `key`, looking through `<<` merge keys (which yaml-cpp leaves to us).
    YAML::Node get(const YAML::Node& map, const std::string& key) const;
    std::string scalar(const YAML::Node& node, const std::string& what) const;
    std::vector<std::string> strings(const YAML::Node& node, const std::string& what) const;
    bool boolean(const YAML::Node& node, const std::string& what) const {
        const std::string text = scalar(node, what);
        if (text == "true" || text == "True" || text == "TRUE") return true;
        if (text == "false" || text == "False" || text == "FALSE") return false;
        fail(node.Mark(), what + " must be true or false, not `" + text + "`");
    }
    // A map, or a list of `K=V` / bare `K` (which takes K from the environment, and is left
    // out when unset there when `bare_from_environment`, else is empty).
    std::map<std::string, std::string> dictionary(const YAML::Node& node, const std::string& what,
                                                  bool bare_from_environment) const;
    std::map<std::string, ComposeSecret> top_level_secrets(const YAML::Node& root) const;
    ComposeBuild build_section(const YAML::Node& node, const ComposeService& service,
                               const std::map<std::string, ComposeSecret>& secrets) const;
    std::filesystem::path resolve(const std::filesystem::path& base, const std::string& path) const {
        const std::filesystem::path value(path);
        return (value.is_absolute() ? value : base / value).lexically_normal();
    }

    std::string_view m_text;
    std::filesystem::path m_file;
    std::filesystem::path m_dir;
    const ComposeEnvironment& m_environment;
    std::string m_project;
};

YAML::Node ComposeReader::get(const YAML::Node& map, const std::string& key) const {
    if (const YAML::Node direct = map[key]; direct.IsDefined()) return direct;
    const YAML::Node merged = map["<<"];
    if (!merged.IsDefined()) return YAML::Node(YAML::NodeType::Undefined);
    if (merged.IsMap()) return get(merged, key);
    if (merged.IsSequence())
        for (const YAML::Node& each : merged)
            if (each.IsMap())
                if (const YAML::Node found = get(each, key); found.IsDefined()) return found;
    return YAML::Node(YAML::NodeType::Undefined);
}

std::string ComposeReader::scalar(const YAML::Node& node, const std::string& what) const {
    if (!node.IsScalar()) fail(node.Mark(), what + " must be a string");
    try {
        return interpolate(node.Scalar(), m_environment);
    } catch (const Error& error) {
        fail(node.Mark(), what + ": " + error.what());
    }
}

std::vector<std::string> ComposeReader::strings(const YAML::Node& node, const std::string& what) const {
    if (node.IsScalar()) return {scalar(node, what)};
    if (!node.IsSequence()) fail(node.Mark(), what + " must be a list of strings");
    std::vector<std::string> values;
    for (const YAML::Node& item : node) values.push_back(scalar(item, what));
    return values;
}

std::map<std::string, std::string> ComposeReader::dictionary(const YAML::Node& node, const std::string& what,
                                                             bool bare_from_environment) const {
    std::map<std::string, std::string> values;
    const auto bare = [&](const std::string& key) {
        if (!bare_from_environment) {
            values[key] = "";
        } else if (const auto found = m_environment.find(key); found != m_environment.end()) {
            values[key] = found->second;
        }
    };
    if (node.IsMap()) {
        for (const auto& item : node) {
            const std::string key = item.first.Scalar();
            if (key == "<<") continue;
            if (item.second.IsNull()) bare(key);
            else values[key] = scalar(item.second, what + "." + key);
        }
        // Merged maps fill in only the keys the map itself lacks (YAML's merge key).
        if (const YAML::Node merged = node["<<"]; merged.IsDefined()) {
            const bool list = merged.IsSequence();
            for (std::size_t i = 0; i < (list ? merged.size() : 1); ++i) {
                const YAML::Node source = list ? merged[i] : merged;
                if (!source.IsMap()) fail(source.Mark(), what + ": `<<` must merge a map");
                for (const auto& [key, value] : dictionary(source, what, bare_from_environment)) values.try_emplace(key, value);
            }
        }
    } else if (node.IsSequence()) {
        for (const YAML::Node& item : node) {
            const std::string text = scalar(item, what);
            const std::size_t equals = text.find('=');
            if (equals == 0) fail(item.Mark(), what + ": `" + text + "` has an empty name");
            if (equals == std::string::npos) bare(text);
            else values[text.substr(0, equals)] = text.substr(equals + 1);
        }
    } else if (!node.IsNull()) {
        fail(node.Mark(), what + " must be a map or a list of KEY=VALUE");
    }
    return values;
}

std::map<std::string, ComposeSecret> ComposeReader::top_level_secrets(const YAML::Node& root) const {
    std::map<std::string, ComposeSecret> secrets;
    const YAML::Node section = root["secrets"];
    if (!section.IsDefined() || section.IsNull()) return secrets;
    if (!section.IsMap()) fail(section.Mark(), "`secrets` must be a map");
    for (const auto& item : section) {
        const std::string name = item.first.Scalar();
        const YAML::Node& definition = item.second;
        if (!definition.IsMap()) fail(definition.Mark(), "secret `" + name + "` must be a map with `file:` or `environment:`");
        ComposeSecret secret;
        if (const YAML::Node file = get(definition, "file"); file.IsDefined()) {
            secret.file = resolve(m_dir, scalar(file, "secrets." + name + ".file"));
        } else if (const YAML::Node env = get(definition, "environment"); env.IsDefined()) {
            secret.env = scalar(env, "secrets." + name + ".environment");
        } else {
            fail(definition.Mark(), "secret `" + name + "` needs `file:` or `environment:` (`external` secrets are for "
                                    "running containers, not builds)");
        }
        secrets[name] = secret;
    }
    return secrets;
}

ComposeBuild ComposeReader::build_section(const YAML::Node& node, const ComposeService& service,
                                          const std::map<std::string, ComposeSecret>& secrets) const {
    const std::string where = "services." + service.name + ".build";
    ComposeBuild build;
    build.line = node.Mark().line + 1;
    std::string context = ".";
    if (node.IsScalar()) {
        context = scalar(node, where);
    } else if (!node.IsMap()) {
        fail(node.Mark(), where + " must be a context path or a map");
    } else if (const YAML::Node value = get(node, "context"); value.IsDefined()) {
        context = scalar(value, where + ".context");
    }
    if (context.find("://") != std::string::npos || context.rfind("git@", 0) == 0)
        fail(node.Mark(), where + ": a remote context (`" + context + "`) is not supported; give a directory");
    build.context = resolve(m_dir, context);
    build.dockerfile = build.context / "Dockerfile";
    if (!service.image.empty()) build.tags.push_back(service.image);
    else build.tags.push_back(m_project + "-" + lower_case(service.name));  // compose's default image name
    if (!node.IsMap()) return build;

    for (const auto& item : node) {
        const std::string key = item.first.Scalar();
        static const std::set<std::string> k_known = {
            "context", "dockerfile", "dockerfile_inline", "args", "target", "tags", "labels", "cache_from",
            "cache_to", "secrets", "platforms", "network", "pull", "no_cache", "<<"};
        // The spec's other keys (ssh, additional_contexts, extra_hosts, shm_size, ...) change
        // what a build does; ignoring them would build something else than compose would.
        if (!k_known.count(key) && key.rfind("x-", 0) != 0)
            fail(item.first.Mark(), where + ": `" + key + "` is not supported by cbuild bake");
    }
    if (const YAML::Node value = get(node, "dockerfile"); value.IsDefined())
        build.dockerfile = resolve(build.context, scalar(value, where + ".dockerfile"));
    if (const YAML::Node value = get(node, "dockerfile_inline"); value.IsDefined()) {
        if (get(node, "dockerfile").IsDefined())
            fail(value.Mark(), where + ": `dockerfile` and `dockerfile_inline` cannot both be set");
        build.dockerfile_inline = scalar(value, where + ".dockerfile_inline");
        build.dockerfile.clear();
    }
    if (const YAML::Node value = get(node, "args"); value.IsDefined())
        build.args = dictionary(value, where + ".args", /*bare_from_environment=*/true);
    if (const YAML::Node value = get(node, "target"); value.IsDefined()) build.target = scalar(value, where + ".target");
    if (const YAML::Node value = get(node, "tags"); value.IsDefined())
        for (const std::string& tag : strings(value, where + ".tags"))
            if (tag != build.tags.front()) build.tags.push_back(tag);
    if (const YAML::Node value = get(node, "labels"); value.IsDefined())
        build.labels = dictionary(value, where + ".labels", /*bare_from_environment=*/false);
    if (const YAML::Node value = get(node, "cache_from"); value.IsDefined())
        build.cache_from = strings(value, where + ".cache_from");
    if (const YAML::Node value = get(node, "cache_to"); value.IsDefined())
        build.cache_to = strings(value, where + ".cache_to");
    if (const YAML::Node value = get(node, "platforms"); value.IsDefined())
        build.platforms = strings(value, where + ".platforms");
    if (const YAML::Node value = get(node, "network"); value.IsDefined())
        build.network = scalar(value, where + ".network");
    if (const YAML::Node value = get(node, "pull"); value.IsDefined()) build.pull = boolean(value, where + ".pull");
    if (const YAML::Node value = get(node, "no_cache"); value.IsDefined())
        build.no_cache = boolean(value, where + ".no_cache");
    if (const YAML::Node value = get(node, "secrets"); value.IsDefined()) {
        if (!value.IsSequence()) fail(value.Mark(), where + ".secrets must be a list");
        for (const YAML::Node& item : value) {
            std::string source;
            std::string id;
            if (item.IsScalar()) {
                source = id = scalar(item, where + ".secrets");
            } else if (item.IsMap() && get(item, "source").IsDefined()) {
                source = id = scalar(get(item, "source"), where + ".secrets.source");
                if (const YAML::Node target = get(item, "target"); target.IsDefined())
                    id = scalar(target, where + ".secrets.target");
            } else {
                fail(item.Mark(), where + ".secrets: each entry is a secret name or a map with `source:`");
            }
            const auto found = secrets.find(source);
            if (found == secrets.end())
                fail(item.Mark(), where + ".secrets: secret `" + source + "` is not defined in the top-level `secrets:`");
            build.secrets[id] = found->second;
        }
    }
    return build;
}

ComposeProject ComposeReader::read() {
    YAML::Node document;
    try {
        document = YAML::Load(std::string(m_text));
    } catch (const YAML::Exception& error) {
        fail(error.mark, error.msg);
    }
    // Read through a const reference: yaml-cpp's non-const operator[] may add the key it looks up.
    const YAML::Node& root = document;
    if (!root.IsMap()) fail(root.Mark(), "a compose file must be a map with `services:`");
    ComposeProject project;
    project.file = m_file;
    if (const auto env = m_environment.find("COMPOSE_PROJECT_NAME"); env != m_environment.end() && !env->second.empty()) {
        project.name = normalize_project_name(env->second);
    } else if (const YAML::Node name = root["name"]; name.IsDefined()) {
        project.name = normalize_project_name(scalar(name, "name"));
    } else {
        project.name = normalize_project_name(m_dir.filename().string());
    }
    if (project.name.empty()) fail(root.Mark(), "the project name is empty; set `name:` or COMPOSE_PROJECT_NAME");
    m_project = project.name;

    const YAML::Node services = root["services"];
    if (!services.IsDefined() || services.IsNull()) fail(root.Mark(), "the compose file has no `services:`");
    if (!services.IsMap()) fail(services.Mark(), "`services` must be a map of service names");
    const std::map<std::string, ComposeSecret> secrets = top_level_secrets(root);
    for (const auto& item : services) {
        ComposeService service;
        service.name = item.first.Scalar();
        service.line = item.first.Mark().line + 1;
        const YAML::Node& definition = item.second;
        if (!definition.IsMap()) fail(definition.Mark(), "service `" + service.name + "` must be a map");
        if (const YAML::Node image = get(definition, "image"); image.IsDefined())
            service.image = scalar(image, "services." + service.name + ".image");
        if (const YAML::Node build = get(definition, "build"); build.IsDefined())
            service.build = build_section(build, service, secrets);
        project.services.push_back(std::move(service));
    }
    return project;
}

std::string read_text(const std::filesystem::path& path, const char* what) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path.string(), what, errno);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    if (in.bad()) throw IoError(path.string(), what, errno);
    return bytes.str();
}

}  // namespace

ComposeProject parse_compose(std::string_view text, const std::filesystem::path& file,
                             const ComposeEnvironment& environment) {
    return ComposeReader(text, file, environment).read();
}

ComposeProject load_compose_file(const std::filesystem::path& file) {
    const std::string text = read_text(file, "cannot read the compose file");
    ComposeEnvironment environment;
    const std::filesystem::path dot_env = std::filesystem::absolute(file).parent_path() / ".env";
    if (std::filesystem::exists(dot_env))
        environment = parse_dot_env(read_text(dot_env, "cannot read the .env file"), dot_env.string());
    // The shell's variables win over the .env file's, as in compose.
    for (char** entry = environ; *entry; ++entry) {
        const std::string_view text_entry(*entry);
        const std::size_t equals = text_entry.find('=');
        if (equals != std::string_view::npos)
            environment[std::string(text_entry.substr(0, equals))] = std::string(text_entry.substr(equals + 1));
    }
    return parse_compose(text, file, environment);
}

std::optional<std::filesystem::path> find_compose_file(const std::filesystem::path& dir) {
    for (const char* name : {"compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml"})
        if (std::filesystem::exists(dir / name)) return dir / name;
    return std::nullopt;
}

std::string normalize_project_name(std::string_view name) {
    std::string out;
    for (const char lower : lower_case(name)) {
        if ((lower >= 'a' && lower <= 'z') || (lower >= '0' && lower <= '9') || lower == '_' || lower == '-') {
            if (out.empty() && (lower == '_' || lower == '-')) continue;
            out += lower;
        }
    }
    return out;
}

}  // namespace cbuild::cli
