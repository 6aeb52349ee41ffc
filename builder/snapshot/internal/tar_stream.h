#pragma once
// A layer's tar stream: LayerEntry values in, PAX tar bytes out (the format layer_writer.h
// documents), with regular files' content read from the host as it goes.

#include <cstdint>
#include <exception>
#include <optional>
#include <vector>

#include <locale.h>
#include <sys/types.h>

#include "builder/snapshot/layer_entry.h"
#include "common/byte_sink.h"

struct archive;
struct archive_entry;

namespace cbuild::builder::internal {

// The mtime an entry's header carries: its own, or `mtime_clamp` when that is earlier.
struct TarTime {
    std::int64_t seconds = 0;
    long nanoseconds = 0;
};
TarTime tar_time(const LayerEntry& entry, std::optional<std::int64_t> mtime_clamp);

// Writes entries to `out` in the order given; `mtime_clamp` replaces every later mtime. Lives on
// one thread: while it exists, that thread's character-set locale is C.UTF-8, so libarchive
// encodes paths the same way whatever the process locale is.
class TarStream {
public:
    TarStream(ByteSink& out, std::optional<std::int64_t> mtime_clamp);
    // Without finish(), the archive is abandoned: nothing more reaches `out`.
    ~TarStream();
    TarStream(const TarStream&) = delete;
    TarStream& operator=(const TarStream&) = delete;

    // Writes the header and, for a regular file, the content. Throws LayerError when the
    // content is missing or its size is not entry.size, IoError when a file cannot be read,
    // what `out` throws, and cbuild::Error if libarchive fails.
    void add(const LayerEntry& entry);

    // Writes the end-of-archive blocks.
    void finish();

private:
    static ssize_t write_callback(struct archive*, void* client, const void* buffer, std::size_t length);
    void write_content(const LayerEntry& entry);
    void write_data(const LayerEntry& entry, const void* data, std::size_t size);
    void check(int status, const LayerEntry* entry, const char* what);
    void release();

    ByteSink& m_out;
    std::optional<std::int64_t> m_mtime_clamp;
    locale_t m_utf8_locale = nullptr;
    locale_t m_previous_locale = nullptr;
    struct archive* m_archive = nullptr;
    struct archive_entry* m_entry = nullptr;
    std::vector<char> m_read_buffer;
    std::exception_ptr m_write_error;  // thrown by `out` inside libarchive's callback
    bool m_abandoned = false;
};

}  // namespace cbuild::builder::internal
