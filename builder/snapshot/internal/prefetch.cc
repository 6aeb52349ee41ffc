#include "builder/snapshot/internal/prefetch.h"

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace cbuild::builder::internal {

namespace {

// How far ahead of the reader the workers go: enough requests in flight to keep the disk busy,
// little enough that what is read ahead is still cached when the reader gets there.
constexpr std::size_t k_window_files = 512;
constexpr std::uint64_t k_window_bytes = 64ull << 20;
// The reader wakes the workers once per this many entries, not per entry: a wakeup per file of
// a 20,000-file layer cost more than the reading it was for.
constexpr std::size_t k_wake_every = 32;

// Whether the file's first and last bytes are in the page cache already (a warm rebuild): then
// the reader will not wait on the disk for it, and reading it here would only copy it twice.
bool cached(int fd, std::uint64_t size) {
    char byte = 0;
    struct iovec vector {&byte, 1};
    for (const std::uint64_t offset : {std::uint64_t{0}, size - 1})
        if (::preadv2(fd, &vector, 1, static_cast<off_t>(offset), RWF_NOWAIT) != 1) return false;
    return true;
}

}  // namespace

Prefetcher::Prefetcher(const std::vector<LayerEntry>& entries, unsigned threads) : m_entries(entries) {
    m_bytes_before.reserve(entries.size() + 1);
    std::uint64_t total = 0;
    for (const LayerEntry& entry : entries) {
        m_bytes_before.push_back(total);
        if (entry.type == EntryType::file && !entry.content.host_path.empty()) total += entry.size;
    }
    m_bytes_before.push_back(total);
    for (unsigned i = 0; i < threads; ++i) m_workers.emplace_back([this] { run(); });
}

Prefetcher::~Prefetcher() {
    {
        std::lock_guard lock(m_mutex);
        m_stop = true;
    }
    m_moved.notify_all();
    for (std::thread& worker : m_workers) worker.join();
}

void Prefetcher::reached(std::size_t index) {
    if (index % k_wake_every != 0) return;
    {
        std::lock_guard lock(m_mutex);
        m_reader = index;
    }
    m_moved.notify_all();
}

bool Prefetcher::may_prefetch(std::size_t index) const {
    return index < m_reader + k_window_files && m_bytes_before[index] < m_bytes_before[m_reader] + k_window_bytes;
}

void Prefetcher::run() {
    std::vector<char> buffer(1 << 18);
    while (true) {
        const std::size_t index = m_next.fetch_add(1);
        if (index >= m_entries.size()) return;
        const LayerEntry& entry = m_entries[index];
        if (entry.type != EntryType::file || entry.content.host_path.empty() || entry.size == 0) continue;
        {
            std::unique_lock lock(m_mutex);
            m_moved.wait(lock, [&] { return m_stop || may_prefetch(index); });
            if (m_stop) return;
        }
        // Best effort: a file that cannot be read here is reported by the reader. Reading (not
        // just advising) makes each worker's request synchronous, so `threads` are in flight.
        const int fd = ::open(entry.content.host_path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) continue;
        if (!cached(fd, entry.size))
            while (::read(fd, buffer.data(), buffer.size()) > 0) {
            }
        ::close(fd);
    }
}

}  // namespace cbuild::builder::internal
