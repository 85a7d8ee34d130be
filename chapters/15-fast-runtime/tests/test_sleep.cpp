// sleep_for: a timer that lives in the reactor (a deadline in its list, no fd), cancelled by
// destroying it.
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
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

using namespace std::chrono_literals;
using testing::CountingWaker;

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
    SCHEDULER.run(); // asleep in epoll_wait until the deadline: no fd registered, no task
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
    // loses. The timer is polled first, so it is in the reactor's list when it loses;
    // destroying it takes it out; no thread sleeps on, and epoll_wait is not held until 30 s.
    SCHEDULER.spawn(chain(select(ready_on_second_poll(), sleep_for(30s)),
                          [](Either<Unit, Unit>) { return ready_now(); }));
    SCHEDULER.run();
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(testing::open_fd_count(::getpid()) == fds);
}

TEST_CASE("a Sleep destroyed before it fires leaves no timer behind, and never wakes") {
    LeavesRuntimeEmpty check;
    CountingWaker task;
    {
        Sleep sleep = sleep_for(1ms);
        CHECK_FALSE(sleep.poll(task.waker));
        CHECK(REACTOR.timers() == 1);
        CHECK(REACTOR.registrations() == 0); // a timer is not an fd
    }
    CHECK(REACTOR.timers() == 0);
    std::this_thread::sleep_for(5ms); // well past its deadline
    REACTOR.wait(0);
    CHECK(task.wakes() == 0);
}

TEST_CASE("a sleep costs no fd") {
    LeavesRuntimeEmpty check;
    const int fds = testing::open_fd_count(::getpid());
    Sleep sleep = sleep_for(30s);
    CHECK_FALSE(sleep.poll(Waker([] {})));
    CHECK(testing::open_fd_count(::getpid()) == fds); // stage 14's timerfd was one more
}

TEST_CASE("many sleeps fire in the order of their deadlines, whatever the order they start in") {
    LeavesRuntimeEmpty check;
    auto order = std::make_shared<std::vector<int>>();
    for (int ms : {40, 10, 30, 0, 20}) {
        SCHEDULER.spawn(chain(sleep_for(std::chrono::milliseconds(ms)), [order, ms](Unit) {
            order->push_back(ms);
            return ready_now();
        }));
    }
    SCHEDULER.run();
    CHECK(*order == std::vector<int>{0, 10, 20, 30, 40});
}

TEST_CASE("a Sleep is fused: after its output, every poll says not yet and arms nothing") {
    LeavesRuntimeEmpty check;
    Sleep sleep = sleep_for(0ms);
    CHECK(sleep.poll(Waker([] {})));
    CHECK_FALSE(sleep.poll(Waker([] {})));
    CHECK(REACTOR.timers() == 0);
}
