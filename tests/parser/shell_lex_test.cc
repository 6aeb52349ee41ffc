#include "parser/shell_lex.h"

#include <gtest/gtest.h>

#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/shared_data.h"

namespace cbuild::parser {
namespace {

using Words = std::vector<std::string>;

std::string trim(std::string_view text, std::string_view blanks = " \t\r\n\v\f") {
    const std::size_t first = text.find_first_not_of(blanks);
    if (first == std::string_view::npos) return {};
    const std::size_t last = text.find_last_not_of(blanks);
    return std::string(text.substr(first, last - first + 1));
}

Words split_lines(const std::string& text) {
    Words lines;
    std::istringstream in(text);
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

// The message of the ExpandError `expand` throws, or "no error: <result>".
template <typename F>
std::string error_of(F expand) {
    try {
        return "no error: " + expand();
    } catch (const ExpandError& error) {
        return error.what();
    }
}

Environment test_env(std::vector<std::string> entries) {
    return Environment::from_list(entries);
}

// ---------------------------------------------------------------------------------------------
// envVarTest (conformance README section 2): every A and U line, expanded as one word.

struct EnvVarCase {
    int line = 0;
    std::string input;
    std::string expected;  // "error" means expansion must fail
};

std::vector<EnvVarCase> load_env_var_cases() {
    std::vector<EnvVarCase> cases;
    std::string text;
    try {
        text = test::read_file(test::shared_dir() / "conformance/buildkit/shell/envVarTest");
    } catch (const Error&) {
        return cases;  // EnvVarFileHasAllApplicableLines reports it
    }
    int number = 0;
    for (const std::string& line : split_lines(text)) {
        ++number;
        if (line.starts_with('#') || trim(line).empty()) continue;
        std::vector<std::string> fields;
        std::size_t start = 0;
        for (std::size_t bar; (bar = line.find('|', start)) != std::string::npos; start = bar + 1)
            fields.push_back(trim(std::string_view(line).substr(start, bar - start)));
        fields.push_back(trim(std::string_view(line).substr(start)));
        if (fields.size() != 3) {
            cases.push_back({number, line, "<malformed line>"});
            continue;
        }
        if (fields[0] == "W") continue;  // Windows only: case-insensitive names
        cases.push_back({number, fields[1], fields[2]});
    }
    return cases;
}

class ShellLexEnvVarTest : public testing::TestWithParam<EnvVarCase> {};

TEST_P(ShellLexEnvVarTest, MatchesUpstream) {
    const EnvVarCase& c = GetParam();
    ASSERT_NE(c.expected, "<malformed line>") << "envVarTest:" << c.line << ": " << c.input;
    const Environment env = test_env({"PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="});
    const ShellLex lex('\\');
    if (c.expected == "error") {
        EXPECT_THROW(lex.process_word(c.input, env), ExpandError)
            << "envVarTest:" << c.line << ": " << c.input;
    } else {
        std::string got;
        EXPECT_NO_THROW(got = lex.process_word(c.input, env))
            << "envVarTest:" << c.line << ": " << c.input;
        EXPECT_EQ(got, c.expected) << "envVarTest:" << c.line << ": " << c.input;
    }
}

INSTANTIATE_TEST_SUITE_P(Conformance, ShellLexEnvVarTest,
                         testing::ValuesIn(load_env_var_cases()),
                         [](const testing::TestParamInfo<EnvVarCase>& case_info) {
                             return "line_" + std::to_string(case_info.param.line);
                         });

TEST(ShellLexTest, EnvVarFileHasAllApplicableLines) {
    const auto cases = load_env_var_cases();
    EXPECT_EQ(cases.size(), 228u);  // 226 A + 2 U
    int errors = 0;
    for (const auto& c : cases) errors += c.expected == "error";
    EXPECT_EQ(errors, 36);
}

// ---------------------------------------------------------------------------------------------
// wordsTest (README section 3): expansion with word splitting, normal mode.

struct WordsCase {
    int line = 0;
    std::string input;
    Words expected;
    Words env;
};

std::vector<WordsCase> load_words_cases() {
    std::vector<WordsCase> cases;
    std::string text;
    try {
        text = test::read_file(test::shared_dir() / "conformance/buildkit/shell/wordsTest");
    } catch (const Error&) {
        return cases;
    }
    Words env;
    int number = 0;
    for (const std::string& line : split_lines(text)) {
        ++number;
        if (line.starts_with('#')) continue;
        if (line.starts_with("ENV ")) {
            // The value keeps its trailing spaces: `ENV trailing=ab c   `.
            std::string definition = line.substr(4);
            definition.erase(0, definition.find_first_not_of(' '));
            env.push_back(definition);
            continue;
        }
        const std::size_t bar = line.find('|');
        WordsCase c{number, trim(line.substr(0, bar)), {}, env};
        std::string expected = line.substr(bar + 1);
        expected.erase(0, expected.find_first_not_of(' '));
        std::size_t start = 0;
        for (std::size_t comma; (comma = expected.find(',', start)) != std::string::npos;
             start = comma + 1)
            c.expected.push_back(expected.substr(start, comma - start));
        c.expected.push_back(expected.substr(start));
        cases.push_back(c);
    }
    return cases;
}

class ShellLexWordsTest : public testing::TestWithParam<WordsCase> {};

TEST_P(ShellLexWordsTest, MatchesUpstream) {
    const WordsCase& c = GetParam();
    const ShellLex lex('\\');
    Words got;
    try {
        got = lex.process_words(c.input, Environment::from_list(c.env));
    } catch (const ExpandError&) {
        got = {"error"};  // as upstream's harness records a failure
    }
    EXPECT_EQ(got, c.expected) << "wordsTest:" << c.line << ": " << c.input;
}

INSTANTIATE_TEST_SUITE_P(Conformance, ShellLexWordsTest, testing::ValuesIn(load_words_cases()),
                         [](const testing::TestParamInfo<WordsCase>& case_info) {
                             return "line_" + std::to_string(case_info.param.line);
                         });

TEST(ShellLexTest, WordsFileHasAllLines) {
    const auto cases = load_words_cases();
    ASSERT_EQ(cases.size(), 24u);
    EXPECT_EQ(cases.back().env.size(), 4u);
}

// ---------------------------------------------------------------------------------------------
// The basic operators.

TEST(ShellLexTest, DefaultWhenUnset) {
    const ShellLex lex;
    const Environment env = test_env({"SET=v", "EMPTY="});
    EXPECT_EQ(lex.process_word("${UNSET:-d}", env), "d");
    EXPECT_EQ(lex.process_word("${UNSET-d}", env), "d");
    EXPECT_EQ(lex.process_word("${EMPTY:-d}", env), "d");
    EXPECT_EQ(lex.process_word("${EMPTY-d}", env), "");
    EXPECT_EQ(lex.process_word("${SET:-d}", env), "v");
    EXPECT_EQ(lex.process_word("${UNSET:-a ${SET} \"q\" \\}}", env), "a v q }");
}

TEST(ShellLexTest, AlternativeWhenSet) {
    const ShellLex lex;
    const Environment env = test_env({"SET=v", "EMPTY="});
    EXPECT_EQ(lex.process_word("${SET:+alt}", env), "alt");
    EXPECT_EQ(lex.process_word("${EMPTY:+alt}", env), "");
    EXPECT_EQ(lex.process_word("${EMPTY+alt}", env), "alt");
    EXPECT_EQ(lex.process_word("${UNSET+alt}", env), "");
}

TEST(ShellLexTest, RequiredVariableMessages) {
    const ShellLex lex;
    const Environment env = test_env({"EMPTY="});
    EXPECT_EQ(error_of([&] { return lex.process_word("${N:?need it}", env); }),
              "failed to process \"${N:?need it}\": N: need it");
    EXPECT_EQ(error_of([&] { return lex.process_word("x${N?}", env); }),
              "failed to process \"x${N?}\": N: is not allowed to be unset");
    EXPECT_EQ(error_of([&] { return lex.process_word("${EMPTY:?}", env); }),
              "failed to process \"${EMPTY:?}\": EMPTY: is not allowed to be empty");
    EXPECT_EQ(lex.process_word("${EMPTY?}", env), "");
}

TEST(ShellLexTest, SyntaxErrorMessages) {
    const ShellLex lex;
    const Environment env;
    const auto error = [&](std::string_view word) {
        return error_of([&] { return lex.process_word(word, env); });
    };
    EXPECT_EQ(error("${}"), "failed to process \"${}\": syntax error: bad substitution");
    // Running out after the name reads Go's EOF rune, printed as U+FFFD.
    EXPECT_EQ(error("${a"),
              "failed to process \"${a\": unsupported modifier (\uFFFD) in substitution");
    EXPECT_EQ(error("${a:-b"), "failed to process \"${a:-b\": syntax error: missing '}'");
    EXPECT_EQ(error("${a/b"), "failed to process \"${a/b\": syntax error: missing '/' in ${}");
    EXPECT_EQ(error("${a:=b}"),
              "failed to process \"${a:=b}\": unsupported modifier (:=) in substitution");
    EXPECT_EQ(error("${a=b}"),
              "failed to process \"${a=b}\": unsupported modifier (=) in substitution");
    EXPECT_EQ(error("'x"),
              "failed to process \"'x\": unexpected end of statement while looking for matching "
              "single-quote");
    EXPECT_EQ(error("\"x\\\""),
              "failed to process \"\\\"x\\\\\\\"\": unexpected end of statement while looking for "
              "matching double-quote");
    // The word is quoted as Go's %q does.
    EXPECT_EQ(error("\t${}\x01\xff"),
              "failed to process \"\\t${}\\x01\\xff\": syntax error: bad substitution");
}

// ---------------------------------------------------------------------------------------------
// Pattern operators (README 2.3), from the rules; the upstream cases are held back.

TEST(ShellLexTest, RemovesShortestAndLongestPrefix) {
    const ShellLex lex;
    const Environment env = test_env({"F=file.tar.gz", "P=*."});
    EXPECT_EQ(lex.process_word("${F#*.}", env), "tar.gz");
    EXPECT_EQ(lex.process_word("${F##*.}", env), "gz");
    EXPECT_EQ(lex.process_word("${F#file}", env), ".tar.gz");
    EXPECT_EQ(lex.process_word("${F#tar}", env), "file.tar.gz");  // anchored at the start
    EXPECT_EQ(lex.process_word("${F#?}", env), "ile.tar.gz");
    EXPECT_EQ(lex.process_word("${F#$P}", env), "tar.gz");  // variables in patterns expand
    EXPECT_EQ(lex.process_word("${F##$P}", env), "gz");
    EXPECT_EQ(lex.process_word("${F#}", env), "file.tar.gz");
    EXPECT_EQ(lex.process_word("${UNSET#*}", env), "");
}

TEST(ShellLexTest, RemovesShortestAndLongestSuffix) {
    const ShellLex lex;
    const Environment env = test_env({"F=file.tar.gz"});
    EXPECT_EQ(lex.process_word("${F%.*}", env), "file.tar");
    EXPECT_EQ(lex.process_word("${F%%.*}", env), "file");
    EXPECT_EQ(lex.process_word("${F%gz}", env), "file.tar.");
    EXPECT_EQ(lex.process_word("${F%tar}", env), "file.tar.gz");  // anchored at the end
    EXPECT_EQ(lex.process_word("${F%??}", env), "file.tar.");
    EXPECT_EQ(lex.process_word("${F%%*}", env), "");
    EXPECT_EQ(lex.process_word("${F%*}", env), "file.tar.gz");
}

TEST(ShellLexTest, ReplacesFirstAndAllMatches) {
    const ShellLex lex;
    const Environment env = test_env({"V=abcabc", "X=xaaay"});
    EXPECT_EQ(lex.process_word("${V/b/X}", env), "aXcabc");
    EXPECT_EQ(lex.process_word("${V//b/X}", env), "aXcaXc");
    EXPECT_EQ(lex.process_word("${V/b*/X}", env), "aX");  // leftmost, then longest
    EXPECT_EQ(lex.process_word("${X/a?a/-}", env), "x-y");
    EXPECT_EQ(lex.process_word("${V//?/-}", env), "------");
    EXPECT_EQ(lex.process_word("${V/z/X}", env), "abcabc");
    EXPECT_EQ(lex.process_word("${V/b/}", env), "acabc");
    EXPECT_EQ(lex.process_word("${V//c/$X}", env), "abxaaayabxaaay");
    // An empty pattern matches between every two runes, as Go's ReplaceAllString does.
    EXPECT_EQ(lex.process_word("${V///-}", test_env({"V=ab"})), "-a-b-");
}

TEST(ShellLexTest, PatternEscapesAndLiterals) {
    const ShellLex lex;
    const Environment env = test_env({"S=a*b?c\\d", "M=a.b+c(d)|[e]^$", "B=a}b/c"});
    EXPECT_EQ(lex.process_word("${S#a\\*}", env), "b?c\\d");
    EXPECT_EQ(lex.process_word("${S/\\?/Q}", env), "a*bQc\\d");
    EXPECT_EQ(lex.process_word("${S/\\\\/S}", env), "a*b?cSd");
    EXPECT_EQ(lex.process_word("${S%\\\\d}", env), "a*b?c");
    // Regular-expression characters are literal.
    EXPECT_EQ(lex.process_word("${M/./_}", env), "a_b+c(d)|[e]^$");
    EXPECT_EQ(lex.process_word("${M//[+()|^$]/_}", env), "a.b+c(d)|[e]^$");  // no classes
    EXPECT_EQ(lex.process_word("${M#a.b+c(d)|}", env), "[e]^$");
    // \} and \/ stand for } and /.
    EXPECT_EQ(lex.process_word("${B/\\}/_}", env), "a_b/c");
    EXPECT_EQ(lex.process_word("${B//\\//_}", env), "a}b_c");
    EXPECT_EQ(lex.process_word("${B%\\/c}", env), "a}b");
}

TEST(ShellLexTest, PatternErrors) {
    const ShellLex lex;
    const Environment env = test_env({"V=abc"});
    EXPECT_EQ(error_of([&] { return lex.process_word("${V/\\x/y}", env); }),
              "failed to process \"${V/\\\\x/y}\": invalid pattern (\\x) in substitution: "
              "invalid escape '\\x'");
    // The suffix operators report the pattern reversed, as upstream matches it reversed.
    EXPECT_EQ(error_of([&] { return lex.process_word("${V%a\\x}", env); }),
              "failed to process \"${V%a\\\\x}\": invalid pattern (\\xa) in substitution: "
              "invalid escape '\\x'");
    EXPECT_THROW(lex.process_word("${V#\\a}", env), ExpandError);
    EXPECT_EQ(error_of([&] { return lex.process_word("${V:#a}", env); }),
              "failed to process \"${V:#a}\": unsupported modifier (:#) in substitution");
    EXPECT_EQ(error_of([&] { return lex.process_word("${V:%a}", env); }),
              "failed to process \"${V:%a}\": unsupported modifier (:%) in substitution");
}

TEST(ShellLexTest, PatternWildcardsWorkOnRunesAndStopAtNewline) {
    const ShellLex lex;
    const Environment env = test_env({"K=한국어", "NL=ab\ncd"});
    EXPECT_EQ(lex.process_word("${K#?}", env), "국어");
    EXPECT_EQ(lex.process_word("${K%?}", env), "한국");
    EXPECT_EQ(lex.process_word("${K/국/-}", env), "한-어");
    // Go's `.` never matches a newline, so neither do `*` and `?`.
    EXPECT_EQ(lex.process_word("${NL##*}", env), "\ncd");
    EXPECT_EQ(lex.process_word("${NL%%*}", env), "ab\n");
    EXPECT_EQ(lex.process_word("${NL/b?c/-}", env), "ab\ncd");
    EXPECT_EQ(lex.process_word("${NL/b\nc/-}", env), "a-d");
}

TEST(ShellLexTest, ReplaceAllExpandsGoTemplate) {
    // Upstream hands the replacement to Go's ReplaceAllString, where `$0` is the match. The
    // shell lexer expands `$0` itself first, so only an escaped `\$0` reaches Go, backslash kept.
    const ShellLex lex;
    const Environment env = test_env({"V=abc"});
    EXPECT_EQ(lex.process_word("${V//b/<\\$0>}", env), "a<\\b>c");
    EXPECT_EQ(lex.process_word("${V/b/<\\$0>}", env), "a<\\$0>c");  // replace-first: verbatim
    EXPECT_EQ(lex.process_word("${V//b/\\$}", env), "a\\$c");
}

// ---------------------------------------------------------------------------------------------
// Names looked up.

TEST(ShellLexTest, RecordsMatchedAndUnmatchedNames) {
    const ShellLex lex;
    const Environment env = test_env({"A=", "C=c", "KOREAN=x"});
    const Expansion e = lex.process_word_with_matches("${A:-$B} $C ${D} $1 $. ${KOREAN%x}", env);
    EXPECT_EQ(e.word, " c   $. ");
    EXPECT_EQ(e.matched, (std::set<std::string>{"A", "C", "KOREAN"}));
    EXPECT_EQ(e.unmatched, (std::set<std::string>{"B", "D", "1"}));
    EXPECT_TRUE(e.words.empty());

    const Expansion w = lex.process_words_with_matches("$C ${E:-x y}", env);
    EXPECT_EQ(w.words, (Words{"c", "x", "y"}));
    EXPECT_EQ(w.word, "c x y");
    EXPECT_EQ(w.matched, (std::set<std::string>{"C"}));
    EXPECT_EQ(w.unmatched, (std::set<std::string>{"E"}));
}

TEST(ShellLexTest, UnicodeLettersFormNames) {
    const ShellLex lex;
    const Environment env = test_env({"변수=값", "x١=arabic-digit"});
    EXPECT_EQ(lex.process_word("[$변수]", env), "[값]");
    EXPECT_EQ(lex.process_word("$x١!", env), "arabic-digit!");
    const Expansion e = lex.process_word_with_matches("$변수수", env);
    EXPECT_EQ(e.unmatched, (std::set<std::string>{"변수수"}));
}

// ---------------------------------------------------------------------------------------------
// Word splitting beyond wordsTest.

TEST(ShellLexTest, SplitsUnquotedSubstitutionResults) {
    const ShellLex lex;
    const Environment env = test_env({"S=a  b", "NBSP=x\u00a0y"});
    EXPECT_EQ(lex.process_words("1${S}2 '${S}' \"\"", env), (Words{"1a", "b2", "${S}"}));
    EXPECT_EQ(lex.process_words("pre${UNSET:-p q}post", env), (Words{"prep", "qpost"}));
    EXPECT_EQ(lex.process_words("$NBSP", env), (Words{"x", "y"}));  // unicode.IsSpace
    EXPECT_EQ(lex.process_words("'' a ''", env), (Words{"a"}));
    EXPECT_EQ(lex.process_words("", env), Words{});
}

TEST(ShellLexTest, HeredocMarkerSticksToNextWord) {
    const ShellLex lex;
    const Environment env;
    EXPECT_EQ(lex.process_words("cat <<  EOF > x", env), (Words{"cat", "<<  EOF", ">", "x"}));
    EXPECT_EQ(lex.process_words("<<\tEOF a<b", env), (Words{"<<\tEOF", "a<b"}));
    EXPECT_EQ(lex.process_words("<<- EOF", env), (Words{"<<-", "EOF"}));
    EXPECT_EQ(lex.process_word("a <<  b", env), "a <<  b");
}

// ---------------------------------------------------------------------------------------------
// Raw mode: how the parser finds heredoc names.

TEST(ShellLexTest, RawModeKeepsQuotesEscapesAndUnsetVariables) {
    const ShellLex lex('\\', ExpandOptions{.raw_quotes = true, .raw_escapes = true,
                                           .skip_unset = true});
    const Environment env = test_env({"SET=v"});
    EXPECT_EQ(lex.process_words("RUN <<\"EOF\" <<'x'y 3<<-E\\'F a\\ b", env),
              (Words{"RUN", "<<\"EOF\"", "<<'x'y", "3<<-E\\'F", "a\\ b"}));
    EXPECT_EQ(lex.process_words("$UNSET ${UNSET} ${UNSET:-d} ${UNSET//a/b} $SET", env),
              (Words{"$UNSET", "${UNSET}", "${UNSET:-d}", "${UNSET/a/b}", "v"}));
    EXPECT_EQ(lex.process_word("\"a\\tb\" 'c\\d' e\\", env), "\"a\\\\tb\" 'c\\d' e\\");
    // Unsupported operators on unset names come back as written instead of failing.
    EXPECT_EQ(lex.process_word("${UNSET:=x}", env), "${UNSET:=x}");
    EXPECT_THROW(lex.process_word("${SET:=x}", env), ExpandError);
    EXPECT_THROW(lex.process_word("<<'EOF", env), ExpandError);
}

TEST(ShellLexTest, RawQuotesAloneKeepQuotesButExpand) {
    const ShellLex lex('\\', ExpandOptions{.raw_quotes = true});
    const Environment env = test_env({"A=1"});
    EXPECT_EQ(lex.process_word("\"$A\"'$A'\\x$B", env), "\"1\"'$A'x");
}

// ---------------------------------------------------------------------------------------------
// `# escape=`` ` ``

TEST(ShellLexTest, BacktickEscape) {
    const ShellLex lex('`');
    const Environment env = test_env({"A=1"});
    EXPECT_EQ(lex.process_word("C:\\path\\$A", env), "C:\\path\\1");
    EXPECT_EQ(lex.process_word("`$A`", env), "$A");
    EXPECT_EQ(lex.process_word("\"x`\"y``z`a\"", env), "x\"y`z`a");
    EXPECT_EQ(lex.process_word("${B:-`}}", env), "}");
    EXPECT_EQ(lex.process_words("a` b c", env), (Words{"a b", "c"}));
}

// ---------------------------------------------------------------------------------------------
// Environment

TEST(ShellLexTest, EnvironmentFromList) {
    const Environment env = Environment::from_list({"A=1", "BARE", "A=2", "C=x=y", "=z", "E="});
    EXPECT_EQ(env.get("A"), "2");  // the last duplicate wins
    EXPECT_EQ(env.get("BARE"), "");
    EXPECT_EQ(env.get("C"), "x=y");
    EXPECT_EQ(env.get(""), "z");
    EXPECT_EQ(env.get("E"), "");
    EXPECT_EQ(env.get("a"), std::nullopt);  // case-sensitive
    EXPECT_EQ(env.get("MISSING"), std::nullopt);
    EXPECT_EQ(env.entries().size(), 5u);
    EXPECT_EQ(ShellLex().process_word("$A$BARE${C}", env), "2x=y");
}

TEST(ShellLexTest, EnvironmentSetReplaces) {
    Environment env;
    env.set("X", "1");
    env.set("Y", "2");
    env.set("X", "3");
    ASSERT_NE(env.find("X"), nullptr);
    EXPECT_EQ(*env.find("X"), "3");
    EXPECT_EQ(env.find("Z"), nullptr);
    EXPECT_EQ(env.entries().front(), (std::pair<std::string, std::string>{"X", "3"}));
}

// ---------------------------------------------------------------------------------------------
// Bytes as Go's text/scanner reads them.

TEST(ShellLexTest, InvalidUtf8BecomesReplacementCharacter) {
    const ShellLex lex;
    const Environment env = test_env({"V=\xff"});
    EXPECT_EQ(lex.process_word("a\xff" "b", env), "a\uFFFD" "b");
    EXPECT_EQ(lex.process_word("\xEF\xBB\xBF" "abc", env), "abc");  // a leading BOM is skipped
    EXPECT_EQ(lex.process_word("$V", env), "\xff");  // variable values are copied as they are
    EXPECT_EQ(lex.process_words("$V", env), Words{"\uFFFD"});
}

// ---------------------------------------------------------------------------------------------
// Robustness

TEST(ShellLexTest, DeepNestingIsRefusedNotACrash) {
    const ShellLex lex;
    const Environment env;
    const auto nested = [](int depth) {
        std::string word;
        for (int i = 0; i < depth; ++i) word += "${a:-\"";
        word += "x";
        for (int i = 0; i < depth; ++i) word += "\"}";
        return word;
    };
    EXPECT_EQ(lex.process_word(nested(100), env), "x");
    const std::string too_deep = nested(101);
    const std::string message = error_of([&] { return lex.process_word(too_deep, env); });
    EXPECT_NE(message.find("nested more than 100"), std::string::npos) << message;
    // Far past the cap, and unterminated: still an error, not a stack overflow.
    std::string huge;
    for (int i = 0; i < 100000; ++i) huge += "${a:-";
    EXPECT_THROW(lex.process_words(huge, env), ExpandError);
    EXPECT_THROW(lex.process_word(nested(100000), env), ExpandError);
}

TEST(ShellLexTest, RandomInputNeverCrashes) {
    const std::string alphabet = "${}:-+?#%/\\'\"` \ta*<=!@1\xff\xc3\xa9\n";
    std::mt19937 random(42);
    const Environment env = test_env({"a=x y", "b=", "1=one"});
    const ShellLex lexes[] = {
        ShellLex('\\'), ShellLex('`'),
        ShellLex('\\', ExpandOptions{.raw_quotes = true, .raw_escapes = true, .skip_unset = true})};
    int expanded = 0;
    for (int i = 0; i < 20000; ++i) {
        std::string word;
        const int length = static_cast<int>(random() % 24);
        for (int j = 0; j < length; ++j) word += alphabet[random() % alphabet.size()];
        for (const ShellLex& lex : lexes) {
            try {
                lex.process_words_with_matches(word, env);
                lex.process_word(word, env);
                ++expanded;
            } catch (const ExpandError&) {
            }
        }
    }
    EXPECT_GT(expanded, 1000);
}

TEST(ShellLexTest, LongPatternInputsFinish) {
    const ShellLex lex;
    const Environment env = test_env({"V=" + std::string(20000, 'a') + "b"});
    // Quadratic-at-worst matching keeps this well inside the test timeout; a backtracking
    // matcher would not finish.
    EXPECT_EQ(lex.process_word("${V//a/}", env), "b");
    EXPECT_EQ(lex.process_word("${V%%a*}", env), "");
    EXPECT_EQ(lex.process_word("${V/*c/}", env), "a" + std::string(19999, 'a') + "b");
}

}  // namespace
}  // namespace cbuild::parser
