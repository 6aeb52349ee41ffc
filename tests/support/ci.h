#pragma once
// What tests share about where they run and what they collect.

#include <span>
#include <string>

#include "common/byte_sink.h"

namespace cbuild::test {

// Whether this is CI (CI=true): there every tool the tests use is installed by
// scripts/install-deps, so a missing one is a failure, not a reason to skip.
bool in_ci();

// A ByteSink keeping everything written to it.
class StringSink : public ByteSink {
public:
    using ByteSink::write;
    void write(std::span<const std::byte> bytes) override {
        m_bytes.append(reinterpret_cast<const char*>(bytes.data()), bytes.size());
    }
    const std::string& bytes() const { return m_bytes; }

private:
    std::string m_bytes;
};

}  // namespace cbuild::test
