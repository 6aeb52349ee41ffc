#include "registry/internal/curl_library.h"

#include <link.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/error.h"

namespace cbuild::registry::internal {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

bool libcurl_is_mapped() {
    bool found = false;
    ::dl_iterate_phdr(
        [](struct dl_phdr_info* info, std::size_t, void* data) {
            if (std::string(info->dlpi_name).find("libcurl") != std::string::npos) *static_cast<bool*>(data) = true;
            return 0;
        },
        &found);
    return found;
}

// The reason it exists: nothing of libcurl is in the process until registry code asks for it.
TEST(CurlLibraryTest, LoadsOnFirstUseOnly) {
    EXPECT_FALSE(libcurl_is_mapped());
    const CurlLibrary& curl = curl_library();
    EXPECT_TRUE(libcurl_is_mapped());
    EXPECT_EQ(&curl, &curl_library());
    CURL* handle = curl.easy_init();
    ASSERT_NE(handle, nullptr);
    EXPECT_EQ(curl.easy_setopt(handle, CURLOPT_URL, "http://127.0.0.1:1/"), CURLE_OK);
    curl.easy_cleanup(handle);
    EXPECT_EQ(curl.getdate("Sun, 06 Nov 1994 08:49:37 GMT", nullptr), 784111777);
}

TEST(CurlLibraryTest, MissingLibraryIsNamed) {
    try {
        load_curl_library("libcurl-missing.so.4");
        FAIL() << "loaded a library that does not exist";
    } catch (const Error& error) {
        EXPECT_THAT(error.what(), AllOf(HasSubstr("cannot load libcurl-missing.so.4"), HasSubstr("libcurl4")));
    }
}

}  // namespace
}  // namespace cbuild::registry::internal
