#include "tests/support/busybox_image.h"

#include <sys/stat.h>

#include <sstream>

#include "tests/support/command.h"

namespace cbuild::test {

std::optional<std::string> write_busybox_rootfs(const std::filesystem::path& dir) {
    const std::filesystem::path busybox = "/bin/busybox";
    if (!std::filesystem::exists(busybox)) return "busybox-static is not installed (scripts/install-deps installs it)";
    const CommandResult list = run_command("/bin/busybox --list");
    if (list.status != 0) return "busybox --list failed: " + list.output;
    std::filesystem::create_directories(dir / "bin");
    std::filesystem::copy_file(busybox, dir / "bin" / "busybox", std::filesystem::copy_options::overwrite_existing);
    std::istringstream applets(list.output);
    for (std::string applet; std::getline(applets, applet);) {
        if (applet.empty() || applet == "busybox") continue;
        std::error_code ignored;
        std::filesystem::create_symlink("busybox", dir / "bin" / applet, ignored);
    }
    write_file(dir / "etc" / "passwd",
               "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
               "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n");
    write_file(dir / "etc" / "group", "root:x:0:\napp:x:1000:\nextra:x:2000:app\nnogroup:x:65534:\n");
    write_file(dir / "old" / "file", "old file\n");
    write_file(dir / "old" / "dir" / "a", "a\n");
    write_file(dir / "old" / "dir" / "b", "b\n");
    std::filesystem::create_directories(dir / "home" / "app");
    std::filesystem::create_directories(dir / "root");
    std::filesystem::create_directories(dir / "tmp");
    ::chmod((dir / "tmp").c_str(), 01777);
    return std::nullopt;
}

}  // namespace cbuild::test
