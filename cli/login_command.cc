// `cbuild login [-u USER] [--password-stdin] [REGISTRY]` and `cbuild logout [REGISTRY]`, as
// docker's: the credentials are checked against the registry, then written to the docker
// config (or its credential helper). The password never reaches output or errors.

#include <unistd.h>

#include <boost/program_options.hpp>
#include <iostream>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/registry_access.h"
#include "common/error.h"
#include "registry/docker_config.h"

namespace cbuild::cli {

namespace {

namespace po = boost::program_options;

// The registry host the arguments name; Docker Hub when none.
std::string registry_host(const po::variables_map& values) {
    const std::vector<std::string> given = operands(values, "registry");
    if (given.empty()) return "docker.io";
    std::string host = given.front();
    for (const char* scheme : {"https://", "http://"})
        if (host.rfind(scheme, 0) == 0) host = host.substr(std::string(scheme).size());
    return host.substr(0, host.find('/'));
}

}  // namespace

int run_login(const Arguments& arguments, const GlobalOptions&) {
    po::options_description options("Options");
    options.add_options()
        ("username,u", po::value<std::string>(), "Username")
        ("password-stdin", "Read the password from stdin (the only way to give one: it never appears in a command line)")
        ("insecure-registry", po::value<std::vector<std::string>>()->composing(), "Allow plain HTTP or unverified TLS for this registry")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "registry", 1);
    if (values.count("help")) {
        std::cout << "Usage: cbuild login [OPTIONS] [REGISTRY]\n\nLog in to a registry (Docker Hub by default).\n\n" << options;
        return 0;
    }
    if (!values.count("username")) throw UsageError("`cbuild login` needs -u USER");
    if (!values.count("password-stdin")) throw UsageError("`cbuild login` reads the password with --password-stdin");
    std::string password;
    std::getline(std::cin, password);
    if (!password.empty() && password.back() == '\r') password.pop_back();
    if (password.empty()) throw UsageError("no password on stdin");
    const std::string host = registry_host(values);
    const std::string user = values["username"].as<std::string>();

    registry::ClientOptions client = client_options(repeated(values, "insecure-registry"));
    client.credentials = std::make_shared<registry::StaticCredentials>(
        std::map<std::string, registry::Credential>{{host, registry::Credential{user, password}}});
    registry::Client(client).ping(host);  // throws "unauthorized" for a wrong password
    const registry::DockerConfig config;
    config.store_login(host, user, password);
    std::cout << "Login Succeeded (" << host << ", saved in " << config.path().string() << ")\n";
    return 0;
}

int run_logout(const Arguments& arguments, const GlobalOptions&) {
    po::options_description options("Options");
    options.add_options()("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "registry", 1);
    if (values.count("help")) {
        std::cout << "Usage: cbuild logout [REGISTRY]\n\nForget the credentials of a registry.\n\n" << options;
        return 0;
    }
    const std::string host = registry_host(values);
    const registry::DockerConfig config;
    if (config.remove_login(host) == registry::LoginRemoved::yes)
        std::cout << "Removing login credentials for " << host << "\n";
    else
        std::cout << "Not logged in to " << host << "\n";
    return 0;
}

}  // namespace cbuild::cli
