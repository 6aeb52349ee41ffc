// `cbuild completion bash|zsh`: a shell completion script generated from what each subcommand's
// --help prints, which Boost.Program_options renders from the options the command really parses,
// so the script cannot drift from the code.

#include <iostream>
#include <sstream>

#include "cli/commands.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

constexpr const char* k_completion_usage =
    "Usage: cbuild completion bash|zsh\n\n"
    "Print a shell completion script for cbuild's commands, options and file arguments.\n\n"
    "  bash   source <(cbuild completion bash)   (or save it in /etc/bash_completion.d/cbuild)\n"
    "  zsh    cbuild completion zsh > \"${fpath[1]}/_cbuild\"\n\n"
    "Options:\n"
    "  -h [ --help ]         Print this help\n";

struct Option {
    std::string short_name;  // "-f", or empty
    std::string long_name;   // "--file", or empty
    bool takes_value = false;
    std::string description;
};

struct Command {
    std::string name;         // "build", "debug parse"
    std::string description;  // the line under "Usage:"
    std::vector<Option> options;
};

using Runner = int (*)(const Arguments&, const GlobalOptions&);

// What `runner` prints for `arguments` (its --help), with std::cout captured.
std::string help_text(Runner runner, const Arguments& arguments, const GlobalOptions& globals) {
    std::ostringstream captured;
    std::streambuf* const saved = std::cout.rdbuf(captured.rdbuf());
    try {
        runner(arguments, globals);
    } catch (...) {
        std::cout.rdbuf(saved);
        throw;
    }
    std::cout.rdbuf(saved);
    return captured.str();
}

// Boost's option lines: `  -f [ --file ] arg    Description`, `  --build-arg arg  ...`,
// `  --push   ...`; continuation lines are indented further and start with no dash.
Command parse_help(std::string name, const std::string& text) {
    Command command{std::move(name), {}, {}};
    std::istringstream lines(text);
    bool after_usage = false;
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("Usage:", 0) == 0) {
            after_usage = true;
            continue;
        }
        if (after_usage && command.description.empty() && !line.empty() && line[0] != ' ') {
            command.description = line;
            continue;
        }
        if (line.rfind("  -", 0) != 0) continue;
        std::istringstream words(line);
        std::vector<std::string> tokens;
        for (std::string word; words >> word;) tokens.push_back(word);
        Option option;
        std::size_t next = 1;
        if (tokens[0].rfind("--", 0) == 0) {
            option.long_name = tokens[0];
        } else {
            option.short_name = tokens[0];
            if (tokens.size() > 3 && tokens[1] == "[") {
                option.long_name = tokens[2];
                next = 4;
            }
        }
        option.takes_value = next < tokens.size() && tokens[next] == "arg";
        // The description starts after the run of blanks that ends the option column.
        const std::size_t gap = line.find("  ", 2);
        if (gap != std::string::npos) {
            const std::size_t start = line.find_first_not_of(' ', gap);
            if (start != std::string::npos) option.description = line.substr(start);
        }
        command.options.push_back(std::move(option));
    }
    return command;
}

std::vector<Command> commands(const GlobalOptions& globals) {
    const std::vector<std::pair<const char*, Runner>> runners = {
        {"build", run_build}, {"bake", run_bake}, {"images", run_images}, {"inspect", run_inspect},
        {"tag", run_tag},     {"rm", run_rm},     {"pull", run_pull},     {"push", run_push},
        {"login", run_login}, {"logout", run_logout}, {"prune", run_prune}, {"du", run_du},
        {"debug", run_debug}, {"completion", run_completion}};
    std::vector<Command> out;
    for (const auto& [name, runner] : runners) out.push_back(parse_help(name, help_text(runner, {"--help"}, globals)));
    for (const char* sub : {"parse", "plan"})
        out.push_back(parse_help(std::string("debug ") + sub, help_text(run_debug, {sub, "--help"}, globals)));
    return out;
}

// Options whose value is a path complete file names.
bool takes_path(const Option& option) {
    const std::string& name = option.long_name.empty() ? option.short_name : option.long_name;
    return option.takes_value && (name == "-f" || name.find("file") != std::string::npos ||
                                  name.find("dir") != std::string::npos || name == "--timeline");
}

std::string join_names(const std::vector<Option>& options, bool (*keep)(const Option&)) {
    std::string out;
    for (const Option& option : options) {
        if (!keep(option)) continue;
        for (const std::string* name : {&option.short_name, &option.long_name})
            if (!name->empty()) out += (out.empty() ? "" : " ") + *name;
    }
    return out;
}

std::string bash_function_name(const std::string& command) {
    std::string out = "_cbuild_";
    for (char c : command) out += c == ' ' || c == '-' ? '_' : c;
    return out;
}

std::string bash_script(const std::vector<Command>& all) {
    std::ostringstream out;
    std::string top;
    for (const Command& command : all)
        if (command.name.find(' ') == std::string::npos) top += (top.empty() ? "" : " ") + command.name;
    out << "# bash completion for cbuild, generated by `cbuild completion bash`\n\n";
    for (const Command& command : all) {
        out << bash_function_name(command.name) << "_options() {\n"
            << "    all='" << join_names(command.options, [](const Option&) { return true; }) << "'\n"
            << "    valued='" << join_names(command.options, [](const Option& o) { return o.takes_value; }) << "'\n"
            << "    paths='" << join_names(command.options, takes_path) << "'\n}\n\n";
    }
    out << "_cbuild() {\n"
        << "    local cur=\"${COMP_WORDS[COMP_CWORD]}\" prev=\"${COMP_WORDS[COMP_CWORD-1]}\"\n"
        << "    local command=\"\" i all valued paths\n"
        << "    COMPREPLY=()\n"
        << "    for ((i = 1; i < COMP_CWORD; i++)); do\n"
        << "        case \"${COMP_WORDS[i]}\" in\n"
        << "            --root) ((i++)) ;;\n"
        << "            -*) ;;\n"
        << "            *) if [[ -z \"$command\" ]]; then command=\"${COMP_WORDS[i]}\"\n"
        << "               elif [[ \"$command\" == debug ]]; then command=\"debug ${COMP_WORDS[i]}\"; break\n"
        << "               else break; fi ;;\n"
        << "        esac\n"
        << "    done\n"
        << "    if [[ \"$prev\" == --root ]]; then COMPREPLY=($(compgen -d -- \"$cur\")); return; fi\n"
        << "    if [[ -z \"$command\" && \"$cur\" != -* ]]; then\n"
        << "        COMPREPLY=($(compgen -W '" << top << "' -- \"$cur\")); return\n"
        << "    fi\n"
        << "    if [[ \"$command\" == debug && \"$cur\" != -* ]]; then\n"
        << "        COMPREPLY=($(compgen -W 'parse plan' -- \"$cur\")); return\n"
        << "    fi\n"
        << "    case \"$command\" in\n"
        << "        completion) COMPREPLY=($(compgen -W 'bash zsh' -- \"$cur\")); return ;;\n";
    for (const Command& command : all)
        out << "        '" << command.name << "') " << bash_function_name(command.name) << "_options ;;\n";
    out << "        '') _cbuild_build_options; all=\"$all --root --version\" ;;\n"
        << "        *) _cbuild_build_options ;;\n"
        << "    esac\n"
        << "    if [[ \" $paths \" == *\" $prev \"* ]]; then COMPREPLY=($(compgen -f -- \"$cur\")); return; fi\n"
        << "    if [[ \" $valued \" == *\" $prev \"* ]]; then return; fi\n"
        << "    if [[ \"$cur\" == -* ]]; then COMPREPLY=($(compgen -W \"$all\" -- \"$cur\")); return; fi\n"
        << "    COMPREPLY=($(compgen -f -- \"$cur\"))\n"
        << "}\n\n"
        << "complete -o filenames -F _cbuild cbuild\n";
    return out.str();
}

// Text inside a single-quoted zsh word that _arguments/_describe read: quotes, brackets and
// colons escaped.
std::string zsh_text(const std::string& text) {
    std::string out;
    for (char c : text) {
        if (c == '\'') out += "'\\''";
        else if (c == '[' || c == ']' || c == ':' || c == '\\') out += std::string("\\") + c;
        else out += c;
    }
    return out;
}

std::string zsh_arguments(const Command& command) {
    std::string out;
    for (const Option& option : command.options) {
        const std::string action = option.takes_value ? (takes_path(option) ? ":path:_files" : ":value: ") : "";
        const std::string description = "[" + zsh_text(option.description) + "]";
        if (!option.short_name.empty() && !option.long_name.empty()) {
            out += " '(" + option.short_name + " " + option.long_name + ")'{" + option.short_name + "," + option.long_name +
                   "}'" + description + action + "'";
        } else {
            out += " '" + (option.short_name.empty() ? option.long_name : option.short_name) + description + action + "'";
        }
    }
    return out;
}

std::string zsh_script(const std::vector<Command>& all) {
    std::ostringstream out;
    out << "#compdef cbuild\n# zsh completion for cbuild, generated by `cbuild completion zsh`\n\n"
        << "_cbuild() {\n"
        << "    local curcontext=\"$curcontext\" state line\n"
        << "    local -a commands\n"
        << "    commands=(\n";
    for (const Command& command : all)
        if (command.name.find(' ') == std::string::npos)
            out << "        '" << zsh_text(command.name) << ":" << zsh_text(command.description) << "'\n";
    out << "    )\n"
        << "    _arguments -C '--root[the local store]:directory:_files -/' '1: :->command' '*:: :->arguments'\n"
        << "    case $state in\n"
        << "    command)\n"
        << "        _describe -t commands 'cbuild command' commands\n"
        << "        ;;\n"
        << "    arguments)\n"
        << "        case $line[1] in\n";
    for (const Command& command : all) {
        if (command.name.find(' ') != std::string::npos) continue;
        out << "        " << command.name << ")\n";
        if (command.name == "debug") {
            out << "            if (( CURRENT == 2 )); then\n"
                << "                _values 'debug command' parse plan\n"
                << "            else\n"
                << "                case $line[2] in\n";
            for (const Command& sub : all)
                if (sub.name.rfind("debug ", 0) == 0)
                    out << "                " << sub.name.substr(6) << ") shift words; (( CURRENT-- )); _arguments"
                        << zsh_arguments(sub) << " '*:path:_files' ;;\n";
            out << "                esac\n"
                << "            fi\n";
        } else if (command.name == "completion") {
            out << "            _values 'shell' bash zsh\n";
        } else {
            out << "            _arguments" << zsh_arguments(command) << " '*:argument:_files'\n";
        }
        out << "            ;;\n";
    }
    out << "        esac\n"
        << "        ;;\n"
        << "    esac\n"
        << "}\n\n"
        << "_cbuild \"$@\"\n";
    return out.str();
}

}  // namespace

int run_completion(const Arguments& arguments, const GlobalOptions& globals) {
    if (arguments.size() == 1 && (arguments[0] == "--help" || arguments[0] == "-h")) {
        std::cout << k_completion_usage;
        return 0;
    }
    if (arguments.size() != 1 || (arguments[0] != "bash" && arguments[0] != "zsh"))
        throw UsageError("`cbuild completion` needs one shell: bash or zsh");
    const std::vector<Command> all = commands(globals);
    std::cout << (arguments[0] == "bash" ? bash_script(all) : zsh_script(all));
    return 0;
}

}  // namespace cbuild::cli
