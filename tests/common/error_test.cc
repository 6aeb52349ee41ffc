#include "common/error.h"

#include <gtest/gtest.h>

#include <cerrno>

namespace cbuild {
namespace {

TEST(ParseErrorTest, WhatNamesFileAndLine) {
    const ParseError error("Dockerfile", 3, 0, "unknown instruction: FORM");
    EXPECT_STREQ(error.what(), "Dockerfile:3: unknown instruction: FORM");
    EXPECT_EQ(error.line(), 3);
    EXPECT_EQ(error.message(), "unknown instruction: FORM");
}

TEST(ParseErrorTest, RenderShowsSourceLineAndCaret) {
    const ParseError error("Dockerfile", 12, 6, "unknown flag: --frm", "COPY --frm=a b c");
    EXPECT_EQ(error.render(),
              "Dockerfile:12: unknown flag: --frm\n"
              " 12 | COPY --frm=a b c\n"
              "    |      ^");
}

TEST(ParseErrorTest, RenderWithoutColumnHasNoCaret) {
    const ParseError error("Dockerfile", 2, 0, "bad", "RUN x");
    EXPECT_EQ(error.render(), "Dockerfile:2: bad\n 2 | RUN x");
}

TEST(ParseErrorTest, UnknownLineGivesFileOnly) {
    const ParseError error(".dockerignore", 0, 0, "bad pattern");
    EXPECT_STREQ(error.what(), ".dockerignore: bad pattern");
    EXPECT_EQ(error.render(), ".dockerignore: bad pattern");
}

TEST(IoErrorTest, MessageNamesPathAndCause) {
    const IoError error("/tmp/x", "open", ENOENT);
    EXPECT_STREQ(error.what(), "`/tmp/x`: open: No such file or directory");
    EXPECT_EQ(error.error_number(), ENOENT);
}

}  // namespace
}  // namespace cbuild
