#pragma once
// Byte counts for people, in the decimal units docker and BuildKit print ("17B", "1.2MB").

#include <cstdint>
#include <cstdio>
#include <iterator>
#include <string>

namespace cbuild::cli {

// `bytes` below 1 kB as a whole number ("17B"); larger counts scaled by 1000 per unit and
// printed with `scaled_format`, a printf format of one double: "%.1f" for BuildKit's progress
// ("532.0kB"), "%.3g" for `docker images` ("1.23GB"), "%.4g" for go-units' HumanSize
// ("1.235GB").
inline std::string human_size(std::uint64_t bytes, const char* scaled_format) {
    if (bytes < 1000) return std::to_string(bytes) + "B";
    static constexpr const char* k_units[] = {"kB", "MB", "GB", "TB", "PB", "EB"};
    double value = static_cast<double>(bytes) / 1000;
    std::size_t unit = 0;
    while (value >= 1000 && unit + 1 < std::size(k_units)) {
        value /= 1000;
        ++unit;
    }
    char text[40];
    std::snprintf(text, sizeof text, scaled_format, value);
    return text + std::string(k_units[unit]);
}

}  // namespace cbuild::cli
