#include "builder/snapshot/internal/pipe.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/error.h"

namespace cbuild::builder::internal {

Pipe::Pipe(ByteSink& downstream, RunOn run_on, std::size_t chunk_size, std::size_t max_chunks)
    : m_downstream(downstream), m_chunk_size(chunk_size), m_max_chunks(std::max<std::size_t>(max_chunks, 1)) {
    if (run_on == RunOn::worker_thread) m_worker = std::thread([this] { run_worker(); });
}

Pipe::~Pipe() { stop_worker(); }

void Pipe::write(std::span<const std::byte> bytes) {
    while (!bytes.empty()) {
        if (m_current.bytes.empty()) m_current = take_free_chunk();
        const std::size_t taken = std::min(bytes.size(), m_chunk_size - m_current.size);
        std::memcpy(m_current.bytes.data() + m_current.size, bytes.data(), taken);
        m_current.size += taken;
        bytes = bytes.subspan(taken);
        if (m_current.size == m_chunk_size) ship(std::exchange(m_current, {}));
    }
}

void Pipe::then(std::function<void()> action) {
    Chunk chunk = std::exchange(m_current, {});
    chunk.action = std::move(action);
    ship(std::move(chunk));
}

void Pipe::deliver(Chunk& chunk) {
    if (chunk.size > 0) m_downstream.write(std::span<const std::byte>(chunk.bytes.data(), chunk.size));
    if (chunk.action) std::exchange(chunk.action, {})();
    chunk.size = 0;
}

void Pipe::finish() {
    if (m_current.size > 0) ship(std::exchange(m_current, {}));
    if (!m_worker.joinable()) return;
    {
        std::lock_guard lock(m_mutex);
        m_closed = true;
    }
    m_changed.notify_all();
    m_worker.join();
    if (m_error) std::rethrow_exception(m_error);
}

Pipe::Chunk Pipe::take_free_chunk() {
    std::unique_lock lock(m_mutex);
    m_changed.wait(lock, [&] { return m_stopped || !m_free.empty() || m_allocated < m_max_chunks; });
    if (m_error) std::rethrow_exception(m_error);
    if (m_stopped) throw Error("layer pipeline: write after the pipe was stopped");
    if (!m_free.empty()) {
        Chunk chunk = std::move(m_free.back());
        m_free.pop_back();
        return chunk;
    }
    ++m_allocated;
    lock.unlock();
    Chunk chunk;
    chunk.bytes.resize(m_chunk_size);
    return chunk;
}

void Pipe::ship(Chunk chunk) {
    if (!m_worker.joinable()) {
        deliver(chunk);
        if (!chunk.bytes.empty()) m_free.push_back(std::move(chunk));
        return;
    }
    {
        std::lock_guard lock(m_mutex);
        m_full.push_back(std::move(chunk));
    }
    m_changed.notify_all();
}

void Pipe::run_worker() {
    for (;;) {
        Chunk chunk;
        {
            std::unique_lock lock(m_mutex);
            m_changed.wait(lock, [&] { return m_stopped || m_closed || !m_full.empty(); });
            if (m_stopped || m_full.empty()) return;  // stopped, or closed and drained
            chunk = std::move(m_full.front());
            m_full.pop_front();
        }
        try {
            deliver(chunk);
        } catch (...) {
            // Handed to the producer, which rethrows it on its thread.
            {
                std::lock_guard lock(m_mutex);
                m_error = std::current_exception();
                m_stopped = true;
            }
            m_changed.notify_all();
            return;
        }
        if (chunk.bytes.empty()) continue;  // an action's carrier, not one of the chunks in flight
        {
            std::lock_guard lock(m_mutex);
            m_free.push_back(std::move(chunk));
        }
        m_changed.notify_all();
    }
}

void Pipe::stop_worker() {
    if (!m_worker.joinable()) return;
    {
        std::lock_guard lock(m_mutex);
        m_stopped = true;
    }
    m_changed.notify_all();
    m_worker.join();
}

}  // namespace cbuild::builder::internal
