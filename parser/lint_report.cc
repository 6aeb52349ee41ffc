// The check directive's options and the two ways a report is printed: `docker build --check`'s
// full report and the short list a build shows.

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <sstream>

#include "common/error.h"
#include "parser/ast.h"
#include "parser/lint.h"

namespace cbuild::parser {

CheckConfig parse_check_config(std::string_view value, const std::string& file, int line) {
    const auto trim = [](std::string_view text) {
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
        while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
        return std::string(text);
    };
    const auto names = [&](std::string_view list) {
        std::set<std::string> out;
        std::size_t start = 0;
        while (start <= list.size()) {
            const std::size_t comma = std::min(list.find(',', start), list.size());
            out.insert(trim(list.substr(start, comma - start)));
            start = comma + 1;
        }
        return out;
    };
    CheckConfig config;
    const std::string text = trim(value);
    if (text.empty()) return config;
    const auto fail = [&](const std::string& message) -> void {
        throw ParseError(file, line, 0, "failed to parse check options: " + message);
    };
    std::size_t start = 0;
    for (int part = 0; part < 3 && start <= text.size(); ++part) {
        // BuildKit splits into at most three parts: the last keeps any further `;`.
        const std::size_t end = part == 2 ? text.size() : std::min(text.find(';', start), text.size());
        const std::string field = text.substr(start, end - start);
        start = end + 1;
        const std::size_t equals = field.find('=');
        if (equals == std::string::npos) fail("invalid check option " + go_quote(field));
        const std::string key = trim(std::string_view(field).substr(0, equals));
        const std::string option = trim(std::string_view(field).substr(equals + 1));
        if (key == "skip") {
            if (option == "all") config.skip_all = true;
            else config.skip = names(std::string_view(field).substr(equals + 1));
        } else if (key == "experimental") {
            if (option == "all") config.experimental_all = true;
            else config.experimental = names(std::string_view(field).substr(equals + 1));
        } else if (key == "error") {
            static const std::set<std::string> k_true = {"1", "t", "T", "TRUE", "true", "True"};
            static const std::set<std::string> k_false = {"0", "f", "F", "FALSE", "false", "False"};
            if (k_true.count(option)) config.error = true;
            else if (k_false.count(option)) config.error = false;
            else fail("invalid boolean " + go_quote(option) + " in " + go_quote(field));
        } else {
            fail("invalid check option " + go_quote(key));
        }
    }
    return config;
}

std::string format_check_report(const LintReport& report, std::string_view bytes) {
    std::ostringstream out;
    const std::size_t count = report.warnings.size();
    if (count == 0) return "Check complete, no warnings found.\n";
    out << "Check complete, " << (count == 1 ? std::string("1 warning has been found!")
                                             : std::to_string(count) + " warnings have been found!")
        << "\n";
    std::vector<std::string_view> lines;
    for (std::size_t pos = 0; pos <= bytes.size();) {
        std::size_t end = std::min(bytes.find('\n', pos), bytes.size());
        std::string_view line = bytes.substr(pos, end - pos);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        lines.push_back(line);
        pos = end + 1;
    }
    for (const LintWarning& warning : report.warnings) {
        out << "\nWARNING: " << warning.rule << " - " << warning.url << "\n" << warning.message << "\n";
        out << warning.file << ":" << warning.start_line << "\n--------------------\n";
        for (int line = std::max(warning.start_line, 1); line <= warning.end_line && line <= static_cast<int>(lines.size()); ++line) {
            char number[16];
            std::snprintf(number, sizeof number, "%4d", line);
            out << number << " | >>> " << lines[static_cast<std::size_t>(line - 1)] << "\n";
        }
        out << "--------------------\n";
    }
    return out.str();
}

std::string format_build_warnings(const LintReport& report) {
    if (report.warnings.empty()) return {};
    std::ostringstream out;
    const std::size_t count = report.warnings.size();
    out << " " << count << (count == 1 ? " warning found" : " warnings found") << " (use --check to expand):\n";
    for (const LintWarning& warning : report.warnings)
        out << " - " << warning.rule << ": " << warning.message << " (" << warning.file << ":" << warning.start_line << ")\n";
    return out.str();
}

std::string lint_violation_message(const LintReport& report) {
    std::set<std::string> rules;
    for (const LintWarning& warning : report.warnings) rules.insert(warning.rule);
    std::string names;
    for (const std::string& rule : rules) names += (names.empty() ? "" : ", ") + rule;
    return "lint violation found for rules: " + names;
}

}  // namespace cbuild::parser
