// The scheduler with plain in-process jobs (BuildKit's scheduler_test.go, ninja's
// FakeCommandRunner): order, parallelism, pruning, failure and cancellation. Nothing here
// asserts on time; waits have a generous deadline only so that a broken scheduler fails a test
// instead of hanging it.

#include "builder/solve/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <numeric>
#include <random>
#include <stdexcept>
#include <thread>

#include "common/error.h"

namespace cbuild::builder {
namespace {

using JobId = Scheduler::JobId;

constexpr std::chrono::seconds k_patience{60};

// How many jobs are inside a section at once, and the most there ever were.
class Occupancy {
public:
    // Enters, yields so that others may come in, and leaves.
    void pass_through() {
        const int now = ++m_inside;
        int seen = m_most;
        while (now > seen && !m_most.compare_exchange_weak(seen, now)) {
        }
        std::this_thread::yield();
        --m_inside;
    }
    int most() const { return m_most; }

private:
    std::atomic<int> m_inside{0};
    std::atomic<int> m_most{0};
};

// Lets `count` threads wait until all of them have arrived.
class Rendezvous {
public:
    explicit Rendezvous(int count) : m_remaining(count) {}

    // Arrives, then waits for the others; false if they did not all arrive within k_patience.
    bool arrive_and_wait() {
        std::unique_lock lock(m_mutex);
        if (--m_remaining == 0) m_all_here.notify_all();
        return m_all_here.wait_for(lock, k_patience, [this] { return m_remaining <= 0; });
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_all_here;
    int m_remaining;
};

// A one-way flag one thread raises and another waits for.
class Signal {
public:
    void raise() {
        std::lock_guard lock(m_mutex);
        m_raised = true;
        m_changed.notify_all();
    }
    // False if the flag was not raised within k_patience.
    bool wait() {
        std::unique_lock lock(m_mutex);
        return m_changed.wait_for(lock, k_patience, [this] { return m_raised; });
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_changed;
    bool m_raised = false;
};

// What a job threw on purpose, so that the test can tell it from anything else.
class JobFailure : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

// Adds jobs that count their runs and check, when they start, that every job they wait for has
// finished. All of a scheduler's jobs go through one Recorder, so its indexes are the job ids.
class Recorder {
public:
    JobId add(Scheduler& scheduler, std::vector<JobId> after) {
        const std::size_t index = m_records.size();
        m_records.emplace_back();
        const JobId id = scheduler.add("job " + std::to_string(index), after, [this, index, after](const CancelToken&) {
            for (JobId dependency : after)
                if (!m_records[dependency].finished) ++m_early_starts;
            ++m_records[index].runs;
            m_records[index].finished = true;
        });
        EXPECT_EQ(id, index);
        return id;
    }

    int runs(JobId id) const { return m_records[id].runs; }
    int early_starts() const { return m_early_starts; }

private:
    struct Record {
        std::atomic<int> runs{0};
        std::atomic<bool> finished{false};
    };
    std::deque<Record> m_records;  // never resized while jobs run
    std::atomic<int> m_early_starts{0};
};

TEST(SchedulerTest, RunsDependenciesFirst) {
    Scheduler scheduler(4);
    Recorder recorder;
    // A chain built backwards: each job names one added after it.
    const JobId last = recorder.add(scheduler, {1});
    const JobId middle = recorder.add(scheduler, {2});
    const JobId first = recorder.add(scheduler, {});
    scheduler.run({last});
    EXPECT_EQ(recorder.early_starts(), 0);
    for (JobId id : {first, middle, last}) EXPECT_EQ(recorder.runs(id), 1);
}

TEST(SchedulerTest, DiamondRunsEachJobOnce) {
    Scheduler scheduler(4);
    Recorder recorder;
    const JobId top = recorder.add(scheduler, {});
    const JobId left = recorder.add(scheduler, {top});
    const JobId right = recorder.add(scheduler, {top, top});
    const JobId bottom = recorder.add(scheduler, {left, right});
    scheduler.run({bottom, left, bottom});
    EXPECT_EQ(recorder.early_starts(), 0);
    for (JobId id : {top, left, right, bottom}) EXPECT_EQ(recorder.runs(id), 1);
}

TEST(SchedulerTest, RunsIndependentJobsConcurrently) {
    Scheduler scheduler(3);
    Rendezvous all_started(3);
    std::atomic<int> met{0};
    std::vector<JobId> targets;
    for (int i = 0; i < 3; ++i) {
        targets.push_back(scheduler.add("job " + std::to_string(i), {}, [&](const CancelToken&) {
            if (all_started.arrive_and_wait()) ++met;
        }));
    }
    scheduler.run(targets);
    EXPECT_EQ(met, 3) << "the three jobs did not all run at the same time";
}

TEST(SchedulerTest, AJobThatReleasesItsSlotLetsAnotherStart) {
    // Two slots, three jobs that each wait, slot released, until all three are waiting: only
    // possible when a released slot goes to the third job.
    Scheduler scheduler(2);
    Rendezvous all_waiting(3);
    std::atomic<int> met{0};
    std::vector<JobId> targets;
    for (int i = 0; i < 3; ++i) {
        targets.push_back(scheduler.add("job " + std::to_string(i), {}, [&](const CancelToken& token) {
            const JobSlotRelease slot(token);
            if (all_waiting.arrive_and_wait()) ++met;
        }));
    }
    scheduler.run(targets);
    EXPECT_EQ(met, 3) << "a released slot did not let the third job start";
}

TEST(SchedulerTest, JobsHoldingSlotsNeverExceedTheLimit) {
    Scheduler scheduler(2);
    Occupancy holding;
    std::vector<JobId> targets;
    for (int i = 0; i < 12; ++i) {
        targets.push_back(scheduler.add("job " + std::to_string(i), {}, [&](const CancelToken& token) {
            holding.pass_through();
            {
                const JobSlotRelease slot(token);
                std::this_thread::yield();
            }
            holding.pass_through();  // after taking the slot back
        }));
    }
    scheduler.run(targets);
    EXPECT_LE(holding.most(), 2);
    EXPECT_GE(holding.most(), 1);
}

TEST(SchedulerTest, ReleasingASlotWithOneJobAtATimeChangesNothing) {
    Scheduler scheduler(1);
    Occupancy running;
    std::vector<JobId> targets;
    for (int i = 0; i < 6; ++i) {
        targets.push_back(scheduler.add("job " + std::to_string(i), {}, [&](const CancelToken& token) {
            const JobSlotRelease slot(token);
            running.pass_through();
        }));
    }
    scheduler.run(targets);
    EXPECT_EQ(running.most(), 1);
}

TEST(SchedulerTest, AFailureWhileASlotIsReleasedStillStopsTheRun) {
    Scheduler scheduler(2);
    const JobId failing = scheduler.add("failing", {}, [](const CancelToken& token) {
        const JobSlotRelease slot(token);
        throw std::runtime_error("boom");
    });
    const JobId waiting = scheduler.add("waiting", {}, [](const CancelToken& token) {
        const JobSlotRelease slot(token);
        token.wait_for(k_patience);
    });
    try {
        scheduler.run({failing, waiting});
        FAIL() << "expected the failure";
    } catch (const std::runtime_error& error) {
        EXPECT_STREQ(error.what(), "boom");
    }
}

TEST(SchedulerTest, OneJobAtATimeWithOneThread) {
    Scheduler scheduler(1);
    Occupancy running;
    std::vector<JobId> targets;
    for (int i = 0; i < 20; ++i)
        targets.push_back(
            scheduler.add("job " + std::to_string(i), {}, [&](const CancelToken&) { running.pass_through(); }));
    scheduler.run(targets);
    EXPECT_EQ(running.most(), 1);
}

TEST(SchedulerTest, StartsReadyJobsInTheOrderAdded) {
    Scheduler scheduler(1);
    std::vector<std::string> order;
    const auto job = [&](std::string name, std::vector<JobId> after) {
        return scheduler.add(name, std::move(after), [&order, name](const CancelToken&) { order.push_back(name); });
    };
    const JobId d = job("d", {4});   // waits for e, added after it
    const JobId a = job("a", {});
    const JobId c = job("c", {a});
    const JobId b = job("b", {});
    job("e", {});
    scheduler.run({c, d, b});
    EXPECT_EQ(order, (std::vector<std::string>{"a", "c", "b", "e", "d"}));
}

TEST(SchedulerTest, RunsOnlyJobsTheTargetsNeed) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId base = recorder.add(scheduler, {});
    const JobId used = recorder.add(scheduler, {base});
    const JobId unused_base = recorder.add(scheduler, {});
    const JobId unused = recorder.add(scheduler, {unused_base, base});
    const JobId target = recorder.add(scheduler, {used});
    scheduler.run({target});
    EXPECT_EQ(recorder.runs(base), 1);
    EXPECT_EQ(recorder.runs(used), 1);
    EXPECT_EQ(recorder.runs(target), 1);
    EXPECT_EQ(recorder.runs(unused_base), 0);
    EXPECT_EQ(recorder.runs(unused), 0);
}

TEST(SchedulerTest, NoTargetsRunsNothing) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId id = recorder.add(scheduler, {});
    scheduler.run({});
    EXPECT_EQ(recorder.runs(id), 0);
}

TEST(SchedulerTest, FirstFailureIsRethrownAndCancelsTheRest) {
    Scheduler scheduler(2);
    Rendezvous both_started(2);
    std::atomic<bool> watcher_met{false};
    std::atomic<bool> failing_met{false};
    std::atomic<bool> watcher_saw_cancel{false};
    std::atomic<bool> dependent_ran{false};
    std::atomic<bool> later_ran{false};
    // The two threads take `watcher` and `failing` (the lowest ready ids); `later` could start
    // only when one of them returns, and by then the failure has stopped the run.
    const JobId watcher = scheduler.add("watcher", {}, [&](const CancelToken& token) {
        watcher_met = both_started.arrive_and_wait();
        watcher_saw_cancel = token.wait_for(k_patience);
        throw std::logic_error("a later failure, caused by the cancellation");
    });
    const JobId failing = scheduler.add("failing", {}, [&](const CancelToken&) {
        failing_met = both_started.arrive_and_wait();
        throw JobFailure("the first failure");
    });
    const JobId dependent = scheduler.add("dependent", {failing}, [&](const CancelToken&) { dependent_ran = true; });
    const JobId later = scheduler.add("later", {}, [&](const CancelToken&) { later_ran = true; });
    try {
        scheduler.run({watcher, dependent, later});
        ADD_FAILURE() << "run() returned";
    } catch (const JobFailure& failure) {
        EXPECT_STREQ(failure.what(), "the first failure");
    }
    EXPECT_TRUE(watcher_met && failing_met) << "the two jobs did not run at the same time";
    EXPECT_TRUE(watcher_saw_cancel);
    EXPECT_FALSE(dependent_ran);
    EXPECT_FALSE(later_ran);
}

TEST(SchedulerTest, FailureRunsStopCallbacksOfRunningJobs) {
    Scheduler scheduler(2);
    Signal watcher_ready;
    Signal callback_ran;
    std::atomic<bool> woken{false};
    const JobId watcher = scheduler.add("watcher", {}, [&](const CancelToken& token) {
        // What a RUN step does: kill its process when the build is cancelled.
        std::stop_callback on_cancel(token.stop_token(), [&] { callback_ran.raise(); });
        watcher_ready.raise();
        woken = callback_ran.wait();
    });
    const JobId failing = scheduler.add("failing", {}, [&](const CancelToken&) {
        watcher_ready.wait();
        throw JobFailure("failed");
    });
    EXPECT_THROW(scheduler.run({watcher, failing}), JobFailure);
    EXPECT_TRUE(woken);
}

TEST(SchedulerTest, CycleIsAnErrorBeforeAnythingRuns) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId independent = recorder.add(scheduler, {});
    recorder.add(scheduler, {3});  // 1 → 3 → 2 → 1
    recorder.add(scheduler, {1});
    recorder.add(scheduler, {2, independent});
    try {
        scheduler.run({independent});
        ADD_FAILURE() << "run() returned";
    } catch (const InterruptedError&) {
        ADD_FAILURE() << "a cycle is not an interruption";
    } catch (const Error& error) {
        EXPECT_STREQ(error.what(), "jobs wait for each other in a cycle: `job 1` → `job 3` → `job 2` → `job 1`");
    }
    EXPECT_EQ(recorder.runs(independent), 0);
}

TEST(SchedulerTest, SelfDependencyIsACycle) {
    Scheduler scheduler(1);
    const JobId self = scheduler.add("self", {0}, [](const CancelToken&) {});
    EXPECT_THROW(scheduler.run({self}), Error);
}

TEST(SchedulerTest, UnknownDependencyIsAnErrorBeforeAnythingRuns) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId fine = recorder.add(scheduler, {});
    recorder.add(scheduler, {fine, 42});
    try {
        scheduler.run({fine});
        ADD_FAILURE() << "run() returned";
    } catch (const Error& error) {
        EXPECT_STREQ(error.what(), "job `job 1` waits for job 42, which was never added");
    }
    EXPECT_EQ(recorder.runs(fine), 0);
}

TEST(SchedulerTest, UnknownTargetIsAnErrorBeforeAnythingRuns) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId fine = recorder.add(scheduler, {});
    EXPECT_THROW(scheduler.run({fine, 7}), Error);
    EXPECT_EQ(recorder.runs(fine), 0);
}

TEST(SchedulerTest, CancelFromAnotherThreadThrowsInterrupted) {
    Scheduler scheduler(2);
    Signal started;
    std::atomic<bool> saw_cancel{false};
    std::atomic<bool> next_ran{false};
    const JobId waiting = scheduler.add("waiting", {}, [&](const CancelToken& token) {
        started.raise();
        saw_cancel = token.wait_for(k_patience);
        // A job interrupted half-way returns normally; run() must still not report success.
    });
    const JobId next = scheduler.add("next", {waiting}, [&](const CancelToken&) { next_ran = true; });
    std::jthread canceller([&] {
        if (started.wait()) scheduler.cancel();
    });
    EXPECT_THROW(scheduler.run({next}), InterruptedError);
    EXPECT_TRUE(saw_cancel);
    EXPECT_FALSE(next_ran);
}

TEST(SchedulerTest, JobErrorAfterCancelStillReportsTheInterruption) {
    Scheduler scheduler(1);
    const JobId job = scheduler.add("job", {}, [&](const CancelToken& token) {
        scheduler.cancel();
        if (token.cancelled()) throw JobFailure("stopped early");
    });
    EXPECT_THROW(scheduler.run({job}), InterruptedError);
}

TEST(SchedulerTest, FailureBeforeCancelIsWhatRunThrows) {
    Scheduler scheduler(2);
    Signal failing_may_throw;
    const JobId watcher = scheduler.add("watcher", {}, [&](const CancelToken& token) {
        failing_may_throw.raise();
        // Ctrl-C arriving while the build is already failing.
        if (token.wait_for(k_patience)) scheduler.cancel();
    });
    const JobId failing = scheduler.add("failing", {}, [&](const CancelToken&) {
        failing_may_throw.wait();
        throw JobFailure("failed first");
    });
    EXPECT_THROW(scheduler.run({watcher, failing}), JobFailure);
}

TEST(SchedulerTest, CancelBeforeRunStartsNothing) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId id = recorder.add(scheduler, {});
    scheduler.cancel();
    EXPECT_THROW(scheduler.run({id}), InterruptedError);
    EXPECT_EQ(recorder.runs(id), 0);
}

TEST(SchedulerTest, RunsOnce) {
    Scheduler scheduler(2);
    Recorder recorder;
    const JobId id = recorder.add(scheduler, {});
    scheduler.run({id});
    EXPECT_THROW(scheduler.run({id}), Error);
    EXPECT_THROW(recorder.add(scheduler, {}), Error);
    EXPECT_EQ(recorder.runs(id), 1);
}

TEST(SchedulerTest, ZeroJobsIsAnError) {
    EXPECT_THROW(Scheduler(0), Error);
}

TEST(SchedulerTest, RandomGraphsRunEachJobOnceAfterItsDependencies) {
    constexpr std::size_t k_jobs = 500;
    for (unsigned seed = 1; seed <= 5; ++seed) {
        SCOPED_TRACE("seed " + std::to_string(seed));
        std::mt19937 random(seed);
        // Jobs depend only on jobs earlier in a random order, so the graph is acyclic while many
        // dependencies name jobs added later.
        std::vector<std::size_t> by_rank(k_jobs);
        std::iota(by_rank.begin(), by_rank.end(), 0);
        std::shuffle(by_rank.begin(), by_rank.end(), random);
        std::vector<std::vector<JobId>> after(k_jobs);
        for (std::size_t rank = 1; rank < k_jobs; ++rank) {
            const std::size_t count = std::uniform_int_distribution<std::size_t>(0, 4)(random);
            for (std::size_t i = 0; i < count; ++i)
                after[by_rank[rank]].push_back(by_rank[std::uniform_int_distribution<std::size_t>(0, rank - 1)(random)]);
        }

        Scheduler everything(4);
        Recorder all_runs;
        std::vector<JobId> all(k_jobs);
        for (std::size_t id = 0; id < k_jobs; ++id) all[id] = all_runs.add(everything, after[id]);
        everything.run(all);
        EXPECT_EQ(all_runs.early_starts(), 0);
        for (JobId id : all) EXPECT_EQ(all_runs.runs(id), 1) << "job " << id;

        std::vector<JobId> targets;
        for (int i = 0; i < 5; ++i) targets.push_back(std::uniform_int_distribution<std::size_t>(0, k_jobs - 1)(random));
        std::vector<bool> needed(k_jobs, false);
        for (std::vector<JobId> to_visit = targets; !to_visit.empty();) {
            const JobId id = to_visit.back();
            to_visit.pop_back();
            if (needed[id]) continue;
            needed[id] = true;
            to_visit.insert(to_visit.end(), after[id].begin(), after[id].end());
        }
        Scheduler some(4);
        Recorder some_runs;
        for (std::size_t id = 0; id < k_jobs; ++id) some_runs.add(some, after[id]);
        some.run(targets);
        EXPECT_EQ(some_runs.early_starts(), 0);
        for (std::size_t id = 0; id < k_jobs; ++id) EXPECT_EQ(some_runs.runs(id), needed[id] ? 1 : 0) << "job " << id;
    }
}

TEST(CancelTokenTest, DefaultTokenIsNeverCancelled) {
    const CancelToken token;
    EXPECT_FALSE(token.cancelled());
    EXPECT_FALSE(token.wait_for(std::chrono::milliseconds(1)));
}

TEST(CancelTokenTest, WaitForReturnsOnceCancelled) {
    std::stop_source source;
    const CancelToken token(source.get_token());
    EXPECT_FALSE(token.cancelled());
    std::jthread canceller([&] { source.request_stop(); });
    EXPECT_TRUE(token.wait_for(k_patience));
    EXPECT_TRUE(token.cancelled());
}

TEST(DefaultJobCountTest, IsAtLeastOne) {
    EXPECT_GE(default_job_count(), 1u);
}

}  // namespace
}  // namespace cbuild::builder
