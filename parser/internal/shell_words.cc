#include "parser/internal/shell_words.h"

#include "parser/internal/text.h"

namespace cbuild::parser::internal {

namespace {

bool is_ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

}  // namespace

void WordSplitter::add_rune(char32_t code_point) {
    if (!is_unicode_space(code_point)) {
        add_raw_rune(code_point);
    } else if (m_in_word && !m_word.empty()) {
        // Upstream leaves a started but empty word (after '') open: the flag stays set.
        m_words.push_back(std::move(m_word));
        m_word.clear();
        m_in_word = false;
    }
}

void WordSplitter::add_ascii(std::string_view text) {
    for (std::size_t i = 0; i < text.size();) {
        if (is_ascii_space(text[i])) {
            add_rune(static_cast<char32_t>(text[i]));
            ++i;
            continue;
        }
        std::size_t end = i;
        while (end < text.size() && !is_ascii_space(text[end])) ++end;
        m_word.append(text.substr(i, end - i));
        m_in_word = true;
        i = end;
    }
}

void WordSplitter::add_string(std::string_view text) {
    for (std::size_t pos = 0; pos < text.size();) {
        const Rune rune = decode_rune(text, pos);
        add_rune(rune.code_point);
        pos += rune.width;
    }
}

void WordSplitter::add_raw_rune(char32_t code_point) {
    append_utf8(m_word, code_point);
    m_in_word = true;
}

void WordSplitter::add_raw_string(std::string_view text) {
    m_word += text;
    m_in_word = true;
}

std::vector<std::string> WordSplitter::finish() {
    if (!m_word.empty()) m_words.push_back(std::move(m_word));
    m_word.clear();
    m_in_word = false;
    return std::move(m_words);
}

}  // namespace cbuild::parser::internal
