#include "builder/sandbox/internal/child_report.h"

#include <sys/uio.h>

#include <cstdint>
#include <cstring>

namespace cbuild::builder::internal {

namespace {

enum class RecordKind : std::uint32_t { stub = 1, failure = 2 };

constexpr std::uint32_t k_directory = 1;
constexpr std::uint32_t k_replaced_whiteout = 2;

struct RecordHeader {
    RecordKind kind;
    std::int32_t error_number;
    std::uint32_t flags;
    std::uint32_t lengths[3];
    timespec times[3];  // stub: parent atime and mtime before, mtime after
};

void write_record(int fd, const RecordHeader& header, std::string_view a, std::string_view b,
                  std::string_view c) noexcept {
    iovec parts[4] = {{const_cast<RecordHeader*>(&header), sizeof header},
                      {const_cast<char*>(a.data()), a.size()},
                      {const_cast<char*>(b.data()), b.size()},
                      {const_cast<char*>(c.data()), c.size()}};
    // A blocking pipe with a single writer takes the whole record unless the reader is gone.
    [[maybe_unused]] const ssize_t written = writev(fd, parts, 4);
}

}  // namespace

void report_stub(int fd, std::string_view path, bool directory, bool replaced_whiteout, const timespec& parent_atime,
                 const timespec& parent_mtime, const timespec& parent_mtime_after) noexcept {
    RecordHeader header{};
    header.kind = RecordKind::stub;
    header.flags = (directory ? k_directory : 0) | (replaced_whiteout ? k_replaced_whiteout : 0);
    header.lengths[0] = static_cast<std::uint32_t>(path.size());
    header.times[0] = parent_atime;
    header.times[1] = parent_mtime;
    header.times[2] = parent_mtime_after;
    write_record(fd, header, path, {}, {});
}

void report_failure(int fd, std::string_view step, std::string_view call, std::string_view path,
                    int error_number) noexcept {
    RecordHeader header{};
    header.kind = RecordKind::failure;
    header.error_number = error_number;
    header.lengths[0] = static_cast<std::uint32_t>(step.size());
    header.lengths[1] = static_cast<std::uint32_t>(call.size());
    header.lengths[2] = static_cast<std::uint32_t>(path.size());
    write_record(fd, header, step, call, path);
}

ChildReport parse_child_report(std::string_view bytes) {
    ChildReport report;
    while (bytes.size() >= sizeof(RecordHeader)) {
        RecordHeader header;
        std::memcpy(&header, bytes.data(), sizeof header);
        const std::size_t body = std::size_t{header.lengths[0]} + header.lengths[1] + header.lengths[2];
        if (bytes.size() - sizeof header < body) break;
        std::string_view strings = bytes.substr(sizeof header, body);
        const std::string_view first = strings.substr(0, header.lengths[0]);
        const std::string_view second = strings.substr(header.lengths[0], header.lengths[1]);
        const std::string_view third = strings.substr(header.lengths[0] + header.lengths[1]);
        if (header.kind == RecordKind::stub) {
            StubRecord stub;
            stub.path = first;
            stub.directory = (header.flags & k_directory) != 0;
            stub.replaced_whiteout = (header.flags & k_replaced_whiteout) != 0;
            stub.parent_atime = header.times[0];
            stub.parent_mtime = header.times[1];
            stub.parent_mtime_after = header.times[2];
            report.stubs.push_back(std::move(stub));
        } else if (header.kind == RecordKind::failure) {
            report.failure = SetupFailure{std::string(first), std::string(second), std::string(third), header.error_number};
        }
        bytes.remove_prefix(sizeof header + body);
    }
    return report;
}

}  // namespace cbuild::builder::internal
