#pragma once
// The inside of cbuild_fault_proxy, the process FaultProxy starts (tests/support/fault_proxy.h
// documents what it does and its control protocol): the three loopback listeners and the
// threads serving them, and both ends of the control channel with the JSON it carries.

#include <memory>
#include <string>
#include <vector>

#include "common/unique_fd.h"
#include "tests/support/fault_proxy.h"

namespace cbuild::test {

class FaultProxyEngine {
public:
    struct Ports {
        int proxy = 0;
        int redirect = 0;
        int control = 0;
    };

    // Binds the proxy, redirect and control listeners on free 127.0.0.1 ports, forwarding to
    // `upstream_host` ("127.0.0.1:PORT"). Throws cbuild::Error when that has no port,
    // cbuild::IoError when a socket cannot be bound.
    FaultProxyEngine(std::string upstream_host, std::string upstream_authorization);
    // Closes the listeners; connections already accepted are served to their end.
    ~FaultProxyEngine();
    FaultProxyEngine(const FaultProxyEngine&) = delete;
    FaultProxyEngine& operator=(const FaultProxyEngine&) = delete;

    Ports ports() const { return m_ports; }

    // Accepts on all three listeners, serving each connection on a thread of its own, until the
    // process ends. Throws cbuild::IoError when a listener fails.
    [[noreturn]] void serve();

private:
    struct State;
    // Shared with the connection threads, which may outlive this object.
    std::shared_ptr<State> m_state;
    UniqueFd m_proxy;
    UniqueFd m_redirect;
    UniqueFd m_control;
    Ports m_ports;
};

// The body of the answer to `method target` with the JSON `body` on the control port
// 127.0.0.1:`port`. Throws cbuild::IoError when the exchange fails, cbuild::Error unless the
// answer is 2xx.
std::string control_exchange(int port, const std::string& method, const std::string& target,
                             const std::string& body);

// The bodies of the control channel, as fault_proxy.h describes them. The *_from_json functions
// throw cbuild::Error on text that is not such a body.
std::string rule_to_json(const FaultRule& rule);
FaultRule rule_from_json(const std::string& text);
std::string log_to_json(const std::vector<ProxiedRequest>& log);
std::vector<ProxiedRequest> log_from_json(const std::string& text);

}  // namespace cbuild::test
