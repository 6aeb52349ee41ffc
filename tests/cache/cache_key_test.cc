#include "cache/cache_key.h"

#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace cbuild::cache {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// A typical RUN step, the baseline the tests vary one field of.
CacheKeyBuilder run_step() {
    CacheKeyBuilder key;
    key.add("op", "run")
        .add("parent", sha256_of("parent").to_string())
        .add_list("argv", {"/bin/sh", "-c", "apt-get update"})
        .add_list("env", {"PATH=/usr/bin", "DEBIAN_FRONTEND=noninteractive"})
        .add("workdir", "/");
    return key;
}

TEST(CacheKeyBuilderTest, SameInputsSameDigest) {
    EXPECT_EQ(run_step().finish(), run_step().finish());
    const CacheKeyBuilder key = run_step();
    EXPECT_EQ(key.finish(), key.finish());  // finish() does not consume
    EXPECT_EQ(key.finish().algorithm(), "sha256");
}

TEST(CacheKeyBuilderTest, EmptyKeyIsTheHashOfTheHeader) {
    EXPECT_EQ(CacheKeyBuilder().finish(),
              sha256_of(std::string_view("cbuild-cache-key-v1\0", 20)));
}

// Pins the on-disk format documented in cache_key.h: a change here invalidates every cache.
TEST(CacheKeyBuilderTest, DigestIsTheDocumentedEncoding) {
    CacheKeyBuilder key;
    key.add("from", "ubuntu:22.04").add_list("cmd", {"sh", "-c ls"}).add_list("none", {});
    const std::string encoded = std::string("cbuild-cache-key-v1\0", 20) +
                                "S4:from12:ubuntu:22.04" +
                                "L3:cmd2:2:sh5:-c ls" +
                                "L4:none0:";
    EXPECT_EQ(key.finish(), sha256_of(encoded));
}

TEST(CacheKeyBuilderTest, FramingPreventsCollisions) {
    const auto digest = [](const CacheKeyBuilder& key) { return key.finish(); };
    // The brief's example: one argument with a space vs two arguments.
    EXPECT_NE(digest(CacheKeyBuilder().add_list("argv", {"a b"})),
              digest(CacheKeyBuilder().add_list("argv", {"a", "b"})));
    EXPECT_NE(digest(CacheKeyBuilder().add_list("argv", {"ab", ""})),
              digest(CacheKeyBuilder().add_list("argv", {"a", "b"})));
    EXPECT_NE(digest(CacheKeyBuilder().add_list("argv", {""})),
              digest(CacheKeyBuilder().add_list("argv", {})));
    // Where the field name ends and the value starts.
    EXPECT_NE(digest(CacheKeyBuilder().add("ab", "c")), digest(CacheKeyBuilder().add("a", "bc")));
    // Two fields vs one field whose value looks like an encoded second field.
    EXPECT_NE(digest(CacheKeyBuilder().add("a", "x").add("b", "y")),
              digest(CacheKeyBuilder().add("a", "x").add("b", "y1:z")));
    EXPECT_NE(digest(CacheKeyBuilder().add("a", "1:xS1:b1:y")),
              digest(CacheKeyBuilder().add("a", "1:x").add("b", "y")));
    // A scalar is not a one-element list, and an empty value is not an absent field.
    EXPECT_NE(digest(CacheKeyBuilder().add("a", "x")),
              digest(CacheKeyBuilder().add_list("a", {"x"})));
    EXPECT_NE(digest(CacheKeyBuilder().add("a", "")), digest(CacheKeyBuilder()));
    // A list element cannot spill into the next field.
    EXPECT_NE(digest(CacheKeyBuilder().add_list("a", {"x", "y"}).add("b", "z")),
              digest(CacheKeyBuilder().add_list("a", {"x"}).add("y", "").add("b", "z")));
    // Bytes that often act as delimiters are ordinary data.
    EXPECT_NE(digest(CacheKeyBuilder().add("a", std::string("x\0y", 3))),
              digest(CacheKeyBuilder().add("a", "x").add("y", "")));
}

TEST(CacheKeyBuilderTest, OrderMatters) {
    EXPECT_NE(CacheKeyBuilder().add("a", "1").add("b", "2").finish(),
              CacheKeyBuilder().add("b", "2").add("a", "1").finish());
    EXPECT_NE(CacheKeyBuilder().add_list("argv", {"x", "y"}).finish(),
              CacheKeyBuilder().add_list("argv", {"y", "x"}).finish());
}

TEST(CacheKeyBuilderTest, InputsKeepTheFieldsInOrder) {
    const CacheKeyBuilder key = run_step();
    const std::vector<CacheKeyInput>& inputs = key.inputs();
    ASSERT_EQ(inputs.size(), 5u);
    EXPECT_EQ(inputs[0].field, "op");
    EXPECT_EQ(inputs[0].kind, CacheKeyInput::Kind::scalar);
    EXPECT_THAT(inputs[0].values, ElementsAre("run"));
    EXPECT_EQ(inputs[2].field, "argv");
    EXPECT_EQ(inputs[2].kind, CacheKeyInput::Kind::list);
    EXPECT_THAT(inputs[2].values, ElementsAre("/bin/sh", "-c", "apt-get update"));
    EXPECT_EQ(inputs[4].field, "workdir");
}

TEST(CacheKeyBuilderTest, ValueTextIsQuotedAndEscaped) {
    CacheKeyBuilder key;
    key.add("s", "a \"b\" \\ c")
        .add("ctl", std::string("x\ny\t\x01\x7f", 6))
        .add("utf8", "caf\xc3\xa9")
        .add_list("l", {"a b", ""})
        .add_list("empty", {});
    const std::vector<CacheKeyInput>& inputs = key.inputs();
    EXPECT_EQ(inputs[0].value_text(), R"("a \"b\" \\ c")");
    EXPECT_EQ(inputs[1].value_text(), R"("x\ny\t\x01\x7f")");
    EXPECT_EQ(inputs[2].value_text(), "\"caf\xc3\xa9\"");
    EXPECT_EQ(inputs[3].value_text(), R"(["a b", ""])");
    EXPECT_EQ(inputs[4].value_text(), "[]");
}

TEST(ExplainDifferenceTest, EqualKeysExplainNothing) {
    EXPECT_THAT(explain_difference(run_step(), run_step()), IsEmpty());
    EXPECT_THAT(explain_difference(CacheKeyBuilder(), CacheKeyBuilder()), IsEmpty());
}

TEST(ExplainDifferenceTest, ListsExactlyTheChangedField) {
    CacheKeyBuilder after;
    after.add("op", "run")
        .add("parent", sha256_of("parent").to_string())
        .add_list("argv", {"/bin/sh", "-c", "apt-get update && apt-get install -y curl"})
        .add_list("env", {"PATH=/usr/bin", "DEBIAN_FRONTEND=noninteractive"})
        .add("workdir", "/");
    ASSERT_NE(run_step().finish(), after.finish());
    EXPECT_THAT(explain_difference(run_step(), after),
                ElementsAre(R"(changed argv: ["/bin/sh", "-c", "apt-get update"] -> )"
                            R"(["/bin/sh", "-c", "apt-get update && apt-get install -y curl"])"));
}

TEST(ExplainDifferenceTest, ListsAddedAndRemovedFields) {
    CacheKeyBuilder before;
    before.add("op", "copy").add("chown", "1000:1000").add("src", "a");
    CacheKeyBuilder after;
    after.add("op", "copy").add("src", "a").add("chmod", "755");
    EXPECT_THAT(explain_difference(before, after),
                ElementsAre(R"(removed chown: "1000:1000")", R"(added chmod: "755")"));
}

TEST(ExplainDifferenceTest, ReportsAReorderTheFieldLinesCannotShow) {
    CacheKeyBuilder before;
    before.add("a", "1").add("b", "2").add("c", "3");
    CacheKeyBuilder after;
    after.add("b", "2").add("a", "1").add("c", "3");
    EXPECT_THAT(explain_difference(before, after), ElementsAre("reordered: a, b, c -> b, a, c"));
}

TEST(ExplainDifferenceTest, KindChangeIsAChange) {
    EXPECT_THAT(explain_difference(CacheKeyBuilder().add("cmd", "ls"),
                                   CacheKeyBuilder().add_list("cmd", {"ls"})),
                ElementsAre(R"(changed cmd: "ls" -> ["ls"])"));
}

TEST(ExplainDifferenceTest, RepeatedFieldsPairByOccurrence) {
    CacheKeyBuilder before;
    before.add("src", "a").add("src", "b");
    CacheKeyBuilder after;
    after.add("src", "a").add("src", "c").add("src", "d");
    EXPECT_THAT(explain_difference(before, after),
                ElementsAre(R"(changed src#2: "b" -> "c")", R"(added src#3: "d")"));
}

}  // namespace
}  // namespace cbuild::cache
