// with_timeout: a future that gives up when its time is up, built from select and sleep_for
//
// The challenge: write, in sleep.hpp (tokio keeps its `timeout` next to `sleep` too),
//
//     template <Future F>
//     auto with_timeout(F future, std::chrono::nanoseconds limit);
//
// which returns a future whose Output is std::optional<typename F::Output>: the output of
// `future` if it finishes first, std::nullopt if `limit` passes first. The clock starts when
// with_timeout is called, as sleep_for's does. Whichever side loses is destroyed at once: an
// unfinished future is cancelled, a timer that has not fired leaves the reactor. Build it
// from select and sleep_for; chain (or a small class of your own) turns select's Either into
// the optional.
#include "future.hpp"
#include "reactor.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "sleep.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <utility>

using namespace std::chrono_literals;

// The test doubles are in the global namespace, where with_timeout is declared: a call with
// one of them as its argument finds it there (argument-dependent lookup), and finds nothing,
// without a compile error, while it does not exist yet.

// Never: a future that is never ready. It holds a token, so the test can tell when it is
// destroyed (the token's use_count drops back to 1).
struct Never {
    using Output = int;
    std::shared_ptr<int> token;
    explicit Never(std::shared_ptr<int> t) : token(std::move(t)) {}
    std::optional<int> poll(const Waker&) { return std::nullopt; }
};

// Ready: a future that is ready on its first poll, with `value`.
struct Ready {
    using Output = int;
    int value;
    explicit Ready(int v) : value(v) {}
    std::optional<int> poll(const Waker&) { return value; }
};

// Record: runs `future` as a task, and keeps its output where the test can look at it.
template <Future F>
struct Record {
    using Output = Unit;
    F future;
    std::optional<typename F::Output>* output;
    Record(F f, std::optional<typename F::Output>* out) : future(std::move(f)), output(out) {}
    std::optional<Unit> poll(const Waker& waker) {
        if (auto value = future.poll(waker)) {
            output->emplace(std::move(*value));
            return Unit{};
        }
        return std::nullopt;
    }
};

template <class F>
concept HasWithTimeout = requires(F future) {
    { with_timeout(std::move(future), std::chrono::nanoseconds(1)) } -> Future;
};

template <class F>
using TimeoutOutput = typename decltype(with_timeout(std::declval<F>(), 1ns))::Output;

namespace {

// The checks, in a template so that they compile while with_timeout does not exist.
template <class N = Never, class R = Ready>
void check_with_timeout() {
    if constexpr (!HasWithTimeout<N> || !HasWithTimeout<R>) {
        FAIL("there is no with_timeout(F future, std::chrono::nanoseconds limit) yet: declare "
             "it in sleep.hpp, in the global namespace");
    } else if constexpr (!std::same_as<TimeoutOutput<N>, std::optional<int>>) {
        FAIL("with_timeout(future, limit)'s Output should be std::optional<F::Output> "
             "(std::optional<int> for a future of int)");
    } else {
        Waker waker([] {});

        SUBCASE("a future that finishes in time gives its output, and the timer is cancelled") {
            auto timed = with_timeout(R(7), 30s);
            std::optional<std::optional<int>> output = timed.poll(waker);
            INFO("a future ready at its first poll should make with_timeout ready at once");
            REQUIRE(output.has_value());
            CHECK(*output == std::optional<int>(7));
            INFO("the 30 s timer lost: it should have left the reactor");
            CHECK(REACTOR.registrations() == 0);
        }

        SUBCASE("a future that does not finish in time gives nullopt, and is destroyed") {
            auto token = std::make_shared<int>(0);
            // The outer select with a 5 s timer is this test's deadline: if with_timeout never
            // fires, the test fails instead of hanging.
            std::optional<Either<std::optional<int>, Unit>> outcome;
            auto start = std::chrono::steady_clock::now();
            SCHEDULER.spawn(Record(select(with_timeout(N(token), 50ms), sleep_for(5s)), &outcome));
            SCHEDULER.run();
            auto waited = std::chrono::steady_clock::now() - start;
            REQUIRE(outcome.has_value());
            INFO("with_timeout(never ready, 50 ms) should be ready after 50 ms, not after 5 s");
            REQUIRE(outcome->is_left());
            CHECK(outcome->left() == std::nullopt);
            CHECK(waited >= 50ms);
            INFO("the future that lost should have been destroyed the moment the time was up");
            CHECK(token.use_count() == 1);
            CHECK(REACTOR.registrations() == 0);
        }
    }
}

} // namespace

TEST_CASE("with_timeout gives the future's output in time, or nullopt once its time is up") {
    check_with_timeout();
}
