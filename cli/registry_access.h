#pragma once
// How the CLI reaches registries: credentials from the docker config, TLS from
// /etc/docker/certs.d, and the --insecure-registry hosts.

#include <string>
#include <vector>

#include "registry/client.h"

namespace cbuild::cli {

// The client for this run. `insecure` lists hosts (HOST[:PORT]) allowed plain HTTP or
// unverified TLS.
registry::ClientOptions client_options(const std::vector<std::string>& insecure);

}  // namespace cbuild::cli
