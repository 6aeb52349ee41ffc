#include "tests/support/shared_data.h"

#include <cerrno>
#include <fstream>
#include <sstream>

#include "common/error.h"

namespace cbuild::test {

std::filesystem::path shared_dir() { return CBUILD_SHARED_DIR; }
std::filesystem::path source_dir() { return CBUILD_SOURCE_DIR; }
std::filesystem::path cbuild_binary() { return CBUILD_BINARY; }

std::string read_file(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError(path.string(), "open", errno);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace cbuild::test
