// `cbuild prune` and `cbuild du`: the build cache's garbage collection and disk usage, with
// docker's spellings (`docker builder prune`, `docker buildx du`): its size units, durations and
// output.

#include <boost/program_options.hpp>
#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <optional>
#include <string>

#include "cache/gc.h"
#include "cli/command_line.h"
#include "cli/commands.h"
#include "cli/human_size.h"
#include "common/error.h"

namespace cbuild::cli {

namespace {

namespace po = boost::program_options;

// go-units HumanSize: decimal units, four significant digits ("1.235GB", "0B").
std::string human_size(std::uint64_t bytes) { return cli::human_size(bytes, "%.4g"); }

// go-units HumanDuration, as docker prints "last used".
std::string human_duration(std::int64_t seconds) {
    const std::int64_t minutes = seconds / 60;
    const auto hours = static_cast<std::int64_t>(static_cast<double>(seconds) / 3600 + 0.5);
    if (seconds < 1) return "Less than a second";
    if (seconds == 1) return "1 second";
    if (seconds < 60) return std::to_string(seconds) + " seconds";
    if (minutes == 1) return "About a minute";
    if (minutes < 60) return std::to_string(minutes) + " minutes";
    if (hours == 1) return "About an hour";
    if (hours < 48) return std::to_string(hours) + " hours";
    if (hours < 24 * 7 * 2) return std::to_string(hours / 24) + " days";
    if (hours < 24 * 30 * 2) return std::to_string(hours / 24 / 7) + " weeks";
    if (hours < 24 * 365 * 2) return std::to_string(hours / 24 / 30) + " months";
    return std::to_string(seconds / 3600 / 24 / 365) + " years";
}

// docker's --keep-storage (go-units RAMInBytes): a decimal number, an optional space, then an
// optional k/m/g/t/p with optional i and b, any case; binary multiples, so 1.5g is 1.5 GiB.
std::uint64_t parse_size(const std::string& text) {
    const UsageError invalid("invalid size `" + text + "` (expected e.g. 10GB, 512MB, 1.5g)");
    std::size_t at = 0;
    const auto digits = [&] {
        const std::size_t start = at;
        while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) ++at;
        return at > start;
    };
    if (!digits()) throw invalid;
    if (at < text.size() && text[at] == '.') {
        ++at;
        if (!digits()) throw invalid;
    }
    const double number = std::stod(text.substr(0, at));
    if (at < text.size() && text[at] == ' ') ++at;
    static constexpr std::string_view k_prefixes = "kmgtp";
    double multiplier = 1;
    if (at < text.size()) {
        const std::size_t prefix = k_prefixes.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[at]))));
        if (prefix != std::string_view::npos) {
            multiplier = std::pow(1024.0, static_cast<double>(prefix + 1));
            ++at;
        }
    }
    if (at < text.size() && (text[at] == 'i' || text[at] == 'I')) ++at;
    if (at < text.size() && (text[at] == 'b' || text[at] == 'B')) ++at;
    const double bytes = number * multiplier;
    if (at != text.size() || bytes >= 18e18) throw invalid;
    return static_cast<std::uint64_t>(bytes);
}

// A Go duration (time.ParseDuration) such as 24h, 30m, 1h30m or 1.5h, in whole seconds.
std::chrono::seconds parse_duration(const std::string& text) {
    const UsageError invalid("invalid duration `" + text + "` (expected e.g. 24h, 30m, 10s)");
    if (text == "0") return std::chrono::seconds(0);
    struct Unit {
        std::string_view name;
        double seconds;
    };
    // Longest names first, so "ms" is not read as "m" then "s".
    static constexpr Unit k_units[] = {{"ns", 1e-9}, {"us", 1e-6}, {"µs", 1e-6}, {"μs", 1e-6}, {"ms", 1e-3},
                                       {"s", 1},     {"m", 60},    {"h", 3600}};
    double total = 0;
    std::size_t at = 0;
    if (text.empty()) throw invalid;
    while (at < text.size()) {
        const std::size_t start = at;
        while (at < text.size() && (std::isdigit(static_cast<unsigned char>(text[at])) || text[at] == '.')) ++at;
        if (at == start || text.substr(start, at - start) == ".") throw invalid;
        const double number = std::stod(text.substr(start, at - start));
        const auto unit = std::find_if(std::begin(k_units), std::end(k_units),
                                       [&](const Unit& candidate) { return text.compare(at, candidate.name.size(), candidate.name) == 0; });
        if (unit == std::end(k_units)) throw invalid;
        at += unit->name.size();
        total += number * unit->seconds;
    }
    return std::chrono::seconds(static_cast<std::int64_t>(total));
}

// The --filter values: docker's KEY=VALUE, of which cbuild knows `until`.
std::optional<std::chrono::seconds> parse_filters(const std::vector<std::string>& filters) {
    std::optional<std::chrono::seconds> until;
    for (const std::string& filter : filters) {
        if (filter.rfind("until=", 0) != 0)
            throw UsageError("unsupported filter `" + filter + "` (cbuild knows until=DURATION)");
        until = parse_duration(filter.substr(6));
    }
    return until;
}

const char* kind_name(cache::UsageItem::Kind kind) {
    switch (kind) {
    case cache::UsageItem::Kind::cache_record: return "cache record";
    case cache::UsageItem::Kind::snapshot: return "snapshot";
    case cache::UsageItem::Kind::cache_mount: return "cache mount";
    }
    return "";
}

void print_items(std::vector<cache::UsageItem> items) {
    std::sort(items.begin(), items.end(), [](const auto& a, const auto& b) { return a.last_used > b.last_used; });
    const std::time_t now = std::time(nullptr);
    std::printf("%-14s %-13s %-10s %-20s %s\n", "ID", "TYPE", "SIZE", "LAST USED", "DESCRIPTION");
    for (const cache::UsageItem& item : items) {
        const std::size_t colon = item.id.find(':');
        const std::string id = item.id.substr(colon == std::string::npos ? 0 : colon + 1, 12);
        std::printf("%-14s %-13s %-10s %-20s %s\n", id.c_str(), kind_name(item.kind), human_size(item.bytes).c_str(),
                    (human_duration(now - item.last_used) + " ago").c_str(), item.description.c_str());
    }
    std::printf("\n");
}

}  // namespace

int run_prune(const Arguments& arguments, const GlobalOptions& globals) {
    po::options_description options("Options");
    options.add_options()
        ("all,a", "Remove every cache record, snapshot and cache mount, not only unreferenced data")
        ("keep-storage", po::value<std::string>(), "Remove the least recently used cache until the store is at most SIZE (e.g. 10GB)")
        ("filter", po::value<std::vector<std::string>>()->composing(), "until=DURATION: only what was last used longer ago (e.g. 24h)")
        ("dry-run", "Report what would be removed, remove nothing")
        ("force,f", "Do not ask for confirmation (cbuild never asks; accepted as docker does)")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "operand", 0);
    if (values.count("help")) {
        std::cout << "Usage: cbuild prune [OPTIONS]\n\nRemove build cache. Images the store tags are never touched.\n\n"
                  << options;
        return 0;
    }
    cache::PruneOptions prune_options;
    prune_options.all = values.count("all") > 0;
    prune_options.dry_run = values.count("dry-run") > 0;
    if (values.count("keep-storage")) prune_options.keep_storage = parse_size(values["keep-storage"].as<std::string>());
    prune_options.until = parse_filters(repeated(values, "filter"));
    const cache::PruneResult result = cache::prune(globals.store_root(), prune_options);
    if (prune_options.dry_run)
        std::cout << "Would remove " << result.records << " cache records, " << result.blobs << " blobs, "
                  << result.snapshots << " snapshots, " << result.cache_mounts << " cache mounts and "
                  << result.temporary << " leftovers\n";
    std::cout << "Total reclaimed space: " << human_size(result.bytes_freed) << "\n";
    return 0;
}

int run_du(const Arguments& arguments, const GlobalOptions& globals) {
    po::options_description options("Options");
    options.add_options()
        ("verbose,v", "Also list every cache record, snapshot and cache mount")
        ("help,h", "Print this help");
    const po::variables_map values = parse_command_line(arguments, options, "operand", 0);
    if (values.count("help")) {
        std::cout << "Usage: cbuild du [OPTIONS]\n\nShow the disk usage of the store and its build cache.\n\n" << options;
        return 0;
    }
    const cache::DiskUsage usage = cache::disk_usage(globals.store_root());
    if (values.count("verbose")) print_items(usage.items);
    const struct {
        const char* name;
        const cache::Usage& usage;
        bool reclaimable;
    } rows[] = {
        {"tagged blobs", usage.tagged_blobs, false},   {"cache blobs", usage.cache_blobs, true},
        {"unreferenced blobs", usage.unreferenced_blobs, true}, {"snapshots", usage.snapshots, true},
        {"cache mounts", usage.cache_mounts, true},    {"cache records", usage.cache_records, true},
        {"in progress", usage.temporary, true},
    };
    std::printf("%-20s %-8s %-10s %s\n", "TYPE", "COUNT", "SIZE", "RECLAIMABLE");
    for (const auto& row : rows)
        std::printf("%-20s %-8zu %-10s %s\n", row.name, row.usage.count, human_size(row.usage.bytes).c_str(),
                    human_size(row.reclaimable ? row.usage.bytes : 0).c_str());
    std::printf("Reclaimable:\t%s\nTotal:\t\t%s\n", human_size(usage.reclaimable_bytes()).c_str(),
                human_size(usage.total_bytes()).c_str());
    return 0;
}

}  // namespace cbuild::cli
