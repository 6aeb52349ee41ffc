// `cbuild push [OPTIONS] REF`: an image of the local store to a registry.

#include <boost/program_options.hpp>
#include <iostream>

#include "builder/export/export.h"
#include "builder/transfer/transfer.h"
#include "cli/command_line.h"
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
    const po::variables_map values = parse_command_line(arguments, options, "reference");
    if (values.count("help")) {
        std::cout << "Usage: cbuild push [OPTIONS] REF\n\nPush an image of the local store to a registry.\n\n" << options;
        return 0;
    }
    const std::vector<std::string> references = operands(values, "reference");
    if (references.size() != 1) throw UsageError("`cbuild push` needs exactly one REF");
    const registry::Reference reference = reference_argument(references[0]);
    const cache::ContentStore store(globals.store_root());
    auto entry = store.resolve(references[0]);
    if (!entry) entry = store.resolve(builder::store_tag_name(references[0]));
    if (!entry) throw Error("no such image in the local store: `" + references[0] + "`");
    registry::Client client(client_options(repeated(values, "insecure-registry")));
    const builder::PushResult pushed = builder::push_image(client, store, *entry, {reference});
    std::cout << reference.familiar() << ": " << pushed.digest.to_string() << " (" << pushed.uploaded << " blobs uploaded, "
              << pushed.mounted << " mounted, " << pushed.existed << " already there)\n";
    return 0;
}

}  // namespace cbuild::cli
