#include "builder/solve/scheduler.h"

#include <sched.h>

#include <algorithm>
#include <thread>
#include <utility>

#include "common/error.h"

namespace cbuild::builder {

bool CancelToken::wait_for(std::chrono::nanoseconds timeout) const {
    // The stop_token overload registers a stop_callback that notifies, so nothing polls.
    std::mutex mutex;
    std::condition_variable_any wakeup;
    std::unique_lock lock(mutex);
    wakeup.wait_for(lock, m_token, timeout, [] { return false; });
    return cancelled();
}

Scheduler::Scheduler(std::size_t jobs) : m_parallelism(jobs) {
    if (jobs == 0) throw Error("the number of parallel jobs must be at least 1");
}

Scheduler::JobId Scheduler::add(std::string name, std::vector<JobId> after,
                                std::function<void(const CancelToken&)> work) {
    // A job named twice in `after` would otherwise have to be counted twice when it finishes.
    std::sort(after.begin(), after.end());
    after.erase(std::unique(after.begin(), after.end()), after.end());
    std::lock_guard lock(m_mutex);
    if (m_started) throw Error("job `" + name + "` added after the jobs started running");
    m_jobs.push_back(Job{std::move(name), std::move(after), std::move(work)});
    return m_jobs.size() - 1;
}

void Scheduler::check_graph(const std::vector<JobId>& targets) const {
    for (JobId target : targets)
        if (target >= m_jobs.size())
            throw Error("cannot run job " + std::to_string(target) + ": it was never added");
    for (const Job& job : m_jobs)
        for (JobId dependency : job.after)
            if (dependency >= m_jobs.size())
                throw Error("job `" + job.name + "` waits for job " + std::to_string(dependency) +
                            ", which was never added");

    // Depth-first over every job, not only the reachable ones: a cycle anywhere is a bug in
    // whoever built the graph, and finding it early makes it easier to trace.
    enum class Mark : unsigned char { unvisited, on_path, done };
    std::vector<Mark> marks(m_jobs.size(), Mark::unvisited);
    std::vector<std::pair<JobId, std::size_t>> path;  // a job, and the next of its `after` to visit
    for (JobId root = 0; root < m_jobs.size(); ++root) {
        if (marks[root] != Mark::unvisited) continue;
        marks[root] = Mark::on_path;
        path.emplace_back(root, 0);
        while (!path.empty()) {
            const JobId id = path.back().first;
            std::size_t& next = path.back().second;
            if (next == m_jobs[id].after.size()) {
                marks[id] = Mark::done;
                path.pop_back();
                continue;
            }
            const JobId dependency = m_jobs[id].after[next++];
            if (marks[dependency] == Mark::on_path) {
                std::string cycle;
                auto start = std::find_if(path.begin(), path.end(),
                                          [&](const auto& step) { return step.first == dependency; });
                for (auto step = start; step != path.end(); ++step) cycle += "`" + m_jobs[step->first].name + "` → ";
                throw Error("jobs wait for each other in a cycle: " + cycle + "`" + m_jobs[dependency].name + "`");
            }
            if (marks[dependency] == Mark::unvisited) {
                marks[dependency] = Mark::on_path;
                path.emplace_back(dependency, 0);
            }
        }
    }
}

std::size_t Scheduler::schedule(const std::vector<JobId>& targets) {
    std::vector<bool> reachable(m_jobs.size(), false);
    std::vector<JobId> to_visit(targets.begin(), targets.end());
    std::vector<JobId> ready;
    std::size_t count = 0;
    m_waiting_on.assign(m_jobs.size(), 0);
    m_dependents.assign(m_jobs.size(), {});
    while (!to_visit.empty()) {
        const JobId id = to_visit.back();
        to_visit.pop_back();
        if (reachable[id]) continue;
        reachable[id] = true;
        ++count;
        const std::vector<JobId>& after = m_jobs[id].after;
        m_waiting_on[id] = after.size();
        if (after.empty()) ready.push_back(id);
        for (JobId dependency : after) {
            m_dependents[dependency].push_back(id);
            to_visit.push_back(dependency);
        }
    }
    // Every reachable job enters the queue at most once, so this capacity is never exceeded.
    ready.reserve(count);
    m_ready = decltype(m_ready)(std::greater<JobId>(), std::move(ready));
    m_unfinished = count;
    return count;
}

void Scheduler::run(const std::vector<JobId>& targets) {
    std::size_t reachable = 0;
    {
        std::lock_guard lock(m_mutex);
        if (m_started) throw Error("the jobs of a scheduler run once");
        check_graph(targets);
        m_started = true;
        reachable = schedule(targets);
    }

    // The calling thread is one of the threads, so --jobs 1 runs everything on it. Jobs that
    // release their slot (JobSlotRelease) leave it to another thread, so there may be more
    // threads than slots, up to one per job.
    std::vector<std::thread> helpers;
    const std::size_t threads = m_parallelism == 1 ? 1 : std::min<std::size_t>(reachable, 64);
    try {
        while (helpers.size() + 1 < threads) helpers.emplace_back([this] { run_ready_jobs(); });
    } catch (...) {
        stop(std::current_exception());
    }
    run_ready_jobs();
    for (std::thread& helper : helpers) helper.join();

    std::lock_guard lock(m_mutex);
    if (m_failure) std::rethrow_exception(m_failure);
    if (m_cancelled) throw InterruptedError("build interrupted");
}

void Scheduler::run_ready_jobs() {
    std::unique_lock lock(m_mutex);
    for (;;) {
        m_wakeup.wait(lock, [this] {
            return m_stopping || m_unfinished == 0 ||
                   (!m_ready.empty() && m_running < m_parallelism && m_reacquiring == 0);
        });
        if (m_stopping || m_unfinished == 0) return;
        const JobId id = m_ready.top();
        m_ready.pop();
        ++m_running;
        lock.unlock();

        std::exception_ptr failure;
        try {
            m_jobs[id].work(m_token);
        } catch (...) {
            failure = std::current_exception();
        }
        if (failure) {
            {
                const std::lock_guard guard(m_mutex);
                --m_running;
            }
            stop(std::move(failure));
            return;
        }

        lock.lock();
        --m_running;
        --m_unfinished;
        for (JobId dependent : m_dependents[id]) {
            if (--m_waiting_on[dependent] == 0) {
                m_ready.push(dependent);
                m_wakeup.notify_one();
            }
        }
        // A slot is free: a job waiting for its slot back, or any thread with a ready job.
        m_wakeup.notify_all();
    }
}

void Scheduler::release_slot() {
    {
        const std::lock_guard lock(m_mutex);
        --m_running;
    }
    m_wakeup.notify_all();
}

void Scheduler::reacquire_slot() {
    std::unique_lock lock(m_mutex);
    ++m_reacquiring;
    m_wakeup.wait(lock, [this] { return m_stopping || m_running < m_parallelism; });
    --m_reacquiring;
    ++m_running;
    const bool slot_left = m_running < m_parallelism;
    lock.unlock();
    // Threads with a ready job waited for the reacquirers to go first.
    if (slot_left) m_wakeup.notify_all();
}

JobSlotRelease::JobSlotRelease(const CancelToken& token) {
    if (!token.m_scheduler || token.m_scheduler->m_parallelism == 1) return;
    m_scheduler = token.m_scheduler;
    m_scheduler->release_slot();
}

JobSlotRelease::~JobSlotRelease() {
    if (m_scheduler) m_scheduler->reacquire_slot();
}

void Scheduler::stop(std::exception_ptr failure) {
    {
        std::lock_guard lock(m_mutex);
        if (m_stopping) return;
        m_stopping = true;
        if (failure) {
            m_failure = std::move(failure);
        } else {
            m_cancelled = true;
        }
    }
    m_wakeup.notify_all();
    // Outside the lock: stop callbacks registered by jobs run here and may take locks of their own.
    m_stop.request_stop();
}

void Scheduler::cancel() { stop(nullptr); }

std::size_t default_job_count() {
    cpu_set_t allowed;
    if (sched_getaffinity(0, sizeof allowed, &allowed) == 0 && CPU_COUNT(&allowed) > 0)
        return static_cast<std::size_t>(CPU_COUNT(&allowed));
    return std::max(1u, std::thread::hardware_concurrency());
}

}  // namespace cbuild::builder
