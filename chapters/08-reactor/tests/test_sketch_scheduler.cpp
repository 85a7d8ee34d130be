// SketchScheduler: tasks keyed by an fd; epoll events and other wakers decide which to poll.
#include "future.hpp"
#include "net.hpp"
#include "sketch_scheduler.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

// What a test can see of a task from outside: how often it was polled, what it read.
struct Probe {
    int polls = 0;
    std::string received;
    bool done = false;
};

// ReadMessage: reads from `from` until `size` bytes arrived (or the peer closed). It owns
// the descriptor. Every poll reads whatever is there, so it never blocks.
struct ReadMessage {
    using Output = Unit;
    Fd from;
    std::size_t size;
    Probe* probe;

    std::optional<Unit> poll(const Waker&) {
        ++probe->polls;
        char buffer[64];
        while (probe->received.size() < size) {
            ssize_t n = ::recv(from.get(), buffer, sizeof buffer, 0);
            if (n == 0) {
                break; // peer closed
            }
            if (n < 0) {
                return std::nullopt; // would block: the scheduler watches our fd for us
            }
            probe->received.append(buffer, static_cast<std::size_t>(n));
        }
        probe->done = true;
        return Unit{};
    }
};

// Spawns a ReadMessage on the server end of a fresh socket pair; returns the client end.
Fd spawn_reader(SketchScheduler& scheduler, std::size_t size, Probe& probe) {
    auto [client, server] = socket_pair();
    set_nonblocking(server.get());
    int id = server.get();
    scheduler.spawn(id, ReadMessage{std::move(server), size, &probe});
    return std::move(client);
}

// A flag set from outside the task, and the waker of the task that waits for it.
struct Signal {
    std::atomic<bool> set{false};
    std::mutex mutex;
    std::optional<Waker> waker;

    void raise() {
        set = true;
        std::lock_guard lock(mutex);
        if (waker) {
            waker->wake();
        }
    }
};

// WaitForSignal: done once `signal` is raised. Owns fd `own`, its id for the scheduler.
struct WaitForSignal {
    using Output = Unit;
    Fd own;
    std::shared_ptr<Signal> signal;
    Probe* probe;

    std::optional<Unit> poll(const Waker& waker) {
        ++probe->polls;
        if (signal->set) {
            probe->done = true;
            return Unit{};
        }
        std::lock_guard lock(signal->mutex);
        signal->waker = waker; // whoever raises the signal wakes us
        return std::nullopt;
    }
};

// Yield: wakes itself and returns "not yet", `times` times, then is done.
struct Yield {
    using Output = Unit;
    int times;
    Probe* probe;

    std::optional<Unit> poll(const Waker& waker) {
        if (++probe->polls > times) {
            probe->done = true;
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("spawn polls a new task once, at once") {
    SketchScheduler scheduler;
    Probe probe;
    Fd client = spawn_reader(scheduler, 5, probe);
    CHECK(probe.polls == 1);
    CHECK(scheduler.tasks() == 1);
    testing::write_all(client, "hello");
    scheduler.run();
}

TEST_CASE("a task that is done on its first poll is never registered") {
    SketchScheduler scheduler;
    auto [client, server] = socket_pair();
    set_nonblocking(server.get());
    testing::write_all(client, "hi");
    Probe probe;
    int id = server.get();
    scheduler.spawn(id, ReadMessage{std::move(server), 2, &probe});
    CHECK(probe.done);
    CHECK(scheduler.tasks() == 0);
}

TEST_CASE("an epoll event on a task's id wakes that task, and only that task") {
    SketchScheduler scheduler;
    Probe first;
    Probe second;
    Fd to_first = spawn_reader(scheduler, 4, first);
    Fd to_second = spawn_reader(scheduler, 4, second);

    testing::write_all(to_first, "ab");
    CHECK(scheduler.turn(-1) == 1);
    CHECK(first.polls == 2);
    CHECK(first.received == "ab");
    CHECK(second.polls == 1);

    testing::write_all(to_second, "wxyz");
    testing::write_all(to_first, "cd");
    scheduler.run();
    CHECK(first.received == "abcd");
    CHECK(second.received == "wxyz");
    CHECK(scheduler.tasks() == 0);
}

TEST_CASE("a task whose waker another thread called is polled on the next turn") {
    SketchScheduler scheduler;
    auto [client, own] = socket_pair();
    auto signal = std::make_shared<Signal>();
    Probe probe;
    int id = own.get();
    scheduler.spawn(id, WaitForSignal{std::move(own), signal, &probe});

    std::thread([signal] { signal->raise(); }).join();
    CHECK(scheduler.turn(-1) == 1); // the woken set is not empty: no epoll wait at all
    CHECK(probe.done);
}

TEST_CASE("a task that wakes itself is polled again on the next turn") {
    SketchScheduler scheduler;
    auto [client, own] = socket_pair();
    Probe probe;
    scheduler.spawn(own.get(), Yield{2, &probe});
    CHECK(probe.polls == 1);
    CHECK(scheduler.turn(-1) == 1);
    CHECK(probe.polls == 2);
    scheduler.run();
    CHECK(probe.polls == 3);
    CHECK(probe.done);
}

TEST_CASE("a task woken twice before its next poll is polled once") {
    SketchScheduler scheduler;
    auto [client, own] = socket_pair();
    auto signal = std::make_shared<Signal>();
    Probe probe;
    int id = own.get();
    scheduler.spawn(id, WaitForSignal{std::move(own), signal, &probe});

    signal->waker->wake();
    signal->waker->wake();
    CHECK(scheduler.turn(-1) == 1);
    CHECK(probe.polls == 2);
    signal->raise();
    scheduler.run();
}

TEST_CASE("limit: a wake from another thread is not noticed while the loop sleeps in epoll") {
    SketchScheduler scheduler;
    auto [watchdog_end, own] = socket_pair();
    auto signal = std::make_shared<Signal>();
    Probe probe;
    int id = own.get();
    scheduler.spawn(id, WaitForSignal{std::move(own), signal, &probe});

    pid_t loop_thread = ::gettid();
    std::thread other([signal, loop_thread] {
        // Wake the task once the loop is asleep in epoll_wait, with nothing to end that sleep.
        if (testing::wait_until_blocked_in_epoll_wait(loop_thread, 10s)) {
            signal->raise();
        }
    });
    {
        // If nothing else ends the wait, a byte on the task's own fd does, after 300 ms.
        testing::Watchdog watchdog(std::move(watchdog_end), 300ms);
        scheduler.run();
        other.join();
        // The wake only added the id to the woken set; only the watchdog's byte on the
        // task's id ended epoll_wait. Stage 08's reactor adds a notifier that can.
        CHECK(watchdog.fired());
    }
    CHECK(probe.done);
}

// WaitElsewhere: owns fd `own` (its id) but waits for bytes on another fd, `other`.
struct WaitElsewhere {
    using Output = Unit;
    Fd own;
    Fd other;
    Probe* probe;

    std::optional<Unit> poll(const Waker&) {
        ++probe->polls;
        char byte;
        if (::recv(other.get(), &byte, 1, 0) == 1) {
            probe->done = true;
            return Unit{};
        }
        return std::nullopt;
    }
};

TEST_CASE("limit: a task waiting on any fd but its id is not polled when that fd is ready") {
    SketchScheduler scheduler;
    auto [own_client, own] = socket_pair();
    auto [other_client, other] = socket_pair();
    set_nonblocking(other.get());
    Probe probe;
    int id = own.get();
    scheduler.spawn(id, WaitElsewhere{std::move(own), std::move(other), &probe});

    testing::write_all(other_client, "!");
    // The byte it waits for is there, but epoll watches only the task's id: nothing to poll.
    CHECK(scheduler.turn(200) == 0);
    CHECK(probe.polls == 1);

    // Only an event on its id gets it polled. Stage 08's reactor lets a future register
    // any fd together with its waker.
    testing::write_all(own_client, "x");
    CHECK(scheduler.turn(-1) == 1);
    CHECK(probe.done);
}
