#include "builder/snapshot/internal/member_plan.h"

#include <isa-l/crc.h>

#include <string>

#include "builder/snapshot/internal/tar_stream.h"

namespace cbuild::builder::internal {

namespace {

constexpr std::uint64_t k_min_member = std::uint64_t{1} << 20;
constexpr std::uint64_t k_max_member = std::uint64_t{8} << 20;
// Past the minimum, a member ends after an entry whose path's CRC-32 has these low bits clear:
// one entry in 16, wherever it sits, so cut points depend on the paths near them only.
constexpr std::uint32_t k_cut_mask = 0xf;
constexpr std::uint64_t k_block = 512;

// What the entry adds to the tar, near enough to size members: a header block and the content
// padded to whole blocks (pax records are left out: the estimate only has to be the same for
// the same entries).
std::uint64_t tar_estimate(const LayerEntry& entry) {
    const std::uint64_t content = entry.type == EntryType::file ? (entry.size + k_block - 1) / k_block * k_block : 0;
    return k_block + content;
}

bool is_cut_path(const std::string& path) {
    const std::uint32_t crc = crc32_gzip_refl(0, reinterpret_cast<const unsigned char*>(path.data()), path.size());
    return (crc & k_cut_mask) == 0;
}

// Each field length-prefixed, so that no two different entries describe alike.
void add_field(Sha256& hash, std::string_view field) {
    hash.update(std::to_string(field.size()) + ":");
    hash.update(field);
}

// Adds what the entry's tar bytes are made of; false when a regular file's content is unknown.
bool describe(Sha256& hash, const LayerEntry& entry, std::optional<std::int64_t> mtime_clamp) {
    const TarTime mtime = tar_time(entry, mtime_clamp);
    add_field(hash, entry.path);
    add_field(hash, std::to_string(static_cast<int>(entry.type)) + " " + std::to_string(entry.mode & 07777) + " " +
                        std::to_string(entry.uid) + " " + std::to_string(entry.gid) + " " +
                        std::to_string(mtime.seconds) + "." + std::to_string(mtime.nanoseconds) + " " +
                        std::to_string(entry.size) + " " + std::to_string(entry.device_major) + " " +
                        std::to_string(entry.device_minor) + " " + std::to_string(entry.xattrs.size()));
    add_field(hash, entry.link_target);
    for (const auto& [name, value] : entry.xattrs) {
        add_field(hash, name);
        add_field(hash, value);
    }
    if (entry.type != EntryType::file) return true;
    // The cache key's digest when there is one: in-memory content was hashed there already.
    if (entry.content.digest) {
        add_field(hash, entry.content.digest->to_string());
    } else if (entry.content.bytes) {
        add_field(hash, sha256_of(*entry.content.bytes).to_string());
    } else if (entry.size == 0) {
        add_field(hash, "empty");
    } else {
        return false;
    }
    return true;
}

std::optional<Digest> fingerprint(const std::vector<LayerEntry>& ordered, std::size_t begin, std::size_t end,
                                  std::optional<std::int64_t> mtime_clamp) {
    Sha256 hash;
    hash.update("cbuild layer member 1\n");
    for (std::size_t i = begin; i < end; ++i)
        if (!describe(hash, ordered[i], mtime_clamp)) return std::nullopt;
    return hash.finish();
}

}  // namespace

std::vector<PlannedMember> plan_members(const std::vector<LayerEntry>& ordered, std::optional<std::int64_t> mtime_clamp) {
    std::vector<PlannedMember> members;
    std::size_t begin = 0;
    std::uint64_t held = 0;
    for (std::size_t i = 0; i < ordered.size(); ++i) {
        held += tar_estimate(ordered[i]);
        const bool last = i + 1 == ordered.size();
        if (last || held >= k_max_member || (held >= k_min_member && is_cut_path(ordered[i].path))) {
            members.push_back(PlannedMember{begin, i + 1, fingerprint(ordered, begin, i + 1, mtime_clamp)});
            begin = i + 1;
            held = 0;
        }
    }
    return members;
}

}  // namespace cbuild::builder::internal
