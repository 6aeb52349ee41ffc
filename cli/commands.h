#pragma once
// The subcommands of the cbuild binary. Each takes the arguments after its name and the global
// options, writes to stdout/stderr, returns the exit status, and lets cbuild::Error escape to
// main().

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace cbuild::cli {

using Arguments = std::vector<std::string>;

// Options every subcommand accepts, wherever they appear on the command line.
struct GlobalOptions {
    std::optional<std::filesystem::path> root;  // --root DIR: the local store (default: see ContentStore)

    std::filesystem::path store_root() const;
};

int run_build(const Arguments& arguments, const GlobalOptions& globals);   // cbuild [build] [OPTIONS] PATH
int run_debug(const Arguments& arguments, const GlobalOptions& globals);   // cbuild debug parse|plan ...
int run_images(const Arguments& arguments, const GlobalOptions& globals);  // cbuild images
int run_inspect(const Arguments& arguments, const GlobalOptions& globals); // cbuild inspect REF
int run_tag(const Arguments& arguments, const GlobalOptions& globals);     // cbuild tag SRC DST
int run_rm(const Arguments& arguments, const GlobalOptions& globals);      // cbuild rm REF...
int run_pull(const Arguments& arguments, const GlobalOptions& globals);    // cbuild pull REF
int run_push(const Arguments& arguments, const GlobalOptions& globals);    // cbuild push REF
int run_login(const Arguments& arguments, const GlobalOptions& globals);   // cbuild login [REGISTRY]
int run_logout(const Arguments& arguments, const GlobalOptions& globals);  // cbuild logout [REGISTRY]
int run_prune(const Arguments& arguments, const GlobalOptions& globals);   // cbuild prune [--all] [--keep-storage SIZE] ...
int run_du(const Arguments& arguments, const GlobalOptions& globals);      // cbuild du [--verbose]
int run_bake(const Arguments& arguments, const GlobalOptions& globals);    // cbuild bake [-f FILE] [SERVICE...]
int run_completion(const Arguments& arguments, const GlobalOptions& globals);  // cbuild completion bash|zsh

}  // namespace cbuild::cli
