#pragma once
// Paths inside an image: `/`-separated, relative to the image root, with Go's path.Clean rules
// and the component order in which layers and walks list them. Shared by the file tree, the
// layer writer, COPY/ADD and the solver.

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cbuild::builder::internal {

// The non-empty components of a `/`-separated path ("a//b/" → {"a", "b"}).
std::vector<std::string> split_path(std::string_view path);

std::string join_path(const std::vector<std::string>& components);

// "a/b" + "c" → "a/b/c"; either may be empty (the root).
std::string join_path(std::string_view parent, std::string_view child);

// path.Clean("/" + path) without the leading `/`: `.` dropped, `..` climbing at most to the
// root ("../../x" → "x").
std::string clamp_path(std::string_view path);

// Like clamp_path, but nullopt when a `..` would climb above the root.
std::optional<std::string> clean_relative(std::string_view path);

std::string parent_path(std::string_view path);  // "a/b/c" → "a/b", "a" → ""
std::string base_name(std::string_view path);    // "a/b/c" → "c"

// Component-wise order ("a/b" < "a-b"): a directory sorts before its contents, siblings by
// name, as a walk lists them.
bool component_less(std::string_view a, std::string_view b);

}  // namespace cbuild::builder::internal
