#pragma once
// A fresh directory under $TMPDIR, removed with everything in it when the object goes.

#include <filesystem>

namespace cbuild::test {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return m_path; }

private:
    std::filesystem::path m_path;
};

}  // namespace cbuild::test
