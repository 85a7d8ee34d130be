// Micro-benchmarks of a stage's runtime: what one spawn, one wake -> poll and one yield cost.
// (The seed's two designs, scanning every task or queueing the runnable ones, are compared by
// stage 09's own chapters/09-scheduler/bench/scan_vs_queue.cpp.)
//
// Compiled twice (see tests/bench/meson.build): against chapters/10-robust-scheduler's own
// headers and sources (the runtime of stages 11 to 14), and against chapters/15-fast-runtime's
// headers and runtime library, so each program measures exactly the runtime its stage teaches.
// It uses only what both stages have: SCHEDULER.spawn(future), SCHEDULER.run(), Waker and its
// wake(), the Future concept, Unit. tests/bench/tokio/src/bin/tokio-bench.rs runs the same
// benchmarks on tokio. Each benchmark prints one line,
//   BENCH {"name": ..., "about": ..., "ops": N, "ns_per_op": X}
// which tests/bench/run collects (it runs this program once per round, and reports medians).
// `--quick` runs a hundredth of the work, for the harness's smoke mode.
//
// Not a test: nothing here asserts on a time.
#include "future.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string_view>

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

// YieldNow: tokio's `yield_now()` as a future of our runtime: on its first poll it wakes its
// task and says "not yet"; on the next, it is done. (tokio's defers that wake until the
// runtime has looked at its I/O driver; ours is an ordinary wake, queued at once.)
struct YieldNow {
    using Output = Unit;
    bool yielded = false;
    std::optional<Unit> poll(const Waker& waker) {
        if (yielded) {
            return Unit{};
        }
        yielded = true;
        waker.wake();
        return std::nullopt;
    }
};

// Yields: a task that awaits a fresh YieldNow `left` times, what tokio's
// `for _ in 0..n { yield_now().await }` compiles to: a future polled inside the task's.
struct Yields {
    using Output = Unit;
    std::size_t left;
    YieldNow current{};
    std::optional<Unit> poll(const Waker& waker) {
        while (left > 0) {
            if (!current.poll(waker)) {
                return std::nullopt;
            }
            --left;
            current = YieldNow{};
        }
        return Unit{};
    }
};

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
// While tasks stay runnable, run() looks at the reactor (epoll_wait with timeout 0) once
// every Scheduler::polls_between_io_checks polls, so that system call is shared by that many
// wakes whether one task wakes itself or many do.
void wake_poll(std::size_t tasks, std::size_t wakes, std::string_view name,
               std::string_view about) {
    for (std::size_t i = 0; i < tasks; ++i) {
        SCHEDULER.spawn(Yield{wakes});
    }
    auto start = Clock::now();
    SCHEDULER.run();
    report(name, about, tasks * wakes, Clock::now() - start);
}

// One task yields `yields` times: one yield is a wake, a "not yet", and the next poll.
void yield_now(std::size_t yields) {
    SCHEDULER.spawn(Yields{yields});
    auto start = Clock::now();
    SCHEDULER.run();
    report("yield_now_1_task",
           "one task awaits a yield_now() future in a loop: each one wakes the task, says not "
           "yet, and is done at the next poll",
           yields, Clock::now() - start);
}

} // namespace

int main(int argc, char** argv) {
    std::size_t scale = (argc > 1 && std::string_view(argv[1]) == "--quick") ? 100 : 1;
    spawn_and_complete(1'000'000 / scale, 10'000);
    wake_poll(1, 1'000'000 / scale, "wake_poll_1_task",
              "one task wakes itself; each wake is followed by its next poll");
    wake_poll(1'000, 1'000 / scale, "wake_poll_1000_tasks",
              "1,000 tasks wake themselves in turn; one wake and its poll");
    yield_now(1'000'000 / scale);
}
