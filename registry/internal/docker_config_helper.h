#pragma once
// Running a docker credential helper (`docker-credential-NAME ACTION`, see
// registry/docker_config.h for the protocol): one process, its stdin fed, its stdout read.

#include <string>
#include <string_view>

namespace cbuild::registry::internal {

struct HelperResult {
    int exit_status = -1;  // -1 when killed by a signal
    std::string output;    // stdout (stderr is discarded: the protocol answers on stdout)
};

// Runs `docker-credential-NAME ACTION` found on PATH with `input` on its stdin and waits for
// it. Throws cbuild::Error naming the program when it cannot be started (not on PATH…).
HelperResult run_credential_helper(const std::string& name, const std::string& action, std::string_view input);

// Whether a failed helper's output says it has no credentials for the server (the
// docker-credential-helpers message "credentials not found in native keychain").
bool is_credentials_not_found(std::string_view output);

}  // namespace cbuild::registry::internal
