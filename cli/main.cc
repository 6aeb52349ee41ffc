// cbuild's entry point: picks the subcommand (the word `build` is optional, as in
// `cbuild -f Dockerfile -t repo/img:0.1 .`) and is the one place that maps errors to exit
// statuses: 0 ok, 1 failed, 2 usage.

#include <iostream>
#include <string>

#include "cli/commands.h"
#include "common/error.h"

namespace {

constexpr const char* k_usage =
    "Usage: cbuild [build] [OPTIONS] PATH\n"
    "       cbuild COMMAND\n\n"
    "A daemonless Dockerfile-to-OCI-image builder.\n\n"
    "Commands:\n"
    "  build        Build an image from a Dockerfile (the default command; see `cbuild build --help`)\n"
    "  debug        Inspect how cbuild reads a Dockerfile: `debug parse`, `debug plan`\n\n"
    "Options:\n"
    "  -h, --help   Print this help\n"
    "  --version    Print the version\n";

int dispatch(const cbuild::cli::Arguments& arguments) {
    using namespace cbuild::cli;
    if (arguments.empty()) {
        std::cerr << k_usage;
        return 2;
    }
    const std::string& first = arguments[0];
    const Arguments rest(arguments.begin() + 1, arguments.end());
    if (first == "--help" || first == "-h" || first == "help") {
        std::cout << k_usage;
        return 0;
    }
    if (first == "--version") {
        std::cout << "cbuild " << CBUILD_VERSION << "\n";
        return 0;
    }
    if (first == "build") return run_build(rest);
    if (first == "debug") return run_debug(rest);
    return run_build(arguments);
}

}  // namespace

int main(int argc, char** argv) {
    const cbuild::cli::Arguments arguments(argv + 1, argv + argc);
    try {
        return dispatch(arguments);
    } catch (const cbuild::UsageError& error) {
        std::cerr << "cbuild: " << error.what() << "\nSee 'cbuild --help'.\n";
        return 2;
    } catch (const cbuild::ParseError& error) {
        std::cerr << "cbuild: " << error.render() << "\n";
        return 1;
    } catch (const cbuild::Error& error) {
        std::cerr << "cbuild: " << error.what() << "\n";
        return 1;
    } catch (const std::exception& error) {
        std::cerr << "cbuild: internal error: " << error.what() << "\n";
        return 1;
    }
}
