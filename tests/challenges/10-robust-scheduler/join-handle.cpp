// A JoinHandle: spawn hands back the task's output, for another task to wait for
//
// The challenge: make Scheduler::spawn take a future of any output type T and return a handle
// to that task's output, as tokio::spawn does:
//
//     template <Future F> JoinHandle<typename F::Output> spawn(F future);   // in Scheduler
//
// JoinHandle<T> is a Future itself, with `using Output = T;`. Polled before its task has
// finished, it leaves its waker where the task will find it and returns "not yet"; the
// task's finishing wakes it (once: no polling in a loop). Polled after, it returns the output,
// moved out of the task (so a move-only output works). If the task throws, it fails as before
// (reported on stderr), and the handle's poll throws the same exception. Dropping a handle
// does not cancel its task: it runs to the end and its output is thrown away, so every
// `SCHEDULER.spawn(f)` that ignores the handle works as before.
#include "future.hpp"
#include "scheduler.hpp"
#include "tests/scenario.hpp" // the stage's FailAfter
#include "waker.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>

using namespace std::chrono_literals;

namespace {

// What spawn returns for a future F, if it returns anything.
template <class S, class F>
using Spawned = decltype(std::declval<S&>().spawn(std::declval<F>()));

template <class S, class F>
concept SpawnsWithHandle = requires { typename Spawned<S, F>; } && Future<Spawned<S, F>> &&
                           std::same_as<typename Spawned<S, F>::Output, typename F::Output>;

// Wakes itself and says "not yet" until its n-th poll, then outputs make().
template <class Make>
struct ReadyAfter {
    using Output = std::invoke_result_t<Make&>;
    int n;
    Make make;
    std::shared_ptr<int> polls = std::make_shared<int>(0);

    std::optional<Output> poll(const Waker& waker) {
        if (++*polls >= n) {
            return make();
        }
        waker.wake();
        return std::nullopt;
    }
};
template <class Make>
ReadyAfter<Make> ready_after(int n, Make make) {
    return {n, std::move(make)};
}

// What an Awaiter saw: how often it was polled, and what the handle gave it.
template <class T>
struct Seen {
    int polls = 0;
    std::optional<T> output;
    std::string error;
};

// A task that waits for a handle and keeps what it yields (or what it threw) in `seen`.
template <class Handle>
struct Awaiter {
    using Output = Unit;
    Handle handle;
    std::shared_ptr<Seen<typename Handle::Output>> seen;

    std::optional<Unit> poll(const Waker& waker) {
        ++seen->polls;
        try {
            auto output = handle.poll(waker);
            if (!output) {
                return std::nullopt;
            }
            seen->output.emplace(std::move(*output));
        } catch (const std::exception& error) {
            seen->error = error.what();
        }
        return Unit{};
    }
};

template <class S>
void run_within_5s(S& scheduler) {
    FailAfter guard(5s, "run() did not return: a task waiting for a JoinHandle was never woken");
    scheduler.run();
}

const std::string missing =
    "Scheduler::spawn(future) should return a JoinHandle<Output>, a Future of the task's "
    "output; as shipped it takes only futures whose Output is Unit, and returns nothing";

using Number = ReadyAfter<std::unique_ptr<int> (*)()>;

template <class S>
void output_reaches_the_awaiting_task(S& scheduler) {
    // The producer says "not yet" three times before its output is ready: a handle that
    // woke its task on every poll instead of waiting would be polled more than twice.
    auto producer = ready_after(4, +[] { return std::make_unique<int>(42); });
    auto producer_polls = producer.polls;
    auto seen = std::make_shared<Seen<std::unique_ptr<int>>>();
    auto handle = scheduler.spawn(std::move(producer));
    scheduler.spawn(Awaiter<decltype(handle)>{std::move(handle), seen});
    run_within_5s(scheduler);

    CHECK(*producer_polls == 4);
    INFO("the awaiting task should get the producer's output, a std::unique_ptr<int> to 42");
    REQUIRE(seen->output.has_value());
    REQUIRE(*seen->output != nullptr);
    CHECK(**seen->output == 42);
    INFO("polled once before the output was ready, then once when the producer's end woke it");
    CHECK(seen->polls == 2);
}

template <class S>
void handle_of_a_finished_task(S& scheduler) {
    auto handle = scheduler.spawn(ready_after(1, [] { return std::string("done early"); }));
    run_within_5s(scheduler); // the task finishes; nobody has polled its handle yet
    REQUIRE(scheduler.live_tasks() == 0);

    auto seen = std::make_shared<Seen<std::string>>();
    scheduler.spawn(Awaiter<decltype(handle)>{std::move(handle), seen});
    run_within_5s(scheduler);
    INFO("a handle polled after its task finished should return the kept output at once");
    CHECK(seen->output == std::optional<std::string>("done early"));
    CHECK(seen->polls == 1);
}

template <class S>
void handle_of_a_failed_task(S& scheduler) {
    auto handle = scheduler.spawn(ready_after(2, []() -> int { throw std::runtime_error("boom"); }));
    auto seen = std::make_shared<Seen<int>>();
    scheduler.spawn(Awaiter<decltype(handle)>{std::move(handle), seen});
    run_within_5s(scheduler);
    INFO("the handle's poll should throw the exception that ended its task");
    CHECK_FALSE(seen->output.has_value());
    CHECK(seen->error == "boom");
}

template <class S>
void dropped_handle(S& scheduler) {
    auto finished = std::make_shared<bool>(false);
    auto producer = ready_after(3, [finished] {
        *finished = true;
        return 7;
    });
    { auto dropped = scheduler.spawn(std::move(producer)); } // the handle is gone at once
    run_within_5s(scheduler);
    INFO("a task whose handle was dropped should still run to its end");
    CHECK(*finished);
    CHECK(scheduler.live_tasks() == 0);
}

} // namespace

TEST_CASE("a task's output reaches the task that awaits its JoinHandle, woken once it is ready") {
    Scheduler scheduler;
    if constexpr (SpawnsWithHandle<Scheduler, Number>) {
        output_reaches_the_awaiting_task(scheduler);
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("a JoinHandle polled after its task finished returns the output at once") {
    Scheduler scheduler;
    if constexpr (SpawnsWithHandle<Scheduler, Number>) {
        handle_of_a_finished_task(scheduler);
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("a JoinHandle throws the exception that ended its task") {
    Scheduler scheduler;
    if constexpr (SpawnsWithHandle<Scheduler, Number>) {
        handle_of_a_failed_task(scheduler);
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("a task whose JoinHandle is dropped still runs to its end") {
    Scheduler scheduler;
    if constexpr (SpawnsWithHandle<Scheduler, Number>) {
        dropped_handle(scheduler);
    } else {
        FAIL_CHECK(missing);
    }
}
