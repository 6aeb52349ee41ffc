#include "parser/internal/run_mount.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <optional>

#include "parser/internal/instruction_error.h"

namespace cbuild::parser::internal {

namespace {

const std::vector<std::string> k_mount_keys = {
    "type", "from", "source", "target", "readonly", "id",  "sharing", "required", "size", "mode",
    "uid",  "gid",  "src",    "dst",    "destination", "ro", "rw", "readwrite", "env"};

std::string lower(std::string_view text) {
    std::string out(text);
    for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string quote(std::string_view text) { return "\"" + std::string(text) + "\""; }

std::string_view type_name(MountType type) {
    switch (type) {
    case MountType::bind: return "bind";
    case MountType::cache: return "cache";
    case MountType::tmpfs: return "tmpfs";
    case MountType::secret: return "secret";
    case MountType::ssh: return "ssh";
    }
    return "";
}

std::optional<MountType> mount_type(std::string_view text) {
    for (MountType type : {MountType::bind, MountType::cache, MountType::tmpfs, MountType::secret,
                           MountType::ssh})
        if (text == type_name(type)) return type;
    return std::nullopt;
}

// Go's strconv.ParseBool.
std::optional<bool> parse_bool(std::string_view text) {
    if (text == "1" || text == "t" || text == "T" || text == "TRUE" || text == "true" ||
        text == "True")
        return true;
    if (text == "0" || text == "f" || text == "F" || text == "FALSE" || text == "false" ||
        text == "False")
        return false;
    return std::nullopt;
}

// Go's strconv.ParseUint(text, base, 32) for base 8 or 10.
std::optional<std::uint32_t> parse_uint32(std::string_view text, int base) {
    if (text.empty()) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : text) {
        if (c < '0' || c >= '0' + base) return std::nullopt;
        value = value * static_cast<std::uint64_t>(base) + static_cast<std::uint64_t>(c - '0');
        if (value > 0xFFFFFFFFu) return std::nullopt;
    }
    return static_cast<std::uint32_t>(value);
}

[[noreturn]] void fail(const std::string& message, std::string_view near) {
    throw InstructionError(message, std::string(near));
}

// The value-independent checks for a spec whose values are not known yet.
Mount parse_pending(const std::vector<std::string>& fields) {
    Mount mount;
    mount.pending = true;
    for (const std::string& field : fields) {
        const std::size_t equals = field.find('=');
        const std::string key = lower(field.substr(0, equals));
        if (equals == std::string::npos) {
            if (key != "readonly" && key != "ro" && key != "readwrite" && key != "rw" &&
                key != "required")
                fail("invalid field '" + field + "' must be a key=value pair", field);
            continue;
        }
        const std::string value = field.substr(equals + 1);
        bool known = false;
        for (const std::string& candidate : k_mount_keys) known = known || candidate == key;
        if (!known)
            fail("unexpected key '" + key + "' in '" + field + "'" +
                     suggestion(key, k_mount_keys, true),
                 field);
        if (key == "from") {
            // A stage reference must be static so the stage graph is known before expansion.
            const std::size_t dollar = value.find('$');
            if (dollar != std::string::npos && dollar != value.size() - 1)
                fail("'from' doesn't support variable expansion, define alias stage instead", field);
            mount.from = value;
        } else if (key == "source" || key == "src") {
            mount.source = value;
        } else if (key == "target" || key == "dst" || key == "destination") {
            mount.target = value;
        } else if (key == "id") {
            mount.cache_id = value;
        } else if (key == "env") {
            mount.env = value;
        }
    }
    return mount;
}

}  // namespace

std::vector<std::string> split_csv_fields(std::string_view text) {
    std::string_view line = text;
    while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
    if (line.empty()) throw InstructionError("failed to parse csv mounts: EOF");
    std::vector<std::string> fields;
    std::size_t pos = 0;
    while (true) {
        std::string field;
        if (pos < line.size() && line[pos] == '"') {
            ++pos;
            while (true) {
                if (pos >= line.size())
                    throw InstructionError(
                        "failed to parse csv mounts: extraneous or missing \" in quoted-field");
                if (line[pos] == '"') {
                    if (pos + 1 < line.size() && line[pos + 1] == '"') {
                        field += '"';
                        pos += 2;
                        continue;
                    }
                    ++pos;
                    break;
                }
                field += line[pos++];
            }
            if (pos < line.size() && line[pos] != ',')
                throw InstructionError(
                    "failed to parse csv mounts: extraneous or missing \" in quoted-field");
        } else {
            const std::size_t comma = line.find(',', pos);
            field = std::string(line.substr(pos, comma == std::string_view::npos ? line.size() - pos
                                                                               : comma - pos));
            if (field.find('"') != std::string::npos)
                throw InstructionError("failed to parse csv mounts: bare \" in non-quoted-field");
            pos += field.size();
        }
        fields.push_back(std::move(field));
        if (pos >= line.size()) return fields;
        ++pos;  // ','
    }
}

std::int64_t parse_ram_in_bytes(std::string_view text) {
    const auto invalid = [&]() { return InstructionError("invalid size: '" + std::string(text) + "'"); };
    // ^(\d+(\.\d+)*) ?([kKmMgGtTpP])?[iI]?[bB]?$
    std::size_t pos = 0;
    const auto digits = [&]() {
        const std::size_t start = pos;
        while (pos < text.size() && std::isdigit(static_cast<unsigned char>(text[pos]))) ++pos;
        return pos > start;
    };
    if (!digits()) throw invalid();
    while (pos + 1 < text.size() && text[pos] == '.' &&
           std::isdigit(static_cast<unsigned char>(text[pos + 1]))) {
        ++pos;
        digits();
    }
    const std::string number(text.substr(0, pos));
    if (std::count(number.begin(), number.end(), '.') > 1) throw invalid();  // ParseFloat fails
    if (pos < text.size() && text[pos] == ' ') ++pos;
    double multiplier = 1;
    if (pos < text.size()) {
        const std::string_view units = "kmgtp";
        const std::size_t unit = units.find(static_cast<char>(std::tolower(static_cast<unsigned char>(text[pos]))));
        if (unit != std::string_view::npos) {
            multiplier = std::pow(1024.0, static_cast<double>(unit + 1));
            ++pos;
        }
    }
    if (pos < text.size() && (text[pos] == 'i' || text[pos] == 'I')) ++pos;
    if (pos < text.size() && (text[pos] == 'b' || text[pos] == 'B')) ++pos;
    if (pos != text.size()) throw invalid();
    return static_cast<std::int64_t>(std::stod(number) * multiplier);
}

Mount parse_mount(std::string_view spec, WordExpander* expander) {
    const std::vector<std::string> fields = split_csv_fields(spec);
    if (expander == nullptr && spec.find('$') != std::string_view::npos) return parse_pending(fields);

    Mount mount;
    bool read_only_auto = true;
    for (const std::string& field : fields) {
        const std::size_t equals = field.find('=');
        const std::string key = lower(field.substr(0, equals));
        const std::string_view type = type_name(mount.type);
        if (equals == std::string::npos) {
            if (key == "readonly" || key == "ro") {
                mount.read_only = true;
                read_only_auto = false;
            } else if (key == "readwrite" || key == "rw") {
                mount.read_only = false;
                read_only_auto = false;
            } else if (key == "required") {
                if (mount.type != MountType::secret && mount.type != MountType::ssh)
                    fail("unexpected key '" + key + "' for mount type '" + std::string(type) + "'",
                         field);
                mount.required = true;
            } else {
                fail("invalid field '" + field + "' must be a key=value pair", field);
            }
            continue;
        }

        const std::string value =
            expander != nullptr ? expander->word(field.substr(equals + 1)) : field.substr(equals + 1);
        const auto bad_value = [&]() { fail("invalid value for " + key + ": " + value, field); };
        if (key == "type") {
            const std::optional<MountType> parsed = mount_type(lower(value));
            if (!parsed) {
                std::vector<std::string> names = {"bind", "cache", "tmpfs", "secret", "ssh"};
                fail("unsupported mount type " + quote(value) + suggestion(value, names, true), field);
            }
            mount.type = *parsed;
        } else if (key == "from") {
            mount.from = value;
        } else if (key == "source" || key == "src") {
            mount.source = value;
        } else if (key == "target" || key == "dst" || key == "destination") {
            mount.target = value;
        } else if (key == "readonly" || key == "ro" || key == "readwrite" || key == "rw") {
            const std::optional<bool> parsed = parse_bool(value);
            if (!parsed) bad_value();
            mount.read_only = (key == "readonly" || key == "ro") ? *parsed : !*parsed;
            read_only_auto = false;
        } else if (key == "required") {
            if (mount.type != MountType::secret && mount.type != MountType::ssh)
                fail("unexpected key '" + key + "' for mount type '" + std::string(type) + "'", field);
            const std::optional<bool> parsed = parse_bool(value);
            if (!parsed) bad_value();
            mount.required = *parsed;
        } else if (key == "size") {
            if (mount.type != MountType::tmpfs)
                fail("unexpected key '" + key + "' for mount type '" + std::string(type) + "'", field);
            try {
                mount.size_limit = parse_ram_in_bytes(value);
            } catch (const InstructionError&) {
                bad_value();
            }
        } else if (key == "id") {
            mount.cache_id = value;
        } else if (key == "sharing") {
            const std::string sharing = lower(value);
            if (sharing == "shared") mount.sharing = CacheSharing::shared;
            else if (sharing == "private") mount.sharing = CacheSharing::private_;
            else if (sharing == "locked") mount.sharing = CacheSharing::locked;
            else
                fail("unsupported sharing value " + quote(value) +
                         suggestion(value, {"shared", "private", "locked"}, true),
                     field);
        } else if (key == "mode" || key == "uid" || key == "gid") {
            const std::optional<std::uint32_t> parsed = parse_uint32(value, key == "mode" ? 8 : 10);
            if (!parsed) fail("invalid value " + value + " for " + key, field);
            (key == "mode" ? mount.mode : key == "uid" ? mount.uid : mount.gid) = *parsed;
        } else if (key == "env") {
            mount.env = value;
        } else {
            fail("unexpected key '" + key + "' in '" + field + "'" +
                     suggestion(key, k_mount_keys, true),
                 field);
        }
    }

    const std::string type(type_name(mount.type));
    const bool file_info_allowed = mount.type == MountType::secret ||
                                   mount.type == MountType::ssh || mount.type == MountType::cache;
    if (!file_info_allowed) {
        if (mount.mode) fail("mode not allowed for " + quote(type) + " type mounts", "mode=");
        if (mount.uid) fail("uid not allowed for " + quote(type) + " type mounts", "uid=");
        if (mount.gid) fail("gid not allowed for " + quote(type) + " type mounts", "gid=");
    }
    if (read_only_auto)
        mount.read_only = !(mount.type == MountType::cache || mount.type == MountType::tmpfs);
    if (mount.type == MountType::secret) {
        if (!mount.from.empty()) fail("secret mount should not have a from", "from=");
        if (mount.sharing) fail("secret mount should not define sharing", "sharing=");
        if (mount.source.empty() && mount.target.empty() && mount.cache_id.empty())
            fail("invalid secret mount. one of source, target required", "");
        if (!mount.source.empty() && !mount.cache_id.empty())
            fail("both source and id can't be set", "");
    }
    if (mount.sharing && mount.type != MountType::cache)
        fail("invalid cache sharing set for " + type + " mount", "sharing=");
    return mount;
}

NetworkMode parse_network(std::string_view text) {
    if (text == "default") return NetworkMode::default_;
    if (text == "none") return NetworkMode::none;
    if (text == "host") return NetworkMode::host;
    throw InstructionError("invalid network mode " + quote(text) +
                               suggestion(std::string(text), {"default", "none", "host"}, true),
                           "--network");
}

SecurityMode parse_security(std::string_view text) {
    if (text == "sandbox") return SecurityMode::sandbox;
    if (text == "insecure") return SecurityMode::insecure;
    throw InstructionError("security " + quote(text) + " is not valid", "--security");
}

}  // namespace cbuild::parser::internal
