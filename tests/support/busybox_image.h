#pragma once
// A base image the tests make themselves: Debian's static busybox with every applet linked,
// accounts in /etc/passwd and /etc/group, built by cbuild FROM scratch (no network needed).

#include <filesystem>
#include <optional>
#include <string>

namespace cbuild::test {

// Writes a busybox root filesystem into `dir`: bin/busybox and one symlink per applet in bin/,
// etc/passwd (root, and `app` uid 1000 gid 1000 home /home/app), etc/group (root, app, and
// `extra` gid 2000 listing app), tmp (1777), home/app, and a few files and directories for the
// RUN tests to delete and replace (old/file, old/dir/a, old/dir/b). Returns why it could not
// (busybox-static is not installed) or nullopt.
std::optional<std::string> write_busybox_rootfs(const std::filesystem::path& dir);

}  // namespace cbuild::test
