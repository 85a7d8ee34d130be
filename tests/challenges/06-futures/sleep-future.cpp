// A timer is a future too: Sleep, polled at spawn and once more when its time is up
//
// The challenge: write, in future.hpp, a timer future
//
//     class Sleep {
//     public:
//         using Output = Unit;
//         explicit Sleep(std::chrono::milliseconds duration);
//         int fd() const;             // its timerfd: the id to spawn it under
//         std::optional<Unit> poll(); // Unit once `duration` has passed since its first poll
//     };
//
// It owns a timerfd (timerfd_create, non-blocking), which becomes readable when the time is
// up. That is all the SketchScheduler needs to drive it: spawned under fd(), it is polled at
// spawn, and again only when epoll reports the timer. Its first poll starts the clock (a
// future does nothing until it is polled), and no poll ever blocks.
#include "future.hpp"
#include "sketch_scheduler.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <chrono>
#include <concepts>
#include <optional>
#include <thread>

using namespace std::chrono_literals;

// Yours, in future.hpp. Declared here as well, so that this test compiles before it exists;
// the test checks that it has been defined.
class Sleep;

namespace {

template <class T>
concept Complete = requires { sizeof(T); };

template <class S>
concept SleepFuture = Complete<S> && Future<S> && std::same_as<typename S::Output, Unit> &&
                      std::constructible_from<S, std::chrono::milliseconds> &&
                      requires(const S& sleep) {
                          { sleep.fd() } -> std::same_as<int>;
                      };


// Any future, with its polls counted where the test can see them.
template <Future F>
struct Counted {
    using Output = typename F::Output;
    F future;
    int* polls;

    std::optional<Output> poll() {
        ++*polls;
        return future.poll();
    }
};

// The checks are templates (S is Sleep), so that they compile while Sleep is only declared.
// Without a Sleep they check nothing: the first test case says what is missing, once.
template <class S>
void polled_at_spawn_and_when_due() {
    if constexpr (SleepFuture<S>) {
        SketchScheduler scheduler;
        int polls = 0;
        S nap(100ms);
        const int id = nap.fd();
        const auto start = std::chrono::steady_clock::now();
        scheduler.spawn(id, Counted<S>{std::move(nap), &polls});
        CHECK(polls == 1);
        REQUIRE(scheduler.tasks() == 1); // not due yet: registered, waiting for its timer

        const std::size_t polled = scheduler.turn(2000); // sleeps until epoll reports the timer
        const auto waited = std::chrono::steady_clock::now() - start;
        INFO("one turn of the sketch, with up to 2 s to wait, polled ", polled, " task(s)");
        CHECK(polled == 1);
        CHECK(scheduler.tasks() == 0); // done when polled after its timer fired
        CHECK(polls == 2);             // at spawn, and once when due: never in between
        CHECK(waited >= 100ms);        // and not before its time
    }
}

template <class S>
void clock_starts_at_first_poll() {
    if constexpr (SleepFuture<S>) {
        {
            S zero(0ms);
            INFO("a Sleep of 0 ms should be ready at its first poll (careful: a timerfd given a "
                 "time of 0 is disarmed, and never fires)");
            CHECK(zero.poll().has_value());
        }
        S nap(50ms);
        // Time passing before the first poll, on purpose: it must not count.
        std::this_thread::sleep_for(100ms);
        {
            INFO("a Sleep made 100 ms ago but never polled should not be due: its first poll "
                 "starts the clock");
            CHECK_FALSE(nap.poll().has_value());
        }
        pollfd entry{nap.fd(), POLLIN, 0};
        INFO("its timerfd should become readable once its time is up (waited up to 2 s)");
        REQUIRE(::poll(&entry, 1, 2000) == 1);
        CHECK(nap.poll().has_value());
    }
}

template <class S>
void the_one_due_is_polled() {
    if constexpr (SleepFuture<S>) {
        SketchScheduler scheduler;
        int long_polls = 0;
        int short_polls = 0;
        S long_nap(300ms);
        S short_nap(50ms);
        const int long_id = long_nap.fd();
        const int short_id = short_nap.fd();
        scheduler.spawn(long_id, Counted<S>{std::move(long_nap), &long_polls});
        scheduler.spawn(short_id, Counted<S>{std::move(short_nap), &short_polls});

        CHECK(scheduler.turn(2000) == 1); // the short one is due first
        CHECK(short_polls == 2);
        CHECK(long_polls == 1); // not reported, not polled
        CHECK(scheduler.tasks() == 1);
        CHECK(scheduler.turn(2000) == 1);
        CHECK(long_polls == 2);
        CHECK(scheduler.tasks() == 0);
    }
}

} // namespace

TEST_CASE("future.hpp has Sleep") {
    INFO("future.hpp has no Sleep yet (or not the one described): a class with `using Output = "
         "Unit;`, a constructor from std::chrono::milliseconds, `int fd() const` and "
         "`std::optional<Unit> poll()`");
    CHECK(SleepFuture<Sleep>);
}

TEST_CASE("a Sleep on the sketch is polled at spawn, then once when its timer fires") {
    polled_at_spawn_and_when_due<Sleep>();
}

TEST_CASE("a Sleep's first poll starts its clock, and a Sleep of 0 is ready at once") {
    clock_starts_at_first_poll<Sleep>();
}

TEST_CASE("of two Sleeps, the one that is due is polled, the other is left alone") {
    the_one_due_is_polled<Sleep>();
}
