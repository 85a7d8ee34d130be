// Micro-benchmarks of stage 09's runtime: what one spawn, and one wake -> poll, cost, and the
// seed's two designs (scan every task, or queue the runnable ones) among 10,000 idle tasks.
//
// Compiled against chapters/09-scheduler's own headers and sources (tests/bench/meson.build),
// so it measures exactly the runtime that stage teaches. Each benchmark prints one line,
//   BENCH {"name": ..., "about": ..., "ops": N, "ns_per_op": X}
// which tests/bench/run collects (it runs this program once per round, and reports medians).
// `--quick` runs a hundredth of the work, for the harness's smoke mode.
//
// Not a test: nothing here asserts on a time.
#include "future.hpp"
#include "scheduler.hpp"
#include "waker.hpp"
#ifdef WITH_SCAN_VS_QUEUE
#include "scan_scheduler.hpp"
#endif

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string_view>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// Ready: a task that is done on its first poll: what spawning costs, and nothing else.
struct Ready {
    using Output = Unit;
    std::optional<Unit> poll(const Waker&) { return Unit{}; }
};

// Yield: a task that wakes itself `left` times before it is done, like a task whose I/O is
// always ready. Each wake sends it back through the runnable queue to its next poll.
struct Yield {
    using Output = Unit;
    std::size_t left;
    std::optional<Unit> poll(const Waker& waker) {
        if (left == 0) {
            return Unit{};
        }
        --left;
        waker.wake();
        return std::nullopt;
    }
};

void report(std::string_view name, std::string_view about, std::size_t ops, Clock::duration took) {
    double ns = std::chrono::duration<double, std::nano>(took).count() / static_cast<double>(ops);
    std::printf(
        "BENCH {\"name\": \"%.*s\", \"about\": \"%.*s\", \"ops\": %zu, \"ns_per_op\": %.2f}\n",
        static_cast<int>(name.size()), name.data(), static_cast<int>(about.size()), about.data(),
        ops, ns);
    std::fflush(stdout);
}

// Spawns `total` Ready tasks and runs them to completion, `batch` at a time (a million live
// tasks at once would measure the memory allocator's page faults more than the scheduler).
void spawn_and_complete(std::size_t total, std::size_t batch) {
    auto start = Clock::now();
    for (std::size_t done = 0; done < total; done += batch) {
        for (std::size_t i = 0; i < batch; ++i) {
            SCHEDULER.spawn(Ready{});
        }
        SCHEDULER.run();
    }
    report("spawn_and_complete",
           "spawn a task that is done on its first poll, and run it (batches of 10,000)", total,
           Clock::now() - start);
}

// `tasks` tasks wake themselves `wakes` times each: the cost of one wake -> poll round trip.
// With one task, every turn of run() polls it once and then looks at the reactor
// (epoll_wait with timeout 0); with many, that look is shared by the whole turn.
void wake_poll(std::size_t tasks, std::size_t wakes, std::string_view name,
               std::string_view about) {
    for (std::size_t i = 0; i < tasks; ++i) {
        SCHEDULER.spawn(Yield{wakes});
    }
    auto start = Clock::now();
    SCHEDULER.run();
    report(name, about, tasks * wakes, Clock::now() - start);
}

#ifdef WITH_SCAN_VS_QUEUE
// The seed's two designs with 10,000 idle tasks (tasks waiting for something that does not
// happen, like connections whose clients say nothing) and one busy task that wakes itself.
// ScanScheduler looks at every task's "woken" flag on each turn; Scheduler pops the one
// runnable task from its queue. One operation is one wake -> poll of the busy task.
// (Built only when chapters/09-scheduler has no scan-vs-queue benchmark of its own.)

// What the idle tasks and the busy one share. It lives on the benchmark's stack, which
// outlives the run; the futures only point at it.
struct Shared {
    bool done = false;         // set by the busy task when it finishes
    std::vector<Waker> parked; // the idle tasks' wakers, to end them when it does
    Clock::time_point first, last;
};

// Idle: not done until the busy task is; keeps its waker where the busy task will find it.
struct Idle {
    using Output = Unit;
    Shared* shared;
    bool parked = false;
    std::optional<Unit> poll(const Waker& waker) {
        if (shared->done) {
            return Unit{};
        }
        if (!parked) {
            shared->parked.push_back(waker);
            parked = true;
        }
        return std::nullopt;
    }
};

// Busy: wakes itself `left` times, timing its polls; then ends the idle tasks.
struct Busy {
    using Output = Unit;
    Shared* shared;
    std::size_t left;
    bool started = false;
    std::optional<Unit> poll(const Waker& waker) {
        if (!started) {
            shared->first = Clock::now();
            started = true;
        }
        if (left == 0) {
            shared->last = Clock::now();
            shared->done = true;
            for (const Waker& idle : shared->parked) {
                idle.wake();
            }
            return Unit{};
        }
        --left;
        waker.wake();
        return std::nullopt;
    }
};

template <class S>
void busy_among_idle(S& scheduler, std::size_t idle, std::size_t wakes, std::string_view name,
                     std::string_view about) {
    Shared shared;
    shared.parked.reserve(idle);
    for (std::size_t i = 0; i < idle; ++i) {
        scheduler.spawn(Idle{&shared});
    }
    scheduler.spawn(Busy{&shared, wakes});
    scheduler.run();
    report(name, about, wakes, shared.last - shared.first);
}
#endif

} // namespace

int main(int argc, char** argv) {
    std::size_t scale = (argc > 1 && std::string_view(argv[1]) == "--quick") ? 100 : 1;
    spawn_and_complete(1'000'000 / scale, 10'000);
    wake_poll(1, 1'000'000 / scale, "wake_poll_1_task",
              "one task wakes itself; each wake is followed by its next poll");
    wake_poll(1'000, 1'000 / scale, "wake_poll_1000_tasks",
              "1,000 tasks wake themselves in turn; one wake and its poll");
#ifdef WITH_SCAN_VS_QUEUE
    ScanScheduler scan;
    busy_among_idle(scan, 10'000, 1'000 / scale, "scan_10000_idle",
                    "seed's first design (ScanScheduler): one wake -> poll, 10,000 idle tasks");
    busy_among_idle(SCHEDULER, 10'000, 100'000 / scale, "queue_10000_idle",
                    "runnable queue (Scheduler): one wake -> poll, 10,000 idle tasks");
#endif
}
