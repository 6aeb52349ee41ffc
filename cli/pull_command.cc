// `cbuild pull [OPTIONS] REF`: an image from a registry into the local store.

#include <boost/program_options.hpp>
#include <iostream>

#include "builder/transfer/transfer.h"
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
    po::options_description hidden;
    hidden.add_options()("reference", po::value<std::vector<std::string>>());
    po::options_description all;
    all.add(options).add(hidden);
    po::positional_options_description positional;
    positional.add("reference", -1);
    po::variables_map values;
    try {
        po::store(po::command_line_parser(arguments).options(all).positional(positional).run(), values);
        po::notify(values);
    } catch (const po::error& error) {
        throw UsageError(error.what());
    }
    if (values.count("help")) {
        std::cout << "Usage: cbuild pull [OPTIONS] REF\n\nPull an image from a registry into the local store.\n\n" << options;
        return 0;
    }
    const auto references = values.count("reference") ? values["reference"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (references.size() != 1) throw UsageError("`cbuild pull` needs exactly one REF");
    registry::Reference reference = [&] {
        try {
            return registry::Reference::parse(references[0]);
        } catch (const registry::ReferenceError& error) {
            throw UsageError(error.what());
        }
    }();
    const builder::Platform platform =
        values.count("platform") ? builder::Platform::parse(values["platform"].as<std::string>()) : builder::Platform::host();
    const auto insecure = values.count("insecure-registry") ? values["insecure-registry"].as<std::vector<std::string>>()
                                                            : std::vector<std::string>{};
    cache::ContentStore store(globals.store_root());
    registry::Client client(client_options(insecure));
    const builder::PullResult pulled = builder::pull_image(client, store, reference, platform);
    std::cout << pulled.tag << ": " << pulled.image.manifest_descriptor.digest.to_string() << " ("
              << pulled.fetched_bytes << " bytes fetched)\n";
    return 0;
}

}  // namespace cbuild::cli
