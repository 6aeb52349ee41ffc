#include "builder/snapshot/layer_members.h"

#include <nlohmann/json.hpp>

namespace cbuild::builder {

namespace {

constexpr std::string_view k_format = "cbuild-layer-members 1";

}  // namespace

std::string encode_layer_members(const LayerMembers& members) {
    nlohmann::json rows = nlohmann::json::array();
    for (const LayerMember& member : members.members) {
        rows.push_back({member.fingerprint ? nlohmann::json(member.fingerprint->to_string()) : nlohmann::json(nullptr),
                        member.offset, member.size, member.tar_size, member.crc32});
    }
    const nlohmann::json document = {
        {"format", k_format}, {"engine", members.engine}, {"blob", members.blob.to_string()}, {"members", rows}};
    return document.dump() + "\n";
}

std::optional<LayerMembers> decode_layer_members(std::string_view text) {
    try {
        const nlohmann::json document = nlohmann::json::parse(text);
        if (document.at("format").get<std::string>() != k_format) return std::nullopt;
        LayerMembers members{.engine = document.at("engine").get<std::string>(),
                             .blob = Digest::parse(document.at("blob").get<std::string>()),
                             .members = {}};
        std::uint64_t next_offset = 0;
        for (const nlohmann::json& row : document.at("members")) {
            if (!row.is_array() || row.size() != 5) return std::nullopt;
            for (std::size_t i = 1; i < 5; ++i)
                if (!row[i].is_number_unsigned()) return std::nullopt;
            if (row[4].get<std::uint64_t>() > 0xffffffffu) return std::nullopt;
            LayerMember member;
            if (!row[0].is_null()) member.fingerprint = Digest::parse(row[0].get<std::string>());
            member.offset = row[1].get<std::uint64_t>();
            member.size = row[2].get<std::uint64_t>();
            member.tar_size = row[3].get<std::uint64_t>();
            member.crc32 = row[4].get<std::uint32_t>();
            // Members tile the blob: each starts where the one before ended.
            if (member.offset != next_offset || member.size == 0) return std::nullopt;
            next_offset = member.offset + member.size;
            members.members.push_back(std::move(member));
        }
        return members;
    } catch (const nlohmann::json::exception&) {
        return std::nullopt;
    } catch (const DigestError&) {
        return std::nullopt;
    }
}

}  // namespace cbuild::builder
