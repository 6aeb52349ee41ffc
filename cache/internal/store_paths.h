#pragma once
// Where a content store lives and the names inside it (the layout is documented in
// cache/content_store.h).

#include <sys/types.h>

#include <filesystem>
#include <string_view>

namespace cbuild::cache {

inline constexpr std::string_view k_oci_layout_file = "oci-layout";
inline constexpr std::string_view k_index_file = "index.json";
inline constexpr std::string_view k_lock_file = "index.lock";
inline constexpr std::string_view k_blobs_dir = "blobs";
inline constexpr std::string_view k_ingest_dir = "ingest";

// The rule behind ContentStore::default_root(), apart from the process state it reads so that
// every branch can be tested: `euid` is the effective user id, `xdg_data_home` and `home` the
// environment values, null when unset. A relative or empty $XDG_DATA_HOME is ignored, as the
// XDG Base Directory spec says. Throws cbuild::Error when not root and neither gives a directory.
std::filesystem::path default_root_for(uid_t euid, const char* xdg_data_home, const char* home);

}  // namespace cbuild::cache
