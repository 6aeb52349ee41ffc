// `cbuild pull [OPTIONS] REF`: an image from a registry into the local store.

#include <boost/program_options.hpp>
#include <iostream>

#include "builder/transfer/transfer.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/registry_access.h"
#include "common/error.h"

namespace cbuild::cli {

int run_pull(const Arguments& arguments, const GlobalOptions& globals) {
    namespace po = boost::program_options;
    po::options_description options("Options");
    options.add_options()
        ("platform", po::value<std::string>(), "Pull this platform's image from an index, os/arch[/variant] (default: this machine's)")
        ("insecure-registry", po::value<std::vector<std::string>>()->composing(), "Allow plain HTTP or unverified TLS for this registry HOST[:PORT]")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "reference");
    if (values.count("help")) {
        std::cout << "Usage: cbuild pull [OPTIONS] REF\n\nPull an image from a registry into the local store.\n\n" << options;
        return 0;
    }
    const std::vector<std::string> references = operands(values, "reference");
    if (references.size() != 1) throw UsageError("`cbuild pull` needs exactly one REF");
    const registry::Reference reference = reference_argument(references[0]);
    const builder::Platform platform =
        values.count("platform") ? builder::Platform::parse(values["platform"].as<std::string>()) : builder::Platform::host();
    cache::ContentStore store(globals.store_root());
    registry::Client client(client_options(repeated(values, "insecure-registry")));
    const builder::PullResult pulled = builder::pull_image(client, store, reference, platform);
    std::cout << pulled.tag << ": " << pulled.image.manifest_descriptor.digest.to_string() << " ("
              << pulled.fetched_bytes << " bytes fetched)\n";
    return 0;
}

}  // namespace cbuild::cli
