// Benchmark: the seed's two designs, side by side. Many idle tasks (waiting for something
// that does not happen, like connections whose clients say nothing) and one busy task that
// wakes itself. ScanScheduler looks at every task's "woken" flag on each turn; Scheduler pops
// the one runnable task from its queue. One operation is one wake -> poll of the busy task,
// which is also one turn of the run loop.
//
// Not a test: nothing here asserts on a time. Run it with
//   meson test -C build-release --benchmark --suite NN-stage -v
// or directly: build-release/chapters/NN-stage/scan-vs-queue [--quick]
// (NN-stage: 09-scheduler for the article's Scheduler, 10-robust-scheduler for stage 10's).
// Each result is one line `BENCH {json}` (read by tests/bench/run) followed by a table.
#include "future.hpp"
#include "reactor.hpp"
#include "scan_scheduler.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// What the idle tasks and the busy one share. It lives on the benchmark's stack, which
// outlives the run; the futures only point at it.
struct Shared {
    bool done = false;         // set by the busy task when it finishes
    std::vector<Waker> parked; // the idle tasks' wakers, to end them when it does
    Clock::time_point first;
    Clock::time_point last;
};

// Idle: not done until the busy task is; leaves its waker where the busy task finds it.
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

// Busy: wakes itself `left` times, timing from its first poll to its last; then ends the
// idle tasks.
// Thrown by Busy, when it is done, out of Scheduler::run(): the only way to leave it.
struct Finished {};

struct Busy {
    using Output = Unit;
    Shared* shared;
    std::size_t left;
    bool leave_by_throwing; // to leave the article's Scheduler::run(), which never returns
    bool started = false;
    std::optional<Unit> poll(const Waker& waker) {
        if (!started) {
            started = true;
            shared->first = Clock::now();
        }
        if (left == 0) {
            shared->last = Clock::now();
            shared->done = true;
            for (const Waker& idle : shared->parked) {
                idle.wake();
            }
            if (leave_by_throwing) {
                throw Finished{};
            }
            return Unit{};
        }
        --left;
        waker.wake();
        return std::nullopt;
    }
};

struct Result {
    std::string name;
    std::size_t idle;
    double ns_per_poll;
};

template <class S>
Result busy_among_idle(S& scheduler, std::string_view design, std::size_t idle, std::size_t wakes) {
    Shared shared;
    shared.parked.reserve(idle);
    for (std::size_t i = 0; i < idle; ++i) {
        scheduler.spawn(Idle{&shared});
    }
    bool is_scheduler = std::is_same_v<S, Scheduler>;
    scheduler.spawn(Busy{&shared, wakes, is_scheduler});
    try {
        scheduler.run();
    } catch (const Finished&) {
    }
    double ns = std::chrono::duration<double, std::nano>(shared.last - shared.first).count() /
                static_cast<double>(wakes);
    std::string name = std::string(design) + "_" + std::to_string(idle) + "_idle";
    std::printf("BENCH {\"name\": \"%s\", \"about\": \"%s: one wake -> poll of the busy task, "
                "%zu idle tasks\", \"ops\": %zu, \"ns_per_op\": %.2f}\n",
                name.c_str(),
                design == "scan" ? "every task in one list, scanned (ScanScheduler)"
                                 : "runnable queue (Scheduler)",
                idle, wakes, ns);
    std::fflush(stdout);
    return {name, idle, ns};
}

// What one zero-timeout look at the reactor costs: stage 10's Scheduler pays it once every 61
// polls while tasks stay runnable.
double reactor_look(std::size_t looks) {
    auto start = Clock::now();
    for (std::size_t i = 0; i < looks; ++i) {
        REACTOR.wait(0);
    }
    double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count() /
                static_cast<double>(looks);
    std::printf("BENCH {\"name\": \"reactor_wait_0\", \"about\": \"REACTOR.wait(0), the look at "
                "the reactor, which stage 10 pays once every 61 polls\", \"ops\": %zu, \"ns_per_op\": "
                "%.2f}\n", looks, ns);
    return ns;
}

} // namespace

int main(int argc, char** argv) {
    std::size_t scale = (argc > 1 && std::string_view(argv[1]) == "--quick") ? 100 : 1;
    double look = reactor_look(100'000 / scale);
    std::vector<Result> results;
    for (std::size_t idle : {0, 100, 1'000, 10'000}) {
        ScanScheduler scan;
        results.push_back(busy_among_idle(scan, "scan", idle, 10'000 / scale));
        Scheduler queue;
        results.push_back(busy_among_idle(queue, "queue", idle, 100'000 / scale));
    }
    std::printf("\none REACTOR.wait(0): %.0f ns (stage 10 pays it once every 61 polls)\n", look);
    std::printf("%-12s %22s %22s\n", "idle tasks", "scan: ns per poll", "queue: ns per poll");
    for (std::size_t i = 0; i + 1 < results.size(); i += 2) {
        std::printf("%-12zu %22.0f %22.0f\n", results[i].idle, results[i].ns_per_poll,
                    results[i + 1].ns_per_poll);
    }
}
