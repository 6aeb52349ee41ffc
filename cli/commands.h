#pragma once
// The subcommands of the cbuild binary. Each takes the arguments after its name, writes to
// stdout/stderr, returns the exit status, and lets cbuild::Error escape to main().

#include <string>
#include <vector>

namespace cbuild::cli {

using Arguments = std::vector<std::string>;

int run_build(const Arguments& arguments);   // cbuild [build] [OPTIONS] PATH
int run_debug(const Arguments& arguments);   // cbuild debug parse|plan ...

}  // namespace cbuild::cli
