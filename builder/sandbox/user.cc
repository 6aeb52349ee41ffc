#include "builder/sandbox/user.h"

#include <algorithm>
#include <limits>

#include "common/error.h"

namespace cbuild::builder {

namespace {

constexpr std::int64_t k_max_id = std::numeric_limits<std::int32_t>::max();  // moby/sys maxID

// The fields of one passwd or group line that GetExecUser looks at.
struct Entry {
    std::string name;
    std::int64_t id = 0;   // uid or gid
    std::int64_t gid = 0;  // passwd: the primary group
    std::string home;      // passwd
    std::vector<std::string> members;  // group
};

enum class GoIntStatus { ok, syntax, range };

// Go's strconv.Atoi on a 64-bit platform: an optional sign and decimal digits; out of range gives
// the clamped value.
std::pair<std::int64_t, GoIntStatus> go_atoi(std::string_view text) {
    bool negative = false;
    if (!text.empty() && (text[0] == '+' || text[0] == '-')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    if (text.empty()) return {0, GoIntStatus::syntax};
    std::uint64_t value = 0;
    bool overflow = false;
    for (const char c : text) {
        if (c < '0' || c > '9') return {0, GoIntStatus::syntax};
        if (value > (std::numeric_limits<std::uint64_t>::max() - 9) / 10) overflow = true;
        if (!overflow) value = value * 10 + static_cast<std::uint64_t>(c - '0');
    }
    const std::uint64_t limit = negative ? std::uint64_t{1} << 63 : (std::uint64_t{1} << 63) - 1;
    if (overflow || value > limit)
        return {negative ? std::numeric_limits<std::int64_t>::min() : std::numeric_limits<std::int64_t>::max(),
                GoIntStatus::range};
    return {negative ? static_cast<std::int64_t>(0 - value) : static_cast<std::int64_t>(value), GoIntStatus::ok};
}

std::string_view trim_space(std::string_view text) {
    const auto space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; };
    while (!text.empty() && space(text.front())) text.remove_prefix(1);
    while (!text.empty() && space(text.back())) text.remove_suffix(1);
    return text;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        const std::size_t end = text.find(separator, start);
        parts.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
        if (end == std::string_view::npos) return parts;
        start = end + 1;
    }
}

// moby/sys ParsePasswd / ParseGroup: lines (bufio.ScanLines drops a trailing \r) trimmed, blank
// ones skipped, and in group files comments too; unparsable numbers read as 0.
std::vector<Entry> parse_entries(const std::string& file, bool group) {
    std::vector<Entry> entries;
    for (std::string_view line : split(file, '\n')) {
        line = trim_space(line);
        if (line.empty() || (group && line.front() == '#')) continue;
        const std::vector<std::string_view> fields = split(line, ':');
        Entry entry;
        entry.name = fields[0];
        if (fields.size() > 2) entry.id = go_atoi(fields[2]).first;
        if (group) {
            if (fields.size() > 3 && !fields[3].empty())
                for (std::string_view member : split(fields[3], ',')) entry.members.emplace_back(member);
        } else {
            if (fields.size() > 3) entry.gid = go_atoi(fields[3]).first;
            if (fields.size() > 5) entry.home = fields[5];
        }
        entries.push_back(std::move(entry));
    }
    return entries;
}

// A user or group argument: a name, or a number matched against ids only (moby/sys userArg).
struct IdArg {
    std::string name;
    std::int64_t id = 0;
    bool numeric = false;
    bool matches(const Entry& entry) const { return numeric ? entry.id == id : entry.name == name; }
};

std::optional<IdArg> parse_id_arg(std::string_view text) {
    if (text.empty()) return std::nullopt;
    const auto [value, status] = go_atoi(text);
    if (status == GoIntStatus::range || (status == GoIntStatus::ok && (value < 0 || value > k_max_id)))
        throw Error("uids and gids must be in range 0-" + std::to_string(k_max_id));
    return IdArg{std::string(text), value, status == GoIntStatus::ok};
}

// BuildKit's ParseUIDGID fast path: both parts given, each "root" or a 32-bit unsigned number.
std::optional<std::uint32_t> parse_fast_id(std::string_view text) {
    if (text == "root") return 0;
    if (text.empty() || text.size() > 10 || text.find_first_not_of("0123456789") != std::string_view::npos)
        return std::nullopt;
    const std::uint64_t value = std::stoull(std::string(text));
    if (value > std::numeric_limits<std::uint32_t>::max()) return std::nullopt;
    return static_cast<std::uint32_t>(value);
}

// moby/sys GetExecUser with zero defaults.
ResolvedUser get_exec_user(std::string_view user_spec, const std::optional<std::string>& passwd,
                           const std::optional<std::string>& group) {
    const std::size_t colon = user_spec.find(':');
    const std::string_view user_text = user_spec.substr(0, colon);
    const std::string_view group_text = colon == std::string_view::npos ? std::string_view() : user_spec.substr(colon + 1);
    const std::optional<IdArg> user_arg = parse_id_arg(user_text);
    const std::optional<IdArg> group_arg = parse_id_arg(group_text);

    ResolvedUser user;
    std::string matched_name;
    const std::vector<Entry> users = passwd ? parse_entries(*passwd, false) : std::vector<Entry>();
    const auto found = std::find_if(users.begin(), users.end(), [&](const Entry& entry) {
        return user_arg ? user_arg->matches(entry) : entry.id == 0;
    });
    if (found != users.end()) {
        matched_name = found->name;
        user.uid = static_cast<std::uint32_t>(found->id);
        user.gid = static_cast<std::uint32_t>(found->gid);
    } else if (user_arg) {
        if (!user_arg->numeric)
            throw Error("unable to find user " + user_arg->name + ": no matching entries in passwd file");
        user.uid = static_cast<std::uint32_t>(user_arg->id);
    }
    if (!group_arg && matched_name.empty()) return user;

    const std::vector<Entry> groups = group ? parse_entries(*group, true) : std::vector<Entry>();
    if (group_arg) {
        const auto match = std::find_if(groups.begin(), groups.end(), [&](const Entry& g) { return group_arg->matches(g); });
        if (match != groups.end()) {
            user.gid = static_cast<std::uint32_t>(match->id);
        } else {
            if (!group_arg->numeric)
                throw Error("unable to find group " + group_arg->name + ": no matching entries in group file");
            user.gid = static_cast<std::uint32_t>(group_arg->id);
        }
        return user;
    }
    for (const Entry& g : groups)
        if (std::find(g.members.begin(), g.members.end(), matched_name) != g.members.end())
            user.additional_gids.push_back(static_cast<std::uint32_t>(g.id));
    return user;
}

// runc looks the final uid up in passwd again for HOME, with "/" as the default.
std::string home_of(std::uint32_t uid, const std::optional<std::string>& passwd) {
    if (passwd)
        for (const Entry& entry : parse_entries(*passwd, false))
            if (entry.id == uid) return entry.home;
    return "/";
}

}  // namespace

ResolvedUser resolve_user(std::string_view user_spec, const std::optional<std::string>& passwd,
                          const std::optional<std::string>& group) {
    // BuildKit resolves an empty USER as "0", falling back to plain root when that fails.
    const bool is_default = user_spec.empty();
    if (is_default) user_spec = "0";
    ResolvedUser user;
    const std::size_t colon = user_spec.find(':');
    const std::optional<std::uint32_t> fast_uid =
        colon == std::string_view::npos ? std::nullopt : parse_fast_id(user_spec.substr(0, colon));
    const std::optional<std::uint32_t> fast_gid =
        colon == std::string_view::npos ? std::nullopt : parse_fast_id(user_spec.substr(colon + 1));
    if (fast_uid && fast_gid) {
        user.uid = *fast_uid;
        user.gid = *fast_gid;
    } else {
        try {
            user = get_exec_user(user_spec, passwd, group);
        } catch (const Error&) {
            if (!is_default) throw;
            user = ResolvedUser();
        }
    }
    std::vector<std::uint32_t> additional;
    for (const std::uint32_t gid : user.additional_gids)
        if (gid != user.gid && std::find(additional.begin(), additional.end(), gid) == additional.end())
            additional.push_back(gid);
    user.additional_gids = std::move(additional);
    user.home = home_of(user.uid, passwd);
    return user;
}

}  // namespace cbuild::builder
