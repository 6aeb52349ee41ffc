#include "registry/internal/curl_library.h"

#include <dlfcn.h>

#include <mutex>
#include <optional>
#include <string>

#include "common/error.h"

namespace cbuild::registry::internal {
namespace {

template <typename Function>
void resolve(void* library, const char* soname, const char* name, Function& function) {
    ::dlerror();
    void* symbol = ::dlsym(library, name);
    if (symbol == nullptr)
        throw Error(std::string("libcurl (") + soname + ") has no `" + name + "`");
    function = reinterpret_cast<Function>(symbol);
}

}  // namespace

CurlLibrary load_curl_library(const char* soname) {
    // Never closed: libcurl keeps global state (TLS engines) for the life of the process.
    void* library = ::dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (library == nullptr) {
        const char* why = ::dlerror();
        throw Error(std::string("cannot load ") + soname + ", which registry access needs (Debian package libcurl4): " +
                    (why ? why : "not found"));
    }
    CurlLibrary curl{};
    resolve(library, soname, "curl_global_init", curl.global_init);
    resolve(library, soname, "curl_easy_init", curl.easy_init);
    resolve(library, soname, "curl_easy_setopt", curl.easy_setopt);
    resolve(library, soname, "curl_easy_perform", curl.easy_perform);
    resolve(library, soname, "curl_easy_getinfo", curl.easy_getinfo);
    resolve(library, soname, "curl_easy_strerror", curl.easy_strerror);
    resolve(library, soname, "curl_easy_cleanup", curl.easy_cleanup);
    resolve(library, soname, "curl_slist_append", curl.slist_append);
    resolve(library, soname, "curl_slist_free_all", curl.slist_free_all);
    resolve(library, soname, "curl_getdate", curl.getdate);
    const CURLcode code = curl.global_init(CURL_GLOBAL_DEFAULT);
    if (code != CURLE_OK) throw Error(std::string("cannot initialise libcurl: ") + curl.easy_strerror(code));
    return curl;
}

const CurlLibrary& curl_library() {
    static std::mutex mutex;
    static std::optional<CurlLibrary> loaded;
    const std::lock_guard lock(mutex);
    if (!loaded) loaded = load_curl_library(k_curl_soname);
    return *loaded;
}

}  // namespace cbuild::registry::internal
