// The seed workflow (issue 7) end to end, as a team runs it: a registry behind token auth (as
// Docker Hub and Harbor), `cbuild login`, a base image holding the app's dependencies and the
// app on it, both pushed; the app pulled and run by containerd (the runtime Kubernetes nodes
// run) and by runc from a skopeo copy unpacked with umoci; then one app file changed, and the
// rebuild redoing and uploading exactly that layer. Every client reaches the registry through
// a logging proxy, so the uploads are counted from the requests themselves.
//
// Also the repository's own Dockerfile (cbuild building itself), which needs debian:12 from the
// internet to build, so only `--check` runs on it here.

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tests/support/busybox_image.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/containerd_daemon.h"
#include "tests/support/fault_proxy.h"
#include "tests/support/image_checker.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"
#include "tests/support/token_issuer.h"

namespace cbuild {
namespace {

namespace fs = std::filesystem;

constexpr char k_user[] = "team-ci";
constexpr char k_password[] = "seed-Pa55word";
// What the app's CMD prints: the image's ENV, the app's VERSION file, the package pip installed.
constexpr char k_output_v1[] = "Hello from seed-app 1.0.0 on port 8000 (flask 3.0.3)\n";
constexpr char k_output_v2[] = "Hello from seed-app 1.0.1 on port 8000 (flask 3.0.3)\n";

// The layer steps a build's output reports as taken from the cache, and its cache-miss lines.
struct StepReport {
    std::vector<std::string> cached;  // "[stage-0 1/5] WORKDIR /srv/app"
    std::vector<std::string> misses;
};

// Reads both of cbuild's progress formats: a line "CACHED [stage-0 1/5] WORKDIR /srv/app", or
// BuildKit's plain form, "#1 [stage-0 1/5] WORKDIR /srv/app" then "#1 CACHED".
StepReport step_report(const std::string& output) {
    StepReport report;
    std::map<std::string, std::string> titles;  // "#1" → "[stage-0 1/5] WORKDIR /srv/app"
    std::istringstream lines(output);
    for (std::string line; std::getline(lines, line);) {
        if (line.find("cache miss") != std::string::npos) report.misses.push_back(line);
        if (line.starts_with("CACHED [")) report.cached.push_back(line.substr(7));
        if (!line.starts_with("#")) continue;
        const auto space = line.find(' ');
        if (space == std::string::npos) continue;
        const std::string id = line.substr(0, space);
        const std::string rest = line.substr(space + 1);
        if (rest == "CACHED" && titles.contains(id)) report.cached.push_back(titles[id]);
        if (rest.starts_with("[") && !titles.contains(id)) titles[id] = rest;
    }
    return report;
}

class SeedWorkflowTest : public testing::Test {
protected:
    void SetUp() override {
        if (const auto why = missing()) {
            if (test::in_ci()) FAIL() << *why;
            GTEST_SKIP() << *why;
        }
        fs::copy(test::source_dir() / "testdata/seed", context(), fs::copy_options::recursive);
    }

    // Why this machine cannot run the workflow, if it cannot.
    static std::optional<std::string> missing() {
        if (::geteuid() != 0) return "the workflow needs root (RUN, containerd, runc)";
        if (const auto tool = test::RegistryServer::missing_tool({})) return *tool + " is not installed";
        if (const auto tool = test::ContainerdDaemon::missing_tool()) return *tool + " is not installed";
        for (const char* program : {"skopeo", "umoci", "runc"})
            if (!test::have_program(program)) return std::string(program) + " is not installed";
        return std::nullopt;
    }

    fs::path context() const { return m_dir.path() / "context"; }
    fs::path store() const { return m_dir.path() / "store"; }

    // `cbuild ARGS` in `cwd` with the test's docker config (what `cbuild login` wrote) and store.
    test::CommandResult cbuild(const std::string& args, const fs::path& cwd, const fs::path& store,
                               const std::string& stdin_text = "") const {
        std::string command = "DOCKER_CONFIG=" + test::shell_quote((m_dir.path() / "docker").string()) + " " +
                              test::shell_quote(test::cbuild_binary().string()) + " --root " +
                              test::shell_quote(store.string()) + " " + args;
        if (!stdin_text.empty()) command = "printf '%s\\n' " + test::shell_quote(stdin_text) + " | " + command;
        return test::run_command(command, cwd);
    }

    // The manifest the store names `reference`.
    nlohmann::json manifest(const std::string& reference) const {
        const std::string digest = test::manifest_digest_in_layout(store(), reference);
        return nlohmann::json::parse(test::read_file(store() / "blobs/sha256" / digest.substr(digest.find(':') + 1)));
    }

    // How many token requests came with the team's credentials.
    static long authenticated_token_requests(const test::TokenIssuer& issuer) {
        const auto requests = issuer.requests();
        return std::count_if(requests.begin(), requests.end(), [](const test::TokenIssuer::Request& request) {
            return request.username == k_user && request.status == 200;
        });
    }

    test::TempDir m_dir;
};

TEST_F(SeedWorkflowTest, BuildPushRunOnContainerdAndRuncThenRebuildOneLayer) {
    // a. The registry, as the team's clients see it: token auth through a logging proxy.
    test::TokenIssuer issuer(test::TokenIssuer::Options{.username = k_user, .password = k_password});
    test::RegistryServer registry(test::RegistryServer::Options{
        .username = k_user, .password = k_password, .token = issuer.registry_config()});
    const test::FaultProxy proxy(test::FaultProxy::Options{.upstream_host = registry.host()});
    const std::string host = proxy.host();
    const std::string app = host + "/team/app:0.1";

    // b. Log in once, as CI would with a secret on stdin.
    const auto login = cbuild("login --password-stdin -u " + std::string(k_user) + " " + host, m_dir.path(), store(),
                              k_password);
    ASSERT_EQ(login.status, 0) << login.output;
    EXPECT_NE(login.output.find("Login Succeeded"), std::string::npos) << login.output;
    EXPECT_EQ(login.output.find(k_password), std::string::npos) << login.output;

    // The busybox "runtime" image, pushed from a store of its own so the team's builds pull it.
    const fs::path base = m_dir.path() / "busybox";
    if (const auto why = test::write_busybox_rootfs(base / "rootfs")) {
        if (test::in_ci()) FAIL() << *why;
        GTEST_SKIP() << *why;
    }
    test::write_file(base / "Dockerfile", "FROM scratch\nCOPY rootfs/ /\nCMD [\"/bin/sh\"]\n");
    const auto busybox = cbuild("-t " + host + "/library/busybox:test --push .", base, m_dir.path() / "busybox-store");
    ASSERT_EQ(busybox.status, 0) << busybox.output;

    // c. The base image: the dependencies, installed by a RUN.
    const std::string registry_arg = "--build-arg REGISTRY=" + host;
    const auto base_build = cbuild("-f Dockerfile-base " + registry_arg + " -t " + host + "/team/app-base:0.1 --push .",
                                   context(), store());
    ASSERT_EQ(base_build.status, 0) << base_build.output;
    EXPECT_NE(base_build.output.find("Successfully installed flask-3.0.3"), std::string::npos) << base_build.output;

    // d. The app on it.
    const auto app_build = cbuild(registry_arg + " -t " + app + " --push .", context(), store());
    ASSERT_EQ(app_build.status, 0) << app_build.output;
    EXPECT_NE(app_build.output.find("pushed " + app), std::string::npos) << app_build.output;
    // The pushes were authorised as the team: push scopes granted to its account.
    const auto requests = issuer.requests();
    EXPECT_TRUE(std::any_of(requests.begin(), requests.end(), [](const test::TokenIssuer::Request& request) {
        return request.username == k_user &&
               std::any_of(request.granted.begin(), request.granted.end(), [](const std::string& granted) {
                   return granted.starts_with("repository:team/app:") && granted.find("push") != std::string::npos;
               });
    })) << "no push token was issued to the team for team/app";

    // e. containerd pulls with the team's credentials and runs the CMD.
    test::ContainerdDaemon containerd;
    const long before_ctr = authenticated_token_requests(issuer);
    const auto pulled = containerd.ctr("image pull --plain-http --user " +
                                       test::shell_quote(std::string(k_user) + ":" + k_password) + " " + app);
    ASSERT_EQ(pulled.status, 0) << pulled.output << containerd.log();
    EXPECT_GT(authenticated_token_requests(issuer), before_ctr) << "ctr pulled without the team's credentials";
    const auto ran = containerd.run(app, "test-app");
    EXPECT_EQ(ran.status, 0) << test::read_file(containerd.stderr_file()) << containerd.log();
    EXPECT_EQ(ran.output, k_output_v1) << test::read_file(containerd.stderr_file());

    // f. skopeo copies it into an OCI layout, umoci unpacks a runtime bundle, runc runs it.
    const fs::path layout = m_dir.path() / "oci";
    const fs::path bundle = m_dir.path() / "bundle";
    const auto copied = test::run_command(
        "skopeo --insecure-policy copy -q --src-tls-verify=false --src-creds " +
        test::shell_quote(std::string(k_user) + ":" + k_password) + " " + test::shell_quote("docker://" + app) + " " +
        test::shell_quote("oci:" + layout.string() + ":app"));
    ASSERT_EQ(copied.status, 0) << copied.output;
    const auto unpacked = test::run_command("umoci unpack --image " + test::shell_quote(layout.string() + ":app") +
                                            " " + test::shell_quote(bundle.string()));
    ASSERT_EQ(unpacked.status, 0) << unpacked.output;
    // umoci writes a spec for an interactive terminal; this run has none.
    nlohmann::json spec = nlohmann::json::parse(test::read_file(bundle / "config.json"));
    spec["process"]["terminal"] = false;
    test::write_file(bundle / "config.json", spec.dump());
    const fs::path runc_stderr = m_dir.path() / "runc.stderr";
    const auto runc = test::run_command("runc --root " + test::shell_quote((m_dir.path() / "runc").string()) +
                                        " run --bundle " + test::shell_quote(bundle.string()) + " seed-app-runc 2>" +
                                        test::shell_quote(runc_stderr.string()));
    EXPECT_EQ(runc.status, 0) << test::read_file(runc_stderr);
    EXPECT_EQ(runc.output, k_output_v1) << test::read_file(runc_stderr);

    // g. One app file changes: only its COPY is redone, and only its layer and the config go up.
    const nlohmann::json before = manifest(app);
    test::write_file(context() / "app/VERSION", "1.0.1\n");
    const std::size_t requests_before = proxy.log().size();
    const auto rebuilt = cbuild(registry_arg + " -t " + app + " --push .", context(), store());
    ASSERT_EQ(rebuilt.status, 0) << rebuilt.output;
    const StepReport steps = step_report(rebuilt.output);
    ASSERT_EQ(steps.misses.size(), 1u) << rebuilt.output;
    EXPECT_NE(steps.misses[0].find("COPY app/ ./: cache miss: file changed: srv/app/VERSION"), std::string::npos)
        << rebuilt.output;
    ASSERT_EQ(steps.cached.size(), 1u) << rebuilt.output;
    EXPECT_TRUE(steps.cached[0].ends_with("] WORKDIR /srv/app")) << rebuilt.output;
    EXPECT_NE(rebuilt.output.find("pushed " + app + " (2 blobs uploaded, "), std::string::npos) << rebuilt.output;

    const nlohmann::json after = manifest(app);
    ASSERT_EQ(after["layers"].size(), before["layers"].size());
    const std::size_t last = after["layers"].size() - 1;
    for (std::size_t i = 0; i < last; ++i)
        EXPECT_EQ(after["layers"][i]["digest"], before["layers"][i]["digest"]) << "layer " << i << " changed";
    EXPECT_NE(after["layers"][last]["digest"], before["layers"][last]["digest"]);
    // The registry saw exactly two uploads, each started (POST) and finished (PUT ?digest=),
    // and they were the new layer and the new config.
    const auto log = proxy.log();
    std::vector<std::string> started, finished;
    for (std::size_t i = requests_before; i < log.size(); ++i) {
        if (log[i].target.find("/blobs/uploads/") == std::string::npos) continue;
        if (log[i].method == "POST") started.push_back(log[i].target);
        if (log[i].method == "PUT") finished.push_back(log[i].target);
    }
    EXPECT_EQ(started.size(), 2u) << testing::PrintToString(started);
    ASSERT_EQ(finished.size(), 2u) << testing::PrintToString(finished);
    for (const std::string& expected : {after["layers"][last]["digest"].get<std::string>(),
                                       after["config"]["digest"].get<std::string>()}) {
        EXPECT_TRUE(std::any_of(finished.begin(), finished.end(), [&](const std::string& target) {
            return target.find("digest=" + expected) != std::string::npos ||
                   target.find("digest=sha256%3A" + expected.substr(7)) != std::string::npos;
        })) << expected << " was not uploaded: " << testing::PrintToString(finished);
    }

    // The rollout: containerd pulls the new tag and runs the new version.
    const auto repulled = containerd.ctr("image pull --plain-http --user " +
                                         test::shell_quote(std::string(k_user) + ":" + k_password) + " " + app);
    ASSERT_EQ(repulled.status, 0) << repulled.output << containerd.log();
    const auto reran = containerd.run(app, "test-app");
    EXPECT_EQ(reran.status, 0) << test::read_file(containerd.stderr_file());
    EXPECT_EQ(reran.output, k_output_v2) << test::read_file(containerd.stderr_file());

    // Nothing of either runtime is left running or mounted.
    EXPECT_EQ(containerd.stop(), std::vector<std::string>{});
    const auto runc_left = test::run_command("runc --root " + test::shell_quote((m_dir.path() / "runc").string()) +
                                             " list -q");
    EXPECT_EQ(runc_left.output, "") << "runc still knows a container";
}

// The repository's Dockerfile, which builds cbuild itself, is one cbuild reads cleanly.
TEST(RepositoryDockerfileTest, PassesCheck) {
    const auto checked = test::run_cbuild("build --check -f Dockerfile .", test::source_dir());
    EXPECT_EQ(checked.status, 0) << checked.output;
}

}  // namespace
}  // namespace cbuild
