#pragma once
// Word splitting for ShellLex::process_words: BuildKit's wordsStruct. Unquoted whitespace
// (unicode.IsSpace) ends a word; quoted text and escaped characters are added "raw" and never
// split; a word made only of empty quotes is dropped.

#include <string>
#include <string_view>
#include <vector>

namespace cbuild::parser::internal {

class WordSplitter {
public:
    // One unquoted character: whitespace ends the current word, anything else extends it.
    void add_rune(char32_t code_point);
    // Unquoted ASCII text: add_rune for each byte, a span at a time.
    void add_ascii(std::string_view text);
    // The unquoted result of a substitution, split like literal text (bad UTF-8 → U+FFFD).
    void add_string(std::string_view text);
    // An escaped character: never splits.
    void add_raw_rune(char32_t code_point);
    // Quoted text and `<<` plus blanks. An empty string still marks a word as started.
    void add_raw_string(std::string_view text);

    // The words, the one in progress included when it is not empty.
    std::vector<std::string> finish();

private:
    std::string m_word;
    std::vector<std::string> m_words;
    bool m_in_word = false;
};

}  // namespace cbuild::parser::internal
