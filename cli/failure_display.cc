#include "cli/failure_display.h"

#include <algorithm>
#include <cstdio>
#include <vector>

namespace cbuild::cli {

namespace {

std::vector<std::string_view> split_lines(std::string_view text) {
    std::vector<std::string_view> lines;
    std::size_t start = 0;
    for (std::size_t newline; (newline = text.find('\n', start)) != std::string_view::npos; start = newline + 1)
        lines.push_back(text.substr(start, newline - start));
    if (start < text.size()) lines.push_back(text.substr(start));
    return lines;
}

// BuildKit's errdefs Source.Print: the marked range padded with context lines, four in all for
// a one-line instruction and two for a longer one, before it while there are lines before, and
// after it while there are lines after.
std::string context_box(const std::string& file, std::string_view dockerfile, int first, int last) {
    const std::vector<std::string_view> lines = split_lines(dockerfile);
    const int count = static_cast<int>(lines.size());
    if (first < 1 || first > count) return "";
    last = std::min(std::max(last, first), count);
    const int pad = first == last ? 4 : 2;
    int start = first;
    int end = last;
    for (int added = 0; added < pad;) {
        if (start > 1) {
            --start;
            ++added;
        }
        if (end != count) {
            ++end;
            ++added;
        }
        ++added;
    }
    std::string box = file + ":" + std::to_string(first) + "\n--------------------\n";
    for (int line = start; line <= end; ++line) {
        char number[16];
        std::snprintf(number, sizeof number, " %3d | ", line);
        box += number;
        box += line >= first && line <= last ? ">>> " : "    ";
        box += lines[static_cast<std::size_t>(line - 1)];
        box += "\n";
    }
    return box + "--------------------\n";
}

}  // namespace

std::string render_build_failure(const ParseError& error, std::string_view dockerfile, const FailedStep& step) {
    const std::string& message = error.message();
    const std::size_t newline = message.find('\n');
    const std::string headline = message.substr(0, newline);
    const std::string output = newline == std::string::npos ? "" : message.substr(newline + 1);
    std::string text;
    if (!step.description.empty()) {
        text += "------\n > " + step.description + ":\n" + output;
        if (!output.empty() && output.back() != '\n') text += "\n";
        text += "------\n";
    } else if (!output.empty()) {
        text += output + (output.back() == '\n' ? "" : "\n");
    }
    const std::string box = context_box(error.file(), dockerfile, error.line(), step.end_line);
    const std::string place = box.empty() && error.line() > 0 ? error.file() + ":" + std::to_string(error.line()) + ": " : "";
    return text + box + "ERROR: failed to solve: " + place + headline;
}

}  // namespace cbuild::cli
