#include "tests/support/temp_dir.h"

#include <cerrno>
#include <cstdlib>
#include <string>
#include <system_error>

#include "common/error.h"

namespace cbuild::test {

TempDir::TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "cbuild-test-XXXXXX").string();
    if (!mkdtemp(pattern.data())) throw IoError(pattern, "mkdtemp", errno);
    m_path = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;  // a destructor must not throw; a leftover temp dir is harmless
    std::filesystem::remove_all(m_path, ignored);
}

}  // namespace cbuild::test
