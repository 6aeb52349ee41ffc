#pragma once
// libcurl, loaded on first use instead of linked. Linking it loads it and the 26 libraries it
// needs (GnuTLS, Kerberos, LDAP, libssh2, ...) at every start of cbuild, about 3 ms here, while
// most runs (a cached rebuild, an export to a file, prune) never speak HTTP. Only the functions
// the registry client calls are resolved; types and constants come from libcurl's own header.

#include <curl/curl.h>

namespace cbuild::registry::internal {

// The libcurl functions the registry client calls.
struct CurlLibrary {
    decltype(&::curl_global_init) global_init;
    decltype(&::curl_easy_init) easy_init;
    decltype(&::curl_easy_setopt) easy_setopt;
    decltype(&::curl_easy_perform) easy_perform;
    decltype(&::curl_easy_getinfo) easy_getinfo;
    decltype(&::curl_easy_strerror) easy_strerror;
    decltype(&::curl_easy_cleanup) easy_cleanup;
    decltype(&::curl_slist_append) slist_append;
    decltype(&::curl_slist_free_all) slist_free_all;
    decltype(&::curl_getdate) getdate;
};

// The soname the header above belongs to (libcurl's ABI has been version 4 since 2006).
inline constexpr const char* k_curl_soname = "libcurl.so.4";

// libcurl (k_curl_soname), loaded and globally initialised by the first call (thread-safe), the
// same one for every later call. Throws as load_curl_library, and tries again on the next call.
const CurlLibrary& curl_library();

// libcurl loaded from `soname` and globally initialised. Throws Error naming the library when it
// or one of its functions cannot be found.
CurlLibrary load_curl_library(const char* soname);

}  // namespace cbuild::registry::internal
