// sleep_for: a timer that lives in the reactor (a timerfd), cancelled by destroying it.
#include "chain.hpp"
#include "future.hpp"
#include "leaves_runtime_empty.hpp"
#include "poll_fn.hpp"
#include "reactor.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "server_process.hpp"
#include "sleep.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <utility>

using namespace std::chrono_literals;

namespace {

auto ready_now() {
    return poll_fn([](const Waker&) { return std::optional(Unit{}); });
}

// "Not yet" on its first poll (it wakes itself), ready on the second: a select polls its
// other side in between.
auto ready_on_second_poll() {
    return poll_fn([polled = false](const Waker& waker) mutable -> std::optional<Unit> {
        if (std::exchange(polled, true)) {
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    });
}

} // namespace

TEST_CASE("sleep_for is ready once its time has passed, and not before") {
    LeavesRuntimeEmpty check;
    auto start = std::chrono::steady_clock::now();
    auto finished = std::make_shared<std::chrono::steady_clock::time_point>();
    SCHEDULER.spawn(chain(sleep_for(50ms), [finished](Unit) {
        *finished = std::chrono::steady_clock::now();
        return ready_now();
    }));
    SCHEDULER.run(); // asleep in epoll_wait until the timerfd is readable: no other fd, no task
    CHECK(*finished - start >= 50ms);
    CHECK(*finished - start < 2s);
}

TEST_CASE("sleep_for(0) is ready at its first wake") {
    LeavesRuntimeEmpty check;
    auto start = std::chrono::steady_clock::now();
    SCHEDULER.spawn(chain(sleep_for(0ms), [](Unit) { return ready_now(); }));
    SCHEDULER.run();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("a 30 s timer that loses a select is cancelled: run() returns at once") {
    LeavesRuntimeEmpty check;
    const int fds = testing::open_fd_count(::getpid());
    auto start = std::chrono::steady_clock::now();
    // The shape of the graceful shutdown: "the requests are done" wins, the grace timer
    // loses. The timer is polled first, so it is registered with the reactor when it loses;
    // destroying it removes that registration and closes its fd; no thread sleeps on.
    SCHEDULER.spawn(chain(select(ready_on_second_poll(), sleep_for(30s)),
                          [](Either<Unit, Unit>) { return ready_now(); }));
    SCHEDULER.run();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(testing::open_fd_count(::getpid()) == fds);
}

TEST_CASE("a Sleep destroyed before it fires leaves no registration and no fd behind") {
    LeavesRuntimeEmpty check;
    const int fds = testing::open_fd_count(::getpid());
    {
        Sleep sleep = sleep_for(30s);
        CHECK_FALSE(sleep.poll(Waker([] {})));
        CHECK(REACTOR.registrations() == 1);
        CHECK(testing::open_fd_count(::getpid()) == fds + 1);
    }
    CHECK(testing::open_fd_count(::getpid()) == fds);
}
