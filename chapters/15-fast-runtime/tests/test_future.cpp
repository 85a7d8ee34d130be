// The Future concept, and a future driven by hand.
#include "future.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <optional>

namespace {

// Countdown: becomes ready on its n-th poll, with the number of polls it took.
struct Countdown {
    using Output = int;
    int left;
    int polls = 0;

    std::optional<int> poll(const Waker&) {
        ++polls;
        if (--left > 0) {
            return std::nullopt;
        }
        return polls;
    }
};

struct NoOutputType {
    std::optional<int> poll(const Waker&);
};
struct PollReturnsBool {
    using Output = int;
    bool poll(const Waker&);
};
struct PollWithoutWaker {
    using Output = int;
    std::optional<int> poll();
};

// A function over any Future, resolved at compile time: no virtual call, no allocation.
// (This one simply polls until ready, ignoring wakes: the busy loop of stage 04, written
// once for every future. Schedulers poll only after a wake.)
template <Future F>
typename F::Output poll_until_ready(F& future) {
    Waker ignored([] {});
    for (;;) {
        if (auto output = future.poll(ignored)) {
            return *output;
        }
    }
}

} // namespace

TEST_CASE("a type is a Future when poll(waker) returns std::optional of its Output") {
    static_assert(Future<Countdown>);
    static_assert(!Future<NoOutputType>);
    static_assert(!Future<PollReturnsBool>);
    static_assert(!Future<PollWithoutWaker>);
    static_assert(!Future<int>);
}

TEST_CASE("a future that needs N polls is not ready before its N-th poll") {
    Countdown countdown{3};
    Waker waker([] {});
    CHECK_FALSE(countdown.poll(waker).has_value());
    CHECK_FALSE(countdown.poll(waker).has_value());
    CHECK(countdown.poll(waker) == 3);
}

TEST_CASE("a future does nothing until it is polled") {
    Countdown countdown{2};
    CHECK(countdown.polls == 0);
    CHECK(poll_until_ready(countdown) == 2);
    CHECK(countdown.polls == 2);
}
