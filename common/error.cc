#include "common/error.h"

#include <cstring>

namespace cbuild {

namespace {

std::string located_message(const std::string& file, int line, const std::string& message) {
    std::string out = file;
    if (line > 0) out += ":" + std::to_string(line);
    return out + ": " + message;
}

}  // namespace

ParseError::ParseError(std::string file, int line, int column, std::string message,
                       std::string source_line)
    : Error(located_message(file, line, message)),
      m_file(std::move(file)),
      m_line(line),
      m_column(column),
      m_message(std::move(message)),
      m_source_line(std::move(source_line)) {}

std::string ParseError::render() const {
    std::string out = what();
    if (m_line <= 0 || m_source_line.empty()) return out;
    out += "\n " + std::to_string(m_line) + " | " + m_source_line;
    if (m_column > 0) {
        const std::string gutter(std::to_string(m_line).size() + 2, ' ');
        // Tabs stay tabs so the caret lines up under the same terminal columns.
        std::string pad;
        for (int i = 0; i < m_column - 1 && i < static_cast<int>(m_source_line.size()); ++i)
            pad += m_source_line[i] == '\t' ? '\t' : ' ';
        out += "\n" + gutter + "| " + pad + "^";
    }
    return out;
}

IoError::IoError(std::string path, std::string what, int error_number)
    : Error("`" + path + "`: " + what + ": " + std::strerror(error_number)),
      m_path(std::move(path)),
      m_error_number(error_number) {}

}  // namespace cbuild
