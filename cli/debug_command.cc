// `cbuild debug parse [-f FILE]` and `cbuild debug plan [OPTIONS] PATH`.

#include <boost/program_options.hpp>
#include <iostream>

#include "cli/build_inputs.h"
#include "cli/commands.h"
#include "common/error.h"
#include "parser/ast.h"

namespace cbuild::cli {

namespace {

namespace po = boost::program_options;

constexpr const char* k_debug_usage =
    "Usage: cbuild debug COMMAND\n\n"
    "Show how cbuild reads a Dockerfile.\n\n"
    "Commands:\n"
    "  parse [-f FILE]      Print BuildKit's AST dump of a Dockerfile (default ./Dockerfile; `-` reads stdin)\n"
    "  plan [OPTIONS] PATH  Print the build plan: the stages the target needs, each step expanded\n\n"
    "Options:\n"
    "  -h [ --help ]         Print this help\n";

int run_parse(const Arguments& arguments) {
    po::options_description options("Options");
    options.add_options()
        ("file,f", po::value<std::string>()->default_value("Dockerfile"), "The Dockerfile (`-` reads stdin)")
        ("help,h", "Print this help");
    po::variables_map values;
    try {
        po::store(po::command_line_parser(arguments).options(options).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        throw UsageError(error.what());
    }
    if (values.count("help")) {
        std::cout << "Usage: cbuild debug parse [-f FILE]\n\nPrint BuildKit's AST dump of a Dockerfile.\n\n" << options;
        return 0;
    }
    const std::string path = values["file"].as<std::string>();
    const std::string name = path == "-" ? "Dockerfile" : path;
    std::cout << parser::dump(parser::parse_ast(read_dockerfile(path), name));
    return 0;
}

int run_plan(const Arguments& arguments, const GlobalOptions& globals) {
    const auto inputs = parse_build_arguments(arguments, /*for_build=*/false,
                                              "Usage: cbuild debug plan [OPTIONS] PATH\n\nPrint the build plan.");
    if (!inputs) return 0;
    // Base images already in the store contribute their ENV; planning never creates a store.
    std::optional<cache::ContentStore> store;
    if (std::filesystem::exists(globals.store_root() / "index.json")) store.emplace(globals.store_root());
    std::cout << builder::describe(plan_build(*inputs, store ? &*store : nullptr, nullptr).plan);
    return 0;
}

}  // namespace

int run_debug(const Arguments& arguments, const GlobalOptions& globals) {
    if (arguments.empty()) throw UsageError("`cbuild debug` needs a command: parse or plan");
    const Arguments rest(arguments.begin() + 1, arguments.end());
    if (arguments[0] == "parse") return run_parse(rest);
    if (arguments[0] == "plan") return run_plan(rest, globals);
    if (arguments[0] == "--help" || arguments[0] == "-h") {
        std::cout << k_debug_usage;
        return 0;
    }
    throw UsageError("unknown debug command `" + arguments[0] + "` (parse, plan)");
}

}  // namespace cbuild::cli
