// Counter: requests in flight, wait_for_zero, and the Guard that keeps the count honest.
#include "counter.hpp"
#include "future.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <memory>
#include <optional>
#include <stdexcept>
#include <utility>

namespace {

using testing::CountingWaker;

} // namespace

TEST_CASE("wait_for_zero is ready at once when nothing is in flight") {
    auto counter = std::make_shared<Counter>();
    auto zero = Counter::wait_for_zero(counter);
    CHECK(zero.poll(Waker([] {})));
}

TEST_CASE("wait_for_zero waits while requests are in flight and is woken by the last decrement only") {
    auto counter = std::make_shared<Counter>();
    counter->increment();
    counter->increment();
    CountingWaker task;
    auto zero = Counter::wait_for_zero(counter);

    CHECK_FALSE(zero.poll(task.waker)); // two in flight: leaves its waker
    counter->decrement();
    CHECK(task.wakes() == 0); // one left: no reason to wake
    counter->decrement();
    CHECK(task.wakes() == 1); // zero: woken...
    CHECK(zero.poll(task.waker)); // ...and ready when polled
}

TEST_CASE("a Guard counts one request for as long as it lives, and gives it back exactly once") {
    auto counter = std::make_shared<Counter>();
    {
        Counter::Guard guard(counter);
        CHECK(counter->count() == 1);
        {
            Counter::Guard moved(std::move(guard)); // still one request, now owned here
            CHECK(counter->count() == 1);
        }
        CHECK(counter->count() == 0); // given back when its last owner ended...
    }
    CHECK(counter->count() == 0); // ...and not again by the moved-from guard
}

TEST_CASE("a Guard gives its request back when the code holding it throws") {
    auto counter = std::make_shared<Counter>();
    CountingWaker task;
    auto zero = Counter::wait_for_zero(counter);
    try {
        Counter::Guard guard(counter);
        CHECK_FALSE(zero.poll(task.waker));
        throw std::runtime_error("handler failed");
    } catch (const std::runtime_error&) {
    }
    CHECK(counter->count() == 0);
    CHECK(task.wakes() == 1); // a failed handler does not hold up the shutdown
}

TEST_CASE("a decrement without its increment is a bug, reported as std::logic_error") {
    Counter counter;
    CHECK_THROWS_AS(counter.decrement(), std::logic_error);
    CHECK(counter.count() == 0);
}

TEST_CASE("a wait_for_zero future keeps its counter alive after everyone else let go") {
    auto counter = std::make_shared<Counter>();
    auto zero = Counter::wait_for_zero(counter);
    std::weak_ptr<Counter> watch = counter;
    counter.reset();
    CHECK_FALSE(watch.expired());
    CHECK(zero.poll(Waker([] {})));
}
