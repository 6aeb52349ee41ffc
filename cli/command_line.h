#pragma once
// Parsing one subcommand's arguments with Boost.Program_options: its options plus positional
// operands, with every parser error turned into a usage error (exit 2).

#include <boost/program_options.hpp>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "registry/reference.h"

namespace cbuild::cli {

// Parses `arguments` against `options`, collecting the operands under `positional_name`
// (at most `max_operands`; -1 for any number). Throws cbuild::UsageError on any error.
boost::program_options::variables_map parse_command_line(const Arguments& arguments,
                                                         const boost::program_options::options_description& options,
                                                         const std::string& positional_name, int max_operands = -1);

// The operands collected under `name` (empty when none were given).
std::vector<std::string> operands(const boost::program_options::variables_map& values, const std::string& name);

// A reference given on the command line; cbuild::UsageError naming it when invalid.
registry::Reference reference_argument(const std::string& text);

// The values of a repeatable option, empty when it was not given.
std::vector<std::string> repeated(const boost::program_options::variables_map& values, const std::string& name);

}  // namespace cbuild::cli
