// `cbuild login [-u USER] [-p PASSWORD | --password-stdin] [REGISTRY]` and `cbuild logout
// [REGISTRY]`, as docker's: what is not given is asked on the terminal (the password without
// echo), the credentials are checked against the registry, then written to the docker config (or
// its credential helper). The password never reaches output or errors.

#include <boost/program_options.hpp>
#include <iostream>

#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/login_prompt.h"
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

// What `cbuild login` checks and stores: from the options, stdin, or the terminal.
struct Login {
    std::string username;
    std::string password;
};

Login read_login(const po::variables_map& values) {
    const bool from_stdin = values.count("password-stdin") > 0;
    const bool on_command_line = values.count("password") > 0;
    if (from_stdin && on_command_line) throw UsageError("--password and --password-stdin are mutually exclusive");
    if (from_stdin && !values.count("username")) throw UsageError("--password-stdin needs -u USER");
    if (on_command_line) std::cerr << "WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n";
    Login login;
    if (values.count("username")) login.username = values["username"].as<std::string>();
    if (on_command_line) login.password = values["password"].as<std::string>();
    if (from_stdin) {
        std::getline(std::cin, login.password);
        if (!login.password.empty() && login.password.back() == '\r') login.password.pop_back();
        if (login.password.empty()) throw UsageError("no password on stdin");
        return login;
    }
    const bool interactive = login.username.empty() || !on_command_line;
    if (interactive && !stdin_is_terminal())
        throw UsageError("cannot perform an interactive login from a non-TTY device: give -u USER and "
                         "--password-stdin");
    if (login.username.empty()) login.username = prompt_line("Username: ", Echo::on).value_or("");
    if (login.username.empty()) throw UsageError("a username is required");
    if (!on_command_line) login.password = prompt_line("Password: ", Echo::off).value_or("");
    if (login.password.empty()) throw UsageError("a password is required");
    return login;
}

}  // namespace

int run_login(const Arguments& arguments, const GlobalOptions&) {
    po::options_description options("Options");
    options.add_options()
        ("username,u", po::value<std::string>(), "Username (asked on the terminal when not given)")
        ("password,p", po::value<std::string>(), "Password (insecure: it shows in the process list and shell history)")
        ("password-stdin", "Read the password from stdin")
        ("insecure-registry", po::value<std::vector<std::string>>()->composing(), "Allow plain HTTP or unverified TLS for this registry")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "registry", 1);
    if (values.count("help")) {
        std::cout << "Usage: cbuild login [OPTIONS] [REGISTRY]\n\n"
                     "Log in to a registry (Docker Hub by default). Without --password-stdin or -p, the\n"
                     "username (unless -u is given) and the password are asked on the terminal.\n\n"
                  << options;
        return 0;
    }
    const std::string host = registry_host(values);
    const Login login = read_login(values);

    registry::ClientOptions client = client_options(repeated(values, "insecure-registry"));
    client.credentials = std::make_shared<registry::StaticCredentials>(std::map<std::string, registry::Credential>{
        {host, registry::Credential{.username = login.username, .password = login.password}}});
    registry::Client(client).ping(host);  // throws "unauthorized" for a wrong password
    const registry::DockerConfig config;
    config.store_login(host, login.username, login.password);
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
