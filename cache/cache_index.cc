#include "cache/cache_index.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <ctime>
#include <system_error>

#include "cache/internal/cache_layout.h"
#include "cache/internal/file_io.h"
#include "cache/internal/framed_lines.h"
#include "common/atomic_file.h"
#include "common/error.h"

namespace cbuild::cache {

namespace {

constexpr std::string_view k_record_magic = "cbuild-cache-record 1";
constexpr std::string_view k_step_magic = "cbuild-step-key 1";
// Far above any real record (inputs are names and digests, not file contents); a bigger file is
// not one of ours.
constexpr std::size_t k_max_record_size = 64 << 20;

std::optional<Digest> key_from_file_name(std::string_view name) {
    const std::size_t dash = name.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    std::string text(name);
    text[dash] = ':';
    try {
        return Digest::parse(text);
    } catch (const DigestError&) {
        return std::nullopt;
    }
}

template <typename Number>
std::optional<Number> parse_number(std::string_view text) {
    Number value{};
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::string encode_record(const CacheRecord& record) {
    std::vector<FramedLine> lines = {
        {"key", {record.key.to_string()}},
        {"description", {record.description}},
        {"layer_media_type", {record.layer_media_type}},
        {"layer_digest", {record.layer_digest.to_string()}},
        {"layer_size", {std::to_string(record.layer_size)}},
        {"diff_id", {record.diff_id.to_string()}},
        {"history", {record.history_json}},
        {"created", {std::to_string(record.created)}},
    };
    for (const CacheKeyInput& input : record.inputs) {
        FramedLine line{input.kind == CacheKeyInput::Kind::scalar ? "scalar" : "list", {input.field}};
        line.values.insert(line.values.end(), input.values.begin(), input.values.end());
        lines.push_back(std::move(line));
    }
    return encode_framed_lines(k_record_magic, lines);
}

// The record in `text`, or nullopt when it is not a whole version-1 record of `key`.
std::optional<CacheRecord> decode_record(std::string_view text, const Digest& key) {
    const auto lines = decode_framed_lines(k_record_magic, text);
    constexpr std::string_view k_fixed[] = {"key",     "description", "layer_media_type", "layer_digest",
                                            "layer_size", "diff_id",  "history",          "created"};
    constexpr std::size_t k_fixed_count = std::size(k_fixed);
    if (!lines || lines->size() < k_fixed_count) return std::nullopt;
    for (std::size_t i = 0; i < k_fixed_count; ++i)
        if ((*lines)[i].name != k_fixed[i] || (*lines)[i].values.size() != 1) return std::nullopt;
    const auto value = [&](std::size_t i) -> const std::string& { return (*lines)[i].values[0]; };
    try {
        const auto size = parse_number<std::uint64_t>(value(4));
        const auto created = parse_number<std::int64_t>(value(7));
        if (Digest::parse(value(0)) != key || !size || !created) return std::nullopt;
        CacheRecord record{
            .key = key,
            .inputs = {},
            .description = value(1),
            .layer_media_type = value(2),
            .layer_digest = Digest::parse(value(3)),
            .layer_size = *size,
            .diff_id = Digest::parse(value(5)),
            .history_json = value(6),
            .created = *created,
        };
        for (std::size_t i = k_fixed_count; i < lines->size(); ++i) {
            const FramedLine& line = (*lines)[i];
            const bool scalar = line.name == "scalar";
            if (!scalar && line.name != "list") return std::nullopt;
            if (line.values.empty() || (scalar && line.values.size() != 2)) return std::nullopt;
            record.inputs.push_back(CacheKeyInput{
                .field = line.values[0],
                .kind = scalar ? CacheKeyInput::Kind::scalar : CacheKeyInput::Kind::list,
                .values = std::vector<std::string>(line.values.begin() + 1, line.values.end()),
            });
        }
        return record;
    } catch (const DigestError&) {
        return std::nullopt;
    }
}

struct ReadRecord {
    CacheRecord record;
    OpenedFile file;
};

// The record at `path` if it reads back whole, with its file still open; nullopt for anything
// else, because a record that cannot be read is a miss, never a reason to stop a build.
std::optional<ReadRecord> read_record(const std::filesystem::path& path, const Digest& key) {
    try {
        auto file = read_whole_file(path, k_max_record_size);
        if (!file) return std::nullopt;
        auto record = decode_record(file->bytes, key);
        if (!record) return std::nullopt;
        record->last_used = file->status.st_mtim.tv_sec;
        return ReadRecord{std::move(*record), std::move(*file)};
    } catch (const Error&) {
        return std::nullopt;
    }
}

void make_directory(const std::filesystem::path& path) {
    std::error_code error;
    std::filesystem::create_directories(path, error);
    if (error) throw IoError(path.string(), "mkdir", error.value());
}

std::filesystem::path step_path(const std::filesystem::path& dir, const std::string& identity) {
    return dir / k_steps_dir / sha256_of(identity).hex();
}

// Calls `visit(name)` for each entry of `dir` that is not an AtomicFile temporary.
template <typename Visit>
void for_each_record_name(const std::filesystem::path& dir, Visit&& visit) {
    std::error_code error;
    for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
        const std::string name = it->path().filename().string();
        if (!name.starts_with('.')) visit(name);
    }
    if (error) throw IoError(dir.string(), "readdir", error.value());
}

}  // namespace

std::filesystem::path cache_index_dir(const std::filesystem::path& root) { return root / k_cache_dir; }

CacheIndex::CacheIndex(std::filesystem::path dir) : m_dir(std::move(dir)) {
    make_directory(m_dir / k_records_dir);
    make_directory(m_dir / k_steps_dir);
}

std::filesystem::path CacheIndex::record_path(const Digest& key) const {
    return m_dir / k_records_dir / record_file_name(key);
}

std::optional<CacheRecord> CacheIndex::find(const Digest& key) const {
    auto found = read_record(record_path(key), key);
    if (!found) return std::nullopt;
    // A read-only store still answers; its records just do not age.
    if (::futimens(found->file.fd.get(), nullptr) == 0) found->record.last_used = std::time(nullptr);
    return std::move(found->record);
}

void CacheIndex::put(const CacheRecord& record) {
    const std::filesystem::path path = record_path(record.key);
    write_file_atomically(path, encode_record(record));
    if (record.last_used == 0) return;
    const struct timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_NOW},
                                      {.tv_sec = record.last_used, .tv_nsec = 0}};
    if (::utimensat(AT_FDCWD, path.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0)
        throw IoError(path.string(), "utimensat", errno);
}

std::optional<Digest> CacheIndex::previous_key(const std::string& step_identity) const {
    try {
        const auto file = read_whole_file(step_path(m_dir, step_identity), k_max_record_size);
        if (!file) return std::nullopt;
        const auto lines = decode_framed_lines(k_step_magic, file->bytes);
        if (!lines || lines->size() != 2) return std::nullopt;
        const FramedLine& identity = (*lines)[0];
        const FramedLine& key = (*lines)[1];
        if (identity.name != "identity" || identity.values != std::vector<std::string>{step_identity} ||
            key.name != "key" || key.values.size() != 1)
            return std::nullopt;
        return Digest::parse(key.values[0]);
    } catch (const Error&) {
        return std::nullopt;
    }
}

void CacheIndex::set_previous_key(const std::string& step_identity, const Digest& key) {
    // A read is far cheaper than the fsync of a rewrite, and a rebuild repeats every key.
    if (previous_key(step_identity) == key) return;
    write_file_atomically(step_path(m_dir, step_identity),
                          encode_framed_lines(k_step_magic, {{"identity", {step_identity}},
                                                             {"key", {key.to_string()}}}));
}

std::vector<CacheRecord> CacheIndex::list() const {
    std::vector<CacheRecord> records;
    const std::filesystem::path dir = m_dir / k_records_dir;
    for_each_record_name(dir, [&](const std::string& name) {
        const auto key = key_from_file_name(name);
        if (!key) return;
        if (auto found = read_record(dir / name, *key)) records.push_back(std::move(found->record));
    });
    return records;
}

bool CacheIndex::remove(const Digest& key) {
    const std::filesystem::path path = record_path(key);
    // The per-file detail of a copy's key and its layer's member table go with the record (they
    // only explain misses and speed up the next write).
    ::unlink((m_dir / "files" / key.hex()).c_str());
    ::unlink((m_dir / "members" / key.hex()).c_str());
    if (::unlink(path.c_str()) == 0) return true;
    if (errno == ENOENT) return false;
    throw IoError(path.string(), "unlink", errno);
}

}  // namespace cbuild::cache
