#pragma once
// Runs a DAG of jobs on a bounded pool of threads: dependencies first, as many at once as the
// build allows, the first failure cancelling the rest. A pure mechanism: it knows nothing of
// Dockerfiles, stages or the cache (BuildKit's scheduler, ninja's Plan).

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <queue>
#include <stop_token>
#include <string>
#include <utility>
#include <vector>

namespace cbuild::builder {

class Scheduler;

// What a running job consults to learn that the build is being cancelled (another job failed,
// or Scheduler::cancel()). A default-constructed token is never cancelled.
class CancelToken {
public:
    CancelToken() = default;
    explicit CancelToken(std::stop_token token, Scheduler* scheduler = nullptr)
        : m_token(std::move(token)), m_scheduler(scheduler) {}

    // Whether cancellation has been requested; once true it stays true.
    bool cancelled() const noexcept { return m_token.stop_requested(); }

    // Blocks until cancellation is requested or `timeout` has passed, without polling; returns
    // cancelled(). For jobs that would otherwise sleep (a retry's back-off).
    bool wait_for(std::chrono::nanoseconds timeout) const;

    // For std::stop_callback, to react at once (kill a sandboxed process): the callback runs on
    // the thread that requests cancellation, or at registration if it already was.
    const std::stop_token& stop_token() const noexcept { return m_token; }

private:
    friend class JobSlotRelease;
    std::stop_token m_token;
    Scheduler* m_scheduler = nullptr;  // the scheduler running the job, for JobSlotRelease
};

// While it lives, the job whose token made it does not count against the scheduler's limit:
// for a step that only waits on a process of its own (a RUN command), so that other ready jobs
// start meanwhile and the kernel shares the cores among the processes, as BuildKit, which sets
// no limit, runs them. Its destructor waits for a slot again (ahead of jobs not yet started),
// or for the run to stop. A no-op for a default token and with a limit of 1, which keeps
// `--jobs 1` one job at a time.
class JobSlotRelease {
public:
    explicit JobSlotRelease(const CancelToken& token);
    ~JobSlotRelease();
    JobSlotRelease(const JobSlotRelease&) = delete;
    JobSlotRelease& operator=(const JobSlotRelease&) = delete;

private:
    Scheduler* m_scheduler = nullptr;
};

// A DAG of jobs run on a bounded pool of threads.
class Scheduler {
public:
    using JobId = std::size_t;

    // Runs at most `jobs` jobs at once (not counting those in a JobSlotRelease); throws
    // cbuild::Error when `jobs` is 0.
    explicit Scheduler(std::size_t jobs);
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Adds a job that may start once every job in `after` has succeeded. `after` may name jobs
    // added later (ids are given out 0, 1, 2… in the order of add()); run() checks them. `name`
    // names the job in errors. Throws cbuild::Error once run() has been called.
    JobId add(std::string name, std::vector<JobId> after, std::function<void(const CancelToken&)> work);

    // Runs every job reachable from `targets` (and only those: jobs no target depends on never
    // run — that is how unused stages are pruned), dependencies first, at most `jobs` at once,
    // ready jobs in the order added. The calling thread runs jobs too.
    // The first job to throw cancels the rest: no new job starts, running ones see their token
    // cancelled (they are expected to stop early; run() waits for them), and run() rethrows that
    // first exception once every started job has returned; later exceptions are dropped.
    // Throws cbuild::Error before running anything when a job depends on an unknown id, the
    // jobs depend on each other in a cycle, a target is unknown, or run() was called before.
    void run(const std::vector<JobId>& targets);

    // External cancellation (Ctrl-C), from any thread but not from a signal handler (it takes a
    // lock): run() starts no more jobs, cancels the running ones and, once they have returned,
    // throws cbuild::InterruptedError unless a job had failed first. Before run(), run() then
    // throws at once; after run() has returned it does nothing.
    void cancel();

private:
    friend class JobSlotRelease;
    void release_slot();
    void reacquire_slot();

    struct Job {
        std::string name;
        std::vector<JobId> after;
        std::function<void(const CancelToken&)> work;
    };

    // Throws cbuild::Error for an unknown target or dependency, or a cycle anywhere in the graph.
    void check_graph(const std::vector<JobId>& targets) const;
    // Prepares the run state for the jobs reachable from `targets`; returns how many there are.
    std::size_t schedule(const std::vector<JobId>& targets);
    // One thread's share of run(): takes ready jobs until the run stops or nothing is left.
    void run_ready_jobs();
    // Ends the run: records `failure` (nullptr for cancel()) unless the run is already stopping.
    void stop(std::exception_ptr failure);

    std::size_t m_parallelism;
    std::vector<Job> m_jobs;
    std::stop_source m_stop;
    CancelToken m_token{m_stop.get_token(), this};

    // Shared by the threads of run(); guarded by m_mutex.
    std::mutex m_mutex;
    std::condition_variable m_wakeup;  // a job became ready, the run stops, or the last job ended
    bool m_started = false;
    bool m_stopping = false;
    bool m_cancelled = false;
    std::exception_ptr m_failure;
    // Lowest id first (the order added); its capacity is reserved so workers never allocate.
    std::priority_queue<JobId, std::vector<JobId>, std::greater<JobId>> m_ready;
    std::vector<std::size_t> m_waiting_on;     // per job, dependencies not yet succeeded
    std::vector<std::vector<JobId>> m_dependents;
    std::size_t m_unfinished = 0;              // reachable jobs that have not returned
    std::size_t m_running = 0;                 // jobs holding a slot (not in a JobSlotRelease)
    std::size_t m_reacquiring = 0;             // jobs waiting for their slot back
};

// The default for `--jobs`: the CPUs this process may run on (its affinity mask), at least 1.
std::size_t default_job_count();

}  // namespace cbuild::builder
