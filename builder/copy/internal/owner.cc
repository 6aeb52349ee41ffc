#include "builder/copy/internal/owner.h"

#include <limits>
#include <sstream>
#include <vector>

#include "builder/copy/copy.h"

namespace cbuild::builder::internal {

namespace {

// Big enough for any real passwd or group file; a bigger one is not a user database.
constexpr std::uint64_t k_max_database_size = 16 << 20;

// BuildKit's parseUID: `root`, or strconv.ParseUint(text, 10, 32).
std::optional<std::uint32_t> parse_id(const std::string& text) {
    if (text == "root") return 0;
    if (text.empty() || text.size() > 10) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return std::nullopt;
        value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

// runc's parseLine for an int field: Atoi, 0 when it fails.
std::uint32_t field_id(const std::vector<std::string>& fields, std::size_t index) {
    if (index >= fields.size()) return 0;
    return parse_id(fields[index]).value_or(0);
}

std::string trim(const std::string& text) {
    const std::size_t begin = text.find_first_not_of(" \t\r\n\v\f");
    if (begin == std::string::npos) return {};
    return text.substr(begin, text.find_last_not_of(" \t\r\n\v\f") - begin + 1);
}

// The fields of the first line of the colon-separated database `file` whose first field is
// `name` (runc's ParsePasswdFilter / ParseGroupFilter, first match wins).
std::vector<std::string> find_record(const FileTree& tree, const std::string& file, const std::string& name,
                                     const std::string& what) {
    const std::optional<std::string> content = tree.read_file(file, k_max_database_size);
    if (!content) throw CopyError(file, "unable to find " + what + " `" + name + "`: the file does not exist");
    std::istringstream lines(*content);
    for (std::string line; std::getline(lines, line);) {
        line = trim(line);
        if (line.empty()) continue;
        std::vector<std::string> fields;
        std::size_t start = 0;
        while (true) {
            const std::size_t colon = line.find(':', start);
            fields.push_back(line.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
            if (colon == std::string::npos) break;
            start = colon + 1;
        }
        if (fields[0] == name) return fields;
    }
    throw CopyError(file, "unable to find " + what + " `" + name + "`");
}

}  // namespace

std::optional<Owner> resolve_owner(const std::string& chown, const FileTree& tree) {
    if (chown.empty()) return std::nullopt;
    const std::size_t colon = chown.find(':');
    const std::string user = chown.substr(0, colon);
    Owner owner;
    if (const std::optional<std::uint32_t> id = parse_id(user)) {
        owner.uid = *id;
        owner.gid = *id;
    } else if (!user.empty()) {
        const std::vector<std::string> record = find_record(tree, "/etc/passwd", user, "user");
        owner.uid = field_id(record, 2);
        owner.gid = field_id(record, 3);
    }
    if (colon == std::string::npos) return owner;
    const std::string group = chown.substr(colon + 1);
    if (const std::optional<std::uint32_t> id = parse_id(group)) {
        owner.gid = *id;
    } else if (!group.empty()) {
        owner.gid = field_id(find_record(tree, "/etc/group", group, "group"), 2);
    }
    return owner;
}

}  // namespace cbuild::builder::internal
