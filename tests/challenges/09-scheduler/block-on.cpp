// block_on: run the scheduler until one future is done, and return its output
//
// The challenge: run() never returns, so nothing a task computes comes back to the code that
// started the runtime, and a program (or a test) has no way to say "run until this is done".
// Add tokio's Runtime::block_on to Scheduler, exactly:
//
//     // Spawns `future` as a task, runs the scheduler on this thread (as run() does: polls
//     // what is runnable, sleeps in this thread's REACTOR when nothing is) until that task is
//     // done, then returns its output. Other tasks stay as they are, for the next block_on()
//     // or run().
//     template <Future F> typename F::Output block_on(F future);
//
// for a future of any output type, a move-only one too. run() stays as it is: it still
// never returns (that hole is stage 10's to close, and its test must keep failing).
#include "future.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"

#include "tests/scenario.hpp"
#include "tests/wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

namespace {

// Compute: wakes itself until its `polls`-th poll, then is done with a move-only output.
struct Compute {
    using Output = std::unique_ptr<int>;
    int value;
    int polls;
    std::optional<std::unique_ptr<int>> poll(const Waker& waker) {
        if (--polls > 0) {
            waker.wake();
            return std::nullopt;
        }
        return std::make_unique<int>(value);
    }
};

// Forever: leaves its waker in `*kept` and is never done.
struct Forever {
    using Output = Unit;
    std::shared_ptr<std::optional<Waker>> kept;
    std::optional<Unit> poll(const Waker& waker) {
        *kept = waker;
        return std::nullopt;
    }
};

// ReadByte: waits, through the reactor, for one byte on `from`; its output is that byte.
struct ReadByte {
    using Output = char;
    Fd from;
    std::optional<Registration> registration; // after `from`: removed before it is closed
    std::optional<char> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(from.get(), waker);
        }
        char byte;
        if (::recv(from.get(), &byte, 1, MSG_DONTWAIT) == 1) {
            registration.reset();
            return byte;
        }
        return std::nullopt; // edge-triggered: this was "would block", so a new edge will come
    }
};

template <class S, class F>
concept BlocksOn = requires(S& scheduler, F future) {
    { scheduler.block_on(std::move(future)) } -> std::same_as<typename F::Output>;
};

// Templates, so that the branches that call block_on compile only where it exists.
template <class S>
void check_output(S& scheduler) {
    if constexpr (!BlocksOn<S, Compute>) {
        FAIL_CHECK("Scheduler has no block_on(future): its only loop is run(), which never "
                   "returns, so no output ever gets back to the code that started it");
    } else {
        auto kept = std::make_shared<std::optional<Waker>>();
        scheduler.spawn(Forever{kept}); // still waiting when block_on returns
        FailAfter guard(3s, "block_on() did not return once its future was done");
        std::unique_ptr<int> first = scheduler.block_on(Compute{42, 3});
        REQUIRE(first);
        CHECK_MESSAGE(*first == 42, "block_on() should return its future's output, 42");
        std::unique_ptr<int> second = scheduler.block_on(Compute{7, 2});
        REQUIRE(second);
        CHECK_MESSAGE(*second == 7, "a second block_on() should run too, and return 7");
        CHECK_MESSAGE(kept->has_value(), "the other task should have been polled meanwhile");
        kept->reset();
    }
}

template <class S>
void check_sleep(S& scheduler) {
    if constexpr (BlocksOn<S, ReadByte>) {
        auto [reader, writer] = testing::socket_pair();
        pid_t runner = ::gettid();
        std::atomic<bool> saw_sleep{false};
        std::thread other([runner, &saw_sleep, writer = std::move(writer)] {
            saw_sleep = testing::wait_until_blocked_in_epoll_wait(runner, 5s);
            testing::write_all(writer, "!"); // the reactor sees it and wakes the future
        });
        FailAfter guard(6s, "block_on() did not return once its future had read its byte");
        char got = scheduler.block_on(ReadByte{std::move(reader), {}});
        other.join();
        CHECK_MESSAGE(saw_sleep, "block_on() should sleep in the reactor while nothing is runnable");
        CHECK(got == '!');
        CHECK(REACTOR.registrations() == 0);
    }
}

} // namespace

TEST_CASE("block_on() returns its future's output, though other tasks still wait") {
    Scheduler scheduler;
    check_output(scheduler);
}

TEST_CASE("block_on() sleeps in the reactor until its future can go on") {
    Scheduler scheduler;
    check_sleep(scheduler);
}
