// poll_fn: a future whose poll is a function. No sockets, no scheduler: the test polls.
#include "future.hpp"
#include "poll_fn.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <utility>

namespace {
const Waker noop_waker([] {});
} // namespace

static_assert(Future<PollFn<std::optional<int> (*)(const Waker&)>>);

TEST_CASE("poll_fn calls its function on every poll until the function returns a value") {
    int calls = 0;
    auto future = poll_fn([&calls](const Waker&) -> std::optional<int> {
        ++calls;
        return calls == 3 ? std::optional(42) : std::nullopt;
    });
    CHECK(future.poll(noop_waker) == std::nullopt);
    CHECK(future.poll(noop_waker) == std::nullopt);
    CHECK(future.poll(noop_waker) == 42);
    CHECK(calls == 3);
}

TEST_CASE("poll_fn hands its function the waker it was polled with") {
    std::optional<Waker> seen;
    auto future = poll_fn([&seen](const Waker& waker) -> std::optional<Unit> {
        seen = waker; // what a future does when it cannot finish yet
        return std::nullopt;
    });
    Waker waker([] {});
    future.poll(waker);
    REQUIRE(seen);
    CHECK(seen->will_wake(waker));
}

TEST_CASE("a mutable poll_fn keeps its captured state from one poll to the next") {
    auto future = poll_fn([count = 0](const Waker&) mutable -> std::optional<int> {
        if (++count < 4) {
            return std::nullopt;
        }
        return count;
    });
    std::optional<int> output;
    while (!(output = future.poll(noop_waker))) {
    }
    CHECK(output == 4);
}

TEST_CASE("poll_fn's output may be move-only") {
    auto future = poll_fn([](const Waker&) { return std::optional(std::make_unique<int>(7)); });
    std::optional<std::unique_ptr<int>> output = future.poll(noop_waker);
    REQUIRE(output);
    REQUIRE(*output);
    CHECK(**output == 7);
}

TEST_CASE("a finished poll_fn never calls its function again, and has released its captures") {
    auto owned = std::make_shared<int>(0); // the function's captured state
    int calls = 0;
    auto future = poll_fn([owned, &calls](const Waker&) -> std::optional<Unit> {
        ++calls;
        return Unit{};
    });
    CHECK(owned.use_count() == 2);
    CHECK_FALSE(future.terminated());

    CHECK(future.poll(noop_waker));
    CHECK(future.terminated());
    CHECK(owned.use_count() == 1); // the function, and what it captured, are gone at once

    // Polling a finished future is a caller's bug. Fused, it is a harmless one: "not yet",
    // and nothing runs.
    CHECK_FALSE(future.poll(noop_waker));
    CHECK(calls == 1);
}
