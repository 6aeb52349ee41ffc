// cbuild's entry point: takes out the global options, picks the subcommand (the word `build`
// is optional, as in `cbuild -f Dockerfile -t repo/img:0.1 .`), and is the one place that maps
// errors to exit statuses: 0 ok, 1 failed, 2 usage, 130 interrupted.

#include <csignal>
#include <iostream>
#include <set>
#include <string>

#include "cache/content_store.h"
#include "builder/sandbox/sandbox.h"
#include "cli/commands.h"
#include "cli/failure_display.h"
#include "cli/rootless.h"
#include "common/error.h"

namespace cbuild::cli {

std::filesystem::path GlobalOptions::store_root() const {
    return root ? *root : cache::ContentStore::default_root();
}

}  // namespace cbuild::cli

namespace {

using cbuild::cli::Arguments;
using cbuild::cli::GlobalOptions;

constexpr const char* k_usage =
    "Usage: cbuild [build] [OPTIONS] PATH\n"
    "       cbuild [--root DIR] COMMAND\n\n"
    "A daemonless Dockerfile-to-OCI-image builder.\n\n"
    "Commands:\n"
    "  build        Build an image from a Dockerfile (the default command; see `cbuild build --help`)\n"
    "  images       List the images in the local store\n"
    "  inspect REF  Print an image's manifest and config\n"
    "  tag SRC DST  Give an image another name\n"
    "  rm REF...    Remove names from the local store\n"
    "  pull REF     Pull an image from a registry into the local store\n"
    "  push REF     Push an image of the local store to a registry\n"
    "  login        Log in to a registry: login [-u USER] [--password-stdin | -p PASSWORD] [REGISTRY]\n"
    "  logout       Forget a registry's credentials: logout [REGISTRY]\n"
    "  prune        Remove build cache: prune [--all] [--keep-storage SIZE] [--filter until=DURATION] [--dry-run]\n"
    "  du           Show the disk usage of the store and its build cache: du [--verbose]\n"
    "  bake         Build the services of a compose file: bake [-f FILE] [--push] [SERVICE...]\n"
    "  debug        Inspect how cbuild reads a Dockerfile: `debug parse`, `debug plan`\n"
    "  completion   Print a shell completion script: completion bash|zsh\n\n"
    "Global options (accepted by every command):\n"
    "  --root DIR   The local store, an OCI image layout (default: /var/lib/cbuild as root,\n"
    "               else $XDG_DATA_HOME/cbuild)\n"
    "  -h, --help   Print this help\n"
    "  --version    Print the version\n";

// Removes `--root DIR` / `--root=DIR` from anywhere in the arguments.
GlobalOptions take_global_options(Arguments& arguments) {
    GlobalOptions globals;
    for (std::size_t i = 0; i < arguments.size();) {
        const std::string& argument = arguments[i];
        if (argument == "--root") {
            if (i + 1 >= arguments.size()) throw cbuild::UsageError("--root needs a directory");
            globals.root = arguments[i + 1];
            arguments.erase(arguments.begin() + static_cast<std::ptrdiff_t>(i), arguments.begin() + static_cast<std::ptrdiff_t>(i) + 2);
        } else if (argument.rfind("--root=", 0) == 0) {
            globals.root = argument.substr(7);
            arguments.erase(arguments.begin() + static_cast<std::ptrdiff_t>(i));
        } else {
            ++i;
        }
    }
    if (globals.root && globals.root->empty()) throw cbuild::UsageError("--root needs a directory");
    return globals;
}

int dispatch(Arguments arguments) {
    using namespace cbuild::cli;
    GlobalOptions globals = take_global_options(arguments);
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
    // Builds, prune and du read or write snapshots, which hold the images' owners: without root
    // they run as root of a user namespace. Still one thread here, as unshare(CLONE_NEWUSER) needs.
    static const std::set<std::string> k_without_snapshots = {"debug", "images", "inspect", "tag", "rm",
                                                              "pull",  "push",   "login",   "logout", "completion"};
    if (!k_without_snapshots.count(first)) become_root_for_snapshots(globals);
    if (first == "build") return run_build(rest, globals);
    if (first == "debug") return run_debug(rest, globals);
    if (first == "images") return run_images(rest, globals);
    if (first == "inspect") return run_inspect(rest, globals);
    if (first == "tag") return run_tag(rest, globals);
    if (first == "rm") return run_rm(rest, globals);
    if (first == "pull") return run_pull(rest, globals);
    if (first == "push") return run_push(rest, globals);
    if (first == "login") return run_login(rest, globals);
    if (first == "logout") return run_logout(rest, globals);
    if (first == "prune") return run_prune(rest, globals);
    if (first == "du") return run_du(rest, globals);
    if (first == "bake") return run_bake(rest, globals);
    if (first == "completion") return run_completion(rest, globals);
    return run_build(arguments, globals);
}

// Ctrl-C and SIGTERM stop a running RUN step (its whole process tree) so the build unwinds,
// cleans up and exits 130; a second Ctrl-C while unwinding takes the default action.
extern "C" void on_interrupt(int signal_number) {
    cbuild::builder::request_cancel();
    std::signal(signal_number, SIG_DFL);
}

void install_interrupt_handlers() {
    struct sigaction action {};
    action.sa_handler = on_interrupt;
    sigemptyset(&action.sa_mask);
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
}

}  // namespace

int main(int argc, char** argv) {
    const Arguments arguments(argv + 1, argv + argc);
    install_interrupt_handlers();
    try {
        return dispatch(arguments);
    } catch (const cbuild::InterruptedError& error) {
        std::cerr << "cbuild: " << error.what() << "\n";
        return 130;
    } catch (const cbuild::UsageError& error) {
        std::cerr << "cbuild: " << error.what() << "\nSee 'cbuild --help'.\n";
        return 2;
    } catch (const cbuild::cli::BuildFailure& error) {
        std::cerr << error.what() << "\n";
        return 1;
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
