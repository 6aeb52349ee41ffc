// `cbuild login` as docker's: interactive on a terminal (a pseudo-terminal here: the username
// echoed, the password not, the terminal restored even after Ctrl-C), refused without one unless
// the password comes from --password-stdin, and -p accepted with a warning.

#include <gtest/gtest.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>
#include <utmp.h>

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "registry/internal/wire.h"
#include "tests/support/ci.h"
#include "tests/support/command.h"
#include "tests/support/registry_server.h"
#include "tests/support/shared_data.h"
#include "tests/support/temp_dir.h"

extern char** environ;

namespace cbuild {
namespace {

namespace fs = std::filesystem;

constexpr char k_user[] = "alice";
constexpr char k_password[] = "tty-Pa55word";

// A hang guard for a child that stops talking, far beyond what any step needs.
constexpr int k_patience_ms = 60000;

// `cbuild ARGS` on a new pseudo-terminal as its controlling terminal. The test types with
// type(), reads what the terminal shows with read_until(), and can look at the terminal's
// settings at any time (it keeps the terminal's slave side open for that).
class TerminalSession {
public:
    TerminalSession(const std::vector<std::string>& args, const fs::path& docker_config) {
        if (openpty(&m_master, &m_slave, nullptr, nullptr, nullptr) != 0) throw IoError("/dev/ptmx", "openpty", errno);
        // Everything the child needs is built before fork: after it, only exec.
        std::vector<std::string> arguments = {test::cbuild_binary().string()};
        arguments.insert(arguments.end(), args.begin(), args.end());
        std::vector<std::string> environment = {"DOCKER_CONFIG=" + docker_config.string()};
        for (char** variable = environ; *variable; ++variable)
            if (std::strncmp(*variable, "DOCKER_CONFIG=", 14) != 0) environment.emplace_back(*variable);
        std::vector<char*> argv, envp;
        for (auto& argument : arguments) argv.push_back(argument.data());
        for (auto& variable : environment) envp.push_back(variable.data());
        argv.push_back(nullptr);
        envp.push_back(nullptr);
        m_pid = fork();
        if (m_pid < 0) throw IoError("cbuild", "fork", errno);
        if (m_pid == 0) {
            close(m_master);
            if (login_tty(m_slave) != 0) _exit(126);
            execve(argv[0], argv.data(), envp.data());
            _exit(127);
        }
    }
    ~TerminalSession() {
        if (m_pid > 0) {
            kill(m_pid, SIGKILL);
            waitpid(m_pid, nullptr, 0);
        }
        close(m_master);
        close(m_slave);
    }
    TerminalSession(const TerminalSession&) = delete;
    TerminalSession& operator=(const TerminalSession&) = delete;

    void type(const std::string& keys) {
        ASSERT_EQ(write(m_master, keys.data(), keys.size()), static_cast<ssize_t>(keys.size()));
    }

    // Reads until the screen shows `text` (true) or the child has exited and said all (false).
    bool read_until(const std::string& text) {
        for (int waited = 0; waited < k_patience_ms;) {
            if (m_screen.find(text) != std::string::npos) return true;
            pollfd ready{.fd = m_master, .events = POLLIN, .revents = 0};
            const int n = poll(&ready, 1, 100);
            if (n > 0) {
                char buffer[4096];
                const ssize_t got = read(m_master, buffer, sizeof buffer);
                if (got > 0) m_screen.append(buffer, static_cast<std::size_t>(got));
                continue;
            }
            waited += 100;
            if (exited()) return m_screen.find(text) != std::string::npos;
        }
        return false;
    }

    // Waits for the child to end (reading all it shows); its wait status.
    int wait() {
        read_until("\x01never shown\x01");
        return m_status;
    }

    bool echo_on() const {
        termios settings{};
        if (tcgetattr(m_slave, &settings) != 0) throw IoError("pty", "tcgetattr", errno);
        return (settings.c_lflag & ECHO) != 0;
    }

    const std::string& screen() const { return m_screen; }

private:
    bool exited() {
        if (m_pid <= 0) return true;
        if (waitpid(m_pid, &m_status, WNOHANG) != m_pid) return false;
        m_pid = -1;
        return true;
    }

    int m_master = -1;
    int m_slave = -1;
    pid_t m_pid = -1;
    int m_status = -1;
    std::string m_screen;
};

class LoginTest : public ::testing::Test {
protected:
    // An htpasswd registry for k_user; false after a missing-tool skip (a failure under CI).
    bool start_registry() {
        const test::RegistryServer::Options options{.username = k_user, .password = k_password};
        if (const auto missing = test::RegistryServer::missing_tool(options)) {
            if (test::in_ci()) ADD_FAILURE() << *missing << " is not installed";
            return false;
        }
        registry = std::make_unique<test::RegistryServer>(options);
        return true;
    }

    fs::path docker_config() const { return m_dir.path() / "docker"; }

    test::CommandResult cbuild(const std::string& args, const std::string& stdin_text = "") {
        std::string command = "DOCKER_CONFIG=" + test::shell_quote(docker_config().string()) + " " +
                              test::shell_quote(test::cbuild_binary().string()) + " " + args;
        if (!stdin_text.empty()) command = "printf '%s\\n' " + test::shell_quote(stdin_text) + " | " + command;
        return test::run_command(command);
    }

    // The user and password config.json holds for `host`, "" when none.
    std::string stored_login(const std::string& host) const {
        const fs::path file = docker_config() / "config.json";
        if (!fs::exists(file)) return "";
        const auto config = nlohmann::json::parse(test::read_file(file));
        if (!config.contains("auths") || !config["auths"].contains(host)) return "";
        return registry::internal::base64_decode(config["auths"][host].value("auth", "")).value_or("");
    }

    test::TempDir m_dir;
    std::unique_ptr<test::RegistryServer> registry;
};

TEST_F(LoginTest, WithoutATerminalThePasswordMustComeFromStdin) {
    // run_command's stdin is /dev/null: no terminal to ask on. Nothing is contacted.
    for (const std::string args : {"login -u alice 127.0.0.1:1", "login 127.0.0.1:1", "login -p x 127.0.0.1:1"}) {
        const auto result = cbuild(args);
        EXPECT_EQ(result.status, 2) << args << ": " << result.output;
        EXPECT_NE(result.output.find("cannot perform an interactive login from a non-TTY device"), std::string::npos)
            << result.output;
        EXPECT_NE(result.output.find("--password-stdin"), std::string::npos) << result.output;
    }
    const auto both = cbuild("login -u alice -p x --password-stdin 127.0.0.1:1", "x");
    EXPECT_EQ(both.status, 2) << both.output;
    EXPECT_NE(both.output.find("mutually exclusive"), std::string::npos) << both.output;
    const auto no_user = cbuild("login --password-stdin 127.0.0.1:1", "x");
    EXPECT_EQ(no_user.status, 2) << no_user.output;
    EXPECT_FALSE(fs::exists(docker_config() / "config.json"));
}

TEST_F(LoginTest, PasswordOnTheCommandLineWorksWithAWarning) {
    if (!start_registry()) GTEST_SKIP() << "docker-registry or htpasswd is missing";
    const auto result = cbuild("login -u alice -p " + test::shell_quote(k_password) + " " + registry->host());
    ASSERT_EQ(result.status, 0) << result.output;
    EXPECT_NE(result.output.find("WARNING! Using --password via the CLI is insecure. Use --password-stdin."),
              std::string::npos)
        << result.output;
    EXPECT_NE(result.output.find("Login Succeeded"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find(k_password), std::string::npos) << result.output;
    EXPECT_EQ(stored_login(registry->host()), std::string(k_user) + ":" + k_password);
}

TEST_F(LoginTest, TerminalAsksForUserAndPasswordWithoutEchoingThePassword) {
    if (!start_registry()) GTEST_SKIP() << "docker-registry or htpasswd is missing";
    TerminalSession terminal({"login", registry->host()}, docker_config());
    ASSERT_TRUE(terminal.read_until("Username: ")) << terminal.screen();
    EXPECT_TRUE(terminal.echo_on());
    terminal.type(std::string(k_user) + "\n");
    ASSERT_TRUE(terminal.read_until("Password: ")) << terminal.screen();
    EXPECT_FALSE(terminal.echo_on());
    terminal.type(std::string(k_password) + "\n");
    const int status = terminal.wait();
    ASSERT_TRUE(WIFEXITED(status)) << terminal.screen();
    EXPECT_EQ(WEXITSTATUS(status), 0) << terminal.screen();
    EXPECT_NE(terminal.screen().find("Login Succeeded"), std::string::npos) << terminal.screen();
    EXPECT_NE(terminal.screen().find(std::string("Username: ") + k_user), std::string::npos) << terminal.screen();
    EXPECT_EQ(terminal.screen().find(k_password), std::string::npos) << "the password was echoed";
    EXPECT_TRUE(terminal.echo_on());
    EXPECT_EQ(stored_login(registry->host()), std::string(k_user) + ":" + k_password);
}

TEST_F(LoginTest, WrongPasswordOnTheTerminalFailsWithoutShowingIt) {
    if (!start_registry()) GTEST_SKIP() << "docker-registry or htpasswd is missing";
    const std::string wrong = "not-the-Pa55word";
    TerminalSession terminal({"login", "-u", k_user, registry->host()}, docker_config());
    ASSERT_TRUE(terminal.read_until("Password: ")) << terminal.screen();
    EXPECT_EQ(terminal.screen().find("Username: "), std::string::npos) << "-u was given";
    terminal.type(wrong + "\n");
    const int status = terminal.wait();
    ASSERT_TRUE(WIFEXITED(status)) << terminal.screen();
    EXPECT_EQ(WEXITSTATUS(status), 1) << terminal.screen();
    EXPECT_NE(terminal.screen().find("unauthorized"), std::string::npos) << terminal.screen();
    EXPECT_EQ(terminal.screen().find(wrong), std::string::npos) << terminal.screen();
    EXPECT_TRUE(terminal.echo_on());
    EXPECT_EQ(stored_login(registry->host()), "");
}

TEST_F(LoginTest, CtrlCAtThePasswordPromptRestoresTheTerminal) {
    // The prompt comes before any request, so no registry is needed.
    TerminalSession terminal({"login", "-u", k_user, "127.0.0.1:1"}, docker_config());
    ASSERT_TRUE(terminal.read_until("Password: ")) << terminal.screen();
    EXPECT_FALSE(terminal.echo_on());
    terminal.type("half-typed\x03");
    const int status = terminal.wait();
    ASSERT_TRUE(WIFSIGNALED(status)) << terminal.screen();
    EXPECT_EQ(WTERMSIG(status), SIGINT);
    EXPECT_TRUE(terminal.echo_on()) << "Ctrl-C left the terminal without echo";
    EXPECT_EQ(terminal.screen().find("half-typed"), std::string::npos) << terminal.screen();
    EXPECT_FALSE(fs::exists(docker_config() / "config.json"));
}

}  // namespace
}  // namespace cbuild
