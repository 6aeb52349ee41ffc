#include "tests/support/registry_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fcntl.h>
#include <cstdio>
#include <fstream>
#include <set>
#include <sstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/digest.h"
#include "common/error.h"
#include "tests/support/command.h"
#include "tests/support/shared_data.h"

extern char** environ;

namespace cbuild::test {
namespace {

namespace fs = std::filesystem;

constexpr char k_registry_binary[] = "/usr/bin/docker-registry";

sockaddr_in loopback(int port) {
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<std::uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return address;
}

// A port the kernel just handed out on 127.0.0.1; another process could take it before the
// registry binds it, which start-up then reports.
int free_port() {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) throw IoError("socket", "socket", errno);
    sockaddr_in address = loopback(0);
    socklen_t length = sizeof address;
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        const int error = errno;
        close(fd);
        throw IoError("127.0.0.1", "bind", error);
    }
    close(fd);
    return ntohs(address.sin_port);
}

bool port_answers(int port) {
    const int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return false;
    sockaddr_in address = loopback(port);
    const bool ok = connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
    close(fd);
    return ok;
}

// Whether process `pid` holds the socket listening on 127.0.0.1:`port` (/proc/net/tcp gives the
// socket's inode, /proc/PID/fd the process's sockets).
bool listens_on(pid_t pid, int port) {
    std::ifstream tcp("/proc/net/tcp");
    std::set<std::string> inodes;
    char wanted[16];
    std::snprintf(wanted, sizeof wanted, ":%04X", port);
    for (std::string line; std::getline(tcp, line);) {
        std::istringstream fields(line);
        std::string slot, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
        fields >> slot >> local >> remote >> state >> queues >> timer >> retransmits >> uid >> timeout >> inode;
        if (state == "0A" && local.ends_with(wanted)) inodes.insert("socket:[" + inode + "]");
    }
    std::error_code error;
    for (const auto& fd : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) {
        const auto target = fs::read_symlink(fd.path(), error);
        if (!error && inodes.contains(target.string())) return true;
    }
    return false;
}

void run_or_throw(const std::string& command, const fs::path& cwd) {
    const CommandResult result = run_command(command, cwd);
    if (result.status != 0) throw Error("`" + command + "` failed: " + result.output);
}

}  // namespace

std::optional<std::string> RegistryServer::missing_tool(const Options& options) {
    if (!fs::exists(k_registry_binary)) return "docker-registry";
    if (!have_program("skopeo")) return "skopeo";
    if (options.tls && !have_program("openssl")) return "openssl";
    if (!options.username.empty() && !options.token && !have_program("htpasswd")) return "htpasswd (apache2-utils)";
    return std::nullopt;
}

RegistryServer::RegistryServer(Options options) : m_options(std::move(options)) {
    const fs::path dir = m_dir.path();
    m_port = 0;  // chosen per attempt below
    std::string config = "version: 0.1\n"
                         "log:\n  level: warn\n  accesslog:\n    disabled: true\n"
                         "storage:\n  filesystem:\n    rootdirectory: " + (dir / "storage").string() +
                         "\n  delete:\n    enabled: true\n"
                         "http:\n  addr: 127.0.0.1:@PORT@\n  secret: cbuild-test\n";
    if (m_options.tls) {
        const std::string key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
        run_or_throw("openssl req -x509 " + key + " -keyout ca.key -out ca.crt -subj /CN=cbuild-test-ca -days 2", dir);
        run_or_throw("openssl req " + key + " -keyout server.key -out server.csr -subj /CN=127.0.0.1", dir);
        write_file(dir / "san.ext", "subjectAltName=IP:127.0.0.1,DNS:localhost\n");
        run_or_throw("openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt "
                     "-days 2 -extfile san.ext",
                     dir);
        config += "  tls:\n    certificate: " + (dir / "server.crt").string() + "\n    key: " +
                  (dir / "server.key").string() + "\n";
    }
    if (m_options.token) {
        // The registry checks each token's signature against this bundle (through the x5c
        // chain), its issuer, that its audience is the service, and its time window.
        config += "auth:\n  token:\n    realm: " + m_options.token->realm + "\n    service: " +
                  m_options.token->service + "\n    issuer: " + m_options.token->issuer +
                  "\n    rootcertbundle: " + m_options.token->root_cert_bundle.string() + "\n";
    } else if (!m_options.username.empty()) {
        run_or_throw("htpasswd -Bbn " + shell_quote(m_options.username) + " " + shell_quote(m_options.password) +
                         " > htpasswd",
                     dir);
        config += "auth:\n  htpasswd:\n    realm: cbuild-test\n    path: " + (dir / "htpasswd").string() + "\n";
    }
    // free_port() can hand two parallel test processes the same port; the loser's registry
    // exits with "address already in use" and is started again on another port.
    for (int attempt = 0;; ++attempt) {
        m_port = free_port();
        std::string with_port = config;
        with_port.replace(with_port.find("@PORT@"), 6, std::to_string(m_port));
        write_file(dir / "config.yml", with_port);
        if (start_once()) return;
        if (attempt == 4) throw Error("docker-registry found no free port: " + read_file(dir / "registry.log"));
    }
}

bool RegistryServer::start_once() {
    const fs::path dir = m_dir.path();
    const std::string log = (dir / "registry.log").string();
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&actions, 1, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const std::string config_path = (dir / "config.yml").string();
    std::vector<char*> argv = {const_cast<char*>(k_registry_binary), const_cast<char*>("serve"),
                               const_cast<char*>(config_path.c_str()), nullptr};
    const int error = posix_spawn(&m_pid, k_registry_binary, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    if (error != 0) throw IoError(k_registry_binary, "posix_spawn", error);

    // Wait until our registry listens on the port (a readiness wait, not a timed assertion: 30 s
    // is far beyond need). Someone answering is not enough: it may be another test's registry.
    for (int i = 0; i < 600; ++i) {
        if (port_answers(m_port) && listens_on(m_pid, m_port)) return true;
        int status = 0;
        if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
            m_pid = -1;
            const std::string output = read_file(log);
            if (output.find("address already in use") != std::string::npos) return false;
            throw Error("docker-registry exited at start-up: " + output);
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    throw Error("docker-registry did not open port " + std::to_string(m_port) + ": " + read_file(log));
}

RegistryServer::~RegistryServer() {
    if (m_pid <= 0) return;
    kill(m_pid, SIGTERM);
    for (int i = 0; i < 100; ++i) {
        if (waitpid(m_pid, nullptr, WNOHANG) == m_pid) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(m_pid, SIGKILL);
    waitpid(m_pid, nullptr, 0);
}

std::string RegistryServer::host() const { return "127.0.0.1:" + std::to_string(m_port); }

fs::path RegistryServer::blob_path(const std::string& hex) const {
    return storage() / "docker/registry/v2/blobs/sha256" / hex.substr(0, 2) / hex / "data";
}

void RegistryServer::push_layout(const fs::path& layout, const std::string& tag, const std::string& dest,
                                 bool all) const {
    std::optional<std::string> creds;
    if (!m_options.username.empty()) creds = m_options.username + ":" + m_options.password;
    push_layout_as(creds, layout, tag, dest, all);
}

void RegistryServer::push_layout_as(const std::optional<std::string>& creds, const fs::path& layout,
                                    const std::string& tag, const std::string& dest, bool all) const {
    std::string command = "skopeo --insecure-policy copy -q --dest-tls-verify=false ";
    if (all) command += "--all ";
    const std::string target = shell_quote("oci:" + layout.string() + ":" + tag) + " " +
                               shell_quote("docker://" + host() + "/" + dest);
    const CommandResult result =
        run_command(command + (creds ? "--dest-creds " + shell_quote(*creds) + " " : "") + target, ".");
    if (result.status != 0)
        throw Error("`" + command + (creds ? "--dest-creds … " : "") + target + "` failed: " + result.output);
}

OciLayoutWriter::OciLayoutWriter(fs::path dir) : m_dir(std::move(dir)) {
    fs::create_directories(m_dir / "blobs/sha256");
    write_file(m_dir / "oci-layout", R"({"imageLayoutVersion":"1.0.0"})");
}

LayoutBlob OciLayoutWriter::add_blob(const std::string& media_type, const std::string& bytes) {
    const Digest digest = sha256_of(bytes);
    write_file(m_dir / "blobs/sha256" / digest.hex(), bytes);
    return LayoutBlob{.media_type = media_type, .digest = digest.to_string(), .size = static_cast<long long>(bytes.size())};
}

LayoutBlob OciLayoutWriter::add_image(const std::string& content, const std::string& architecture,
                                      const std::string& variant) {
    TempDir scratch;
    write_file(scratch.path() / "hello", content);
    run_or_throw("tar --owner=0 --group=0 --mtime=@0 -cf layer.tar hello && gzip -nk layer.tar", scratch.path());
    const std::string tar = read_file(scratch.path() / "layer.tar");
    const std::string gz = read_file(scratch.path() / "layer.tar.gz");
    m_last_layer = add_blob("application/vnd.oci.image.layer.v1.tar+gzip", gz);
    nlohmann::json config = {{"architecture", architecture},
                             {"os", "linux"},
                             {"config", {{"Cmd", {"/hello"}}}},
                             {"rootfs", {{"type", "layers"}, {"diff_ids", {sha256_of(tar).to_string()}}}}};
    if (!variant.empty()) config["variant"] = variant;
    const LayoutBlob config_blob = add_blob("application/vnd.oci.image.config.v1+json", config.dump());
    auto descriptor = [](const LayoutBlob& blob) {
        return nlohmann::json{{"mediaType", blob.media_type}, {"digest", blob.digest}, {"size", blob.size}};
    };
    const nlohmann::json manifest = {{"schemaVersion", 2},
                                     {"mediaType", "application/vnd.oci.image.manifest.v1+json"},
                                     {"config", descriptor(config_blob)},
                                     {"layers", {descriptor(m_last_layer)}}};
    return add_blob("application/vnd.oci.image.manifest.v1+json", manifest.dump());
}

LayoutBlob OciLayoutWriter::add_index(const std::vector<std::pair<LayoutBlob, std::string>>& manifests_and_platforms) {
    nlohmann::json manifests = nlohmann::json::array();
    for (const auto& [blob, platform] : manifests_and_platforms) {
        const auto slash = platform.find('/');
        nlohmann::json p = {{"os", "linux"}, {"architecture", platform.substr(0, slash)}};
        if (slash != std::string::npos) p["variant"] = platform.substr(slash + 1);
        manifests.push_back(
            {{"mediaType", blob.media_type}, {"digest", blob.digest}, {"size", blob.size}, {"platform", p}});
    }
    const nlohmann::json index = {
        {"schemaVersion", 2}, {"mediaType", "application/vnd.oci.image.index.v1+json"}, {"manifests", manifests}};
    return add_blob("application/vnd.oci.image.index.v1+json", index.dump());
}

void OciLayoutWriter::tag(const LayoutBlob& target, const std::string& tag) {
    m_tags[tag] = target;
    nlohmann::json manifests = nlohmann::json::array();
    for (const auto& [name, blob] : m_tags)
        manifests.push_back({{"mediaType", blob.media_type},
                             {"digest", blob.digest},
                             {"size", blob.size},
                             {"annotations", {{"org.opencontainers.image.ref.name", name}}}});
    write_file(m_dir / "index.json", nlohmann::json{{"schemaVersion", 2}, {"manifests", manifests}}.dump());
}

}  // namespace cbuild::test
