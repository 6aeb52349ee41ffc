#pragma once
// Where the tests find their data: ../shared beside the checkout, the source tree, the binary.

#include <filesystem>
#include <string>

namespace cbuild::test {

std::filesystem::path shared_dir();   // ../shared (conformance/, corpus/, bench/)
std::filesystem::path source_dir();   // the checkout (testdata/ lives here)
std::filesystem::path cbuild_binary();

// The whole file as bytes; throws cbuild::IoError if it cannot be read.
std::string read_file(const std::filesystem::path& path);

}  // namespace cbuild::test
