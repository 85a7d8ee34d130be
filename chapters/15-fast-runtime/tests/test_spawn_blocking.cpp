// spawn_blocking: blocking work on a thread of its own, and a future that completes with it.
// Every test leaves the runtime as it found it: no task alive, nothing registered.
#include "chain.hpp"
#include "eventually.hpp"
#include "future.hpp"
#include "leaves_runtime_empty.hpp"
#include "poll_fn.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "socket_pair.hpp"
#include "spawn_blocking.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <utility>

using namespace std::chrono_literals;

namespace {

using testing::CountingWaker;

// Readable: ready once a byte can be read from `fd` (the test's Watchdog writes one if a
// wake-up never comes, so a broken runtime fails the test instead of hanging it).
struct Readable {
    using Output = Unit;
    Fd fd;
    std::optional<Registration> registration; // after fd: removed before it is closed
    std::optional<Unit> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(fd.get(), waker);
        }
        char byte;
        if (::recv(fd.get(), &byte, 1, MSG_DONTWAIT) == 1) {
            return Unit{};
        }
        return std::nullopt;
    }
};

using testing::eventually;

} // namespace

TEST_CASE("spawn_blocking runs the work on another thread, and its future completes after it") {
    LeavesRuntimeEmpty check;
    auto worker = std::make_shared<std::thread::id>();
    auto after = std::make_shared<bool>(false);
    SCHEDULER.spawn(chain(spawn_blocking([worker] { *worker = std::this_thread::get_id(); }),
                          [after, worker](Unit) {
                              *after = *worker != std::thread::id(); // the work is done by now
                              return poll_fn([](const Waker&) { return std::optional(Unit{}); });
                          }));
    SCHEDULER.run();
    CHECK(*after);
    CHECK(*worker != std::this_thread::get_id());
}

TEST_CASE("the blocking thread's wake ends run()'s sleep in epoll_wait") {
    LeavesRuntimeEmpty check;
    auto [watched, watchdog_end] = testing::socket_pair();
    auto outcome = std::make_shared<std::optional<bool>>(); // true: the work's wake won

    // The work returns only once run() is asleep in epoll_wait with nothing else to wake it
    // (the watchdog aside): its wake from this other thread must end that sleep.
    pid_t runner = ::gettid();
    auto saw_sleep = std::make_shared<std::atomic<bool>>(false);
    SCHEDULER.spawn(chain(select(spawn_blocking([runner, saw_sleep] {
                                     *saw_sleep = testing::wait_until_blocked_in_epoll_wait(runner, 5s);
                                 }),
                                 Readable{std::move(watched), {}}),
                          [outcome](Either<Unit, Unit> winner) {
                              *outcome = winner.is_left();
                              return poll_fn([](const Waker&) { return std::optional(Unit{}); });
                          }));
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        SCHEDULER.run();
        CHECK_FALSE(watchdog.fired());
    }
    CHECK(*saw_sleep);
    REQUIRE(outcome->has_value());
    CHECK(**outcome); // the blocking work won, not the watchdog
}

TEST_CASE("a future destroyed before its work is done is never woken by it") {
    std::promise<void> release;
    // Signals thread_done when the thread has let go of the work, which it does only after
    // it finished the work and looked for a waker to wake. The promise is shared with the
    // thread: if the REQUIRE below fails, the thread may still signal it after we return.
    auto thread_done = std::make_shared<std::promise<void>>();
    std::future<void> thread_finished = thread_done->get_future();
    auto done_marker = std::shared_ptr<void>(nullptr, [thread_done](void*) { thread_done->set_value(); });
    CountingWaker task;
    {
        SpawnBlocking future = spawn_blocking([gate = release.get_future().share(), done_marker] { gate.wait(); });
        done_marker.reset(); // the thread holds the only reference now
        CHECK_FALSE(future.poll(task.waker)); // the work is blocked: the waker is left
    } // destroyed unfinished: it takes its waker back
    release.set_value();
    REQUIRE(thread_finished.wait_for(5s) == std::future_status::ready);
    CHECK(task.wakes() == 0);
}

TEST_CASE("an exception thrown by the work comes out of poll, on the polling thread") {
    std::promise<void> release;
    CountingWaker task;
    SpawnBlocking future = spawn_blocking([gate = release.get_future().share()] {
        gate.wait();
        throw std::runtime_error("work failed"); // not std::terminate: handed to the future
    });
    CHECK_FALSE(future.poll(task.waker));
    release.set_value();
    REQUIRE(eventually([&] { return task.wakes() == 1; }, 5s));
    CHECK_THROWS_WITH_AS(future.poll(task.waker), "work failed", std::runtime_error);
}

TEST_CASE("a completed job's future is fused: polled again, it says \"not yet\"") {
    std::promise<void> release;
    CountingWaker task;
    SpawnBlocking future = spawn_blocking([gate = release.get_future().share()] { gate.wait(); });
    CHECK_FALSE(future.poll(task.waker));
    release.set_value();
    REQUIRE(eventually([&] { return task.wakes() == 1; }, 5s));
    CHECK(future.poll(task.waker));
    CHECK_FALSE(future.poll(task.waker));
}

namespace {

// Repeat: runs `times` blocking jobs one after the other, each incrementing `jobs`.
struct Repeat {
    using Output = Unit;
    int times;
    std::shared_ptr<std::atomic<int>> jobs;
    std::optional<SpawnBlocking> current;

    std::optional<Unit> poll(const Waker& waker) {
        for (;;) {
            if (!current) {
                if (times == 0) {
                    return Unit{};
                }
                --times;
                current.emplace(spawn_blocking([jobs = jobs] { ++*jobs; }));
            }
            if (!current->poll(waker)) {
                return std::nullopt;
            }
            current.reset();
        }
    }
};

} // namespace

TEST_CASE("ten thousand quick blocking jobs from a hundred tasks all complete") {
    LeavesRuntimeEmpty check;
    // Run it under -Db_sanitize=thread: the state shared by the thread and the future, the
    // cross-thread wakes and the scheduler's queue race in every possible order here.
    auto jobs = std::make_shared<std::atomic<int>>(0);
    for (int task = 0; task < 100; ++task) {
        SCHEDULER.spawn(Repeat{100, jobs, {}});
    }
    SCHEDULER.run();
    CHECK(*jobs == 10'000);
}

TEST_CASE("a blocking call moved into spawn_blocking no longer stalls the other tasks") {
    LeavesRuntimeEmpty check;
    // Stage 09's limit (see "limit: a poll that blocks the thread stalls every other task" in
    // test_scheduler.cpp), lifted: the same blocking read, on a thread of its own.
    auto [reader, writer] = testing::socket_pair(); // blocking sockets
    Fd watchdog_writer(::dup(writer.get()));
    auto got = std::make_shared<char>(0);
    SCHEDULER.spawn(spawn_blocking([reader = std::make_shared<Fd>(std::move(reader)), got] {
        ::recv(reader->get(), got.get(), 1, 0); // blocks its own thread, not run()'s
    }));
    SCHEDULER.spawn(poll_fn([writer = std::make_shared<Fd>(std::move(writer))](const Waker&) {
        char letter = 'B';
        ::send(writer->get(), &letter, 1, MSG_NOSIGNAL);
        return std::optional(Unit{});
    }));
    {
        testing::Watchdog watchdog(std::move(watchdog_writer), 5s); // sends '!' if nothing else does
        SCHEDULER.run();
    }
    CHECK(*got == 'B'); // the other task ran while the read was blocked
}
