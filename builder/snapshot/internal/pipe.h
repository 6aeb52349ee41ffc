#pragma once
// The stages of the layer pipeline, each a ByteSink feeding the next: a Pipe hands bytes on in
// fixed-size chunks, on a worker thread of its own so that stages run side by side; a
// HashingSink digests and counts what passes through.

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <span>
#include <thread>
#include <vector>

#include "common/byte_sink.h"
#include "common/digest.h"

namespace cbuild::builder::internal {

// Which thread writes a Pipe's chunks to its downstream sink.
enum class RunOn { worker_thread, caller_thread };

// Buffers bytes into chunks of exactly `chunk_size` (the last one excepted) and writes each
// full chunk to `downstream`: on a worker thread, with at most `max_chunks` chunks in flight
// (so memory stays bounded and a slow stage holds back a fast one), or on the caller's thread.
// The chunking is the same either way, so what downstream computes is too. An exception thrown
// by downstream on the worker is rethrown to the caller by the next write() or by finish().
class Pipe final : public ByteSink {
public:
    Pipe(ByteSink& downstream, RunOn run_on, std::size_t chunk_size = std::size_t{1} << 20,
         std::size_t max_chunks = 4);
    // Without finish(), stops the worker and drops what it has not written yet (error paths).
    ~Pipe() override;
    Pipe(const Pipe&) = delete;
    Pipe& operator=(const Pipe&) = delete;

    void write(std::span<const std::byte> bytes) override;
    using ByteSink::write;

    // Hands on what was written so far (a short chunk, if need be), then runs `action` on the
    // thread that writes downstream, after those bytes and before any written later. Chunking
    // starts afresh after it. What `action` throws is handled as downstream's exceptions are.
    void then(std::function<void()> action);

    // Writes the last partial chunk and waits until downstream has been given everything.
    void finish();

private:
    struct Chunk {
        std::vector<std::byte> bytes;  // empty for a chunk that only carries an action
        std::size_t size = 0;
        std::function<void()> action;  // run after the bytes are written
    };

    // Writes the chunk's bytes and runs its action.
    void deliver(Chunk& chunk);

    Chunk take_free_chunk();
    void ship(Chunk chunk);
    void run_worker();
    void stop_worker();

    ByteSink& m_downstream;
    const std::size_t m_chunk_size;
    const std::size_t m_max_chunks;
    Chunk m_current;  // being filled by write(); empty vector = none taken yet

    std::mutex m_mutex;
    std::condition_variable m_changed;
    std::deque<Chunk> m_full;   // waiting for the worker
    std::vector<Chunk> m_free;  // written, ready for reuse
    std::size_t m_allocated = 0;
    bool m_closed = false;   // no more chunks will come
    bool m_stopped = false;  // the worker must exit now (it failed, or the pipe is abandoned)
    std::exception_ptr m_error;
    std::thread m_worker;  // not joinable when RunOn::caller_thread
};

// Passes bytes on unchanged, keeping their SHA-256 and count. `downstream` may be null.
class HashingSink final : public ByteSink {
public:
    explicit HashingSink(ByteSink* downstream) : m_downstream(downstream) {}

    void write(std::span<const std::byte> bytes) override {
        m_sha256.update(bytes);
        m_size += bytes.size();
        if (m_downstream != nullptr) m_downstream->write(bytes);
    }
    using ByteSink::write;

    std::uint64_t size() const { return m_size; }
    // The digest of everything written; call once, at the end.
    Digest finish() { return m_sha256.finish(); }

private:
    ByteSink* m_downstream;
    Sha256 m_sha256;
    std::uint64_t m_size = 0;
};

}  // namespace cbuild::builder::internal
