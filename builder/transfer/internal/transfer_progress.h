#pragma once
// A pull or push reported as one progress step ("pull REF", "push REF"), with the bytes of each
// blob as they move: an event per percent or MiB, whichever is larger, and one at the end.

#include <algorithm>
#include <string>

#include "builder/solve/progress_event.h"

namespace cbuild::builder::internal {

class TransferProgress {
public:
    // Emits `started` now. Without a sink, does nothing at all.
    TransferProgress(const ProgressSink& sink, ProgressEvent::Activity activity, std::string step)
        : m_sink(sink), m_step(std::move(step)) {
        if (!m_sink) return;
        m_sink({.kind = ProgressEvent::Kind::started, .step = m_step, .activity = activity, .description = m_step});
    }
    // Emits `failed` unless finish() was called: the transfer ended by an exception.
    ~TransferProgress() {
        if (m_sink && !m_finished)
            m_sink({.kind = ProgressEvent::Kind::failed, .step = m_step, .text = "interrupted by an error"});
    }
    TransferProgress(const TransferProgress&) = delete;
    TransferProgress& operator=(const TransferProgress&) = delete;

    void finish() {
        m_finished = true;
        if (m_sink) m_sink({.kind = ProgressEvent::Kind::done, .step = m_step});
    }

    // One blob's bytes: reach() is told how far the transfer got (it may start again from 0 on
    // a retry: the furthest point counts). One Blob is used by one thread at a time.
    class Blob {
    public:
        Blob(const TransferProgress& owner, std::string digest, std::uint64_t total)
            : m_owner(owner), m_digest(std::move(digest)), m_total(total) {}
        void reach(std::uint64_t done) {
            if (!m_owner.m_sink || done <= m_done) return;
            m_done = std::min(done, m_total);
            const std::uint64_t step = std::max<std::uint64_t>(1 << 20, m_total / 100);
            if (m_done != m_total && m_done - m_reported < step) return;
            m_reported = m_done;
            m_owner.m_sink({.kind = ProgressEvent::Kind::bytes, .step = m_owner.m_step, .blob = m_digest,
                            .done = m_done, .total = m_total});
        }
        std::uint64_t done() const { return m_done; }

    private:
        const TransferProgress& m_owner;
        std::string m_digest;
        std::uint64_t m_total;
        std::uint64_t m_done = 0;
        std::uint64_t m_reported = 0;
    };

private:
    const ProgressSink& m_sink;
    std::string m_step;
    bool m_finished = false;
};

}  // namespace cbuild::builder::internal
