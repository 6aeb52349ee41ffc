// `cbuild push [OPTIONS] REF`: an image of the local store to a registry.

#include <boost/program_options.hpp>
#include <iostream>

#include "builder/export/export.h"
#include "builder/transfer/transfer.h"
#include "cli/commands.h"
#include "cli/registry_access.h"
#include "common/error.h"

namespace cbuild::cli {

int run_push(const Arguments& arguments, const GlobalOptions& globals) {
    namespace po = boost::program_options;
    po::options_description options("Options");
    options.add_options()
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
        std::cout << "Usage: cbuild push [OPTIONS] REF\n\nPush an image of the local store to a registry.\n\n" << options;
        return 0;
    }
    const auto references = values.count("reference") ? values["reference"].as<std::vector<std::string>>() : std::vector<std::string>{};
    if (references.size() != 1) throw UsageError("`cbuild push` needs exactly one REF");
    const registry::Reference reference = [&] {
        try {
            return registry::Reference::parse(references[0]);
        } catch (const registry::ReferenceError& error) {
            throw UsageError(error.what());
        }
    }();
    const cache::ContentStore store(globals.store_root());
    auto entry = store.resolve(references[0]);
    if (!entry) entry = store.resolve(builder::store_tag_name(references[0]));
    if (!entry) throw Error("no such image in the local store: `" + references[0] + "`");
    const auto insecure = values.count("insecure-registry") ? values["insecure-registry"].as<std::vector<std::string>>()
                                                            : std::vector<std::string>{};
    registry::Client client(client_options(insecure));
    const builder::PushResult pushed = builder::push_image(client, store, *entry, {reference});
    std::cout << reference.familiar() << ": " << pushed.digest.to_string() << " (" << pushed.uploaded << " blobs uploaded, "
              << pushed.mounted << " mounted, " << pushed.existed << " already there)\n";
    return 0;
}

}  // namespace cbuild::cli
