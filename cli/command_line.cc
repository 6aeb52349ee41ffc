#include "cli/command_line.h"

#include "common/error.h"

namespace cbuild::cli {

namespace po = boost::program_options;

po::variables_map parse_command_line(const Arguments& arguments, const po::options_description& options,
                                     const std::string& positional_name, int max_operands) {
    po::options_description hidden;
    hidden.add_options()(positional_name.c_str(), po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add(positional_name.c_str(), max_operands);
    po::variables_map values;
    try {
        po::store(po::command_line_parser(arguments).options(all).positional(positional).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        throw UsageError(error.what());
    }
    return values;
}

std::vector<std::string> operands(const po::variables_map& values, const std::string& name) {
    return repeated(values, name);
}

std::vector<std::string> repeated(const po::variables_map& values, const std::string& name) {
    return values.count(name) ? values[name].as<std::vector<std::string>>() : std::vector<std::string>{};
}

registry::Reference reference_argument(const std::string& text) {
    try {
        return registry::Reference::parse(text);
    } catch (const registry::ReferenceError& error) {
        throw UsageError(error.what());
    }
}

}  // namespace cbuild::cli
