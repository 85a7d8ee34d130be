// SketchScheduler: tasks keyed by an fd, polled only when epoll reports that fd.
#include "future.hpp"
#include "net.hpp"
#include "sketch_scheduler.hpp"
#include "socket_pair.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <cstddef>
#include <optional>
#include <string>

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

    std::optional<Unit> poll() {
        ++probe->polls;
        char buffer[64];
        while (probe->received.size() < size) {
            ssize_t n = ::recv(from.get(), buffer, sizeof buffer, 0);
            if (n == 0) {
                break; // peer closed
            }
            if (n < 0) {
                return std::nullopt; // would block: not yet
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

TEST_CASE("a task is polled again only when epoll reports its id") {
    SketchScheduler scheduler;
    Probe first;
    Probe second;
    Fd to_first = spawn_reader(scheduler, 4, first);
    Fd to_second = spawn_reader(scheduler, 4, second);

    testing::write_all(to_first, "ab");
    CHECK(scheduler.turn(-1) == 1);
    CHECK(first.polls == 2);
    CHECK(first.received == "ab");
    CHECK(second.polls == 1); // its id was not reported: not polled

    testing::write_all(to_second, "wxyz");
    CHECK(scheduler.turn(-1) == 1);
    CHECK(second.done);
    CHECK(first.polls == 2);
    CHECK(scheduler.tasks() == 1);

    testing::write_all(to_first, "cd");
    scheduler.run();
    CHECK(first.received == "abcd");
    CHECK(scheduler.tasks() == 0);
}

TEST_CASE("run() returns once every task is done") {
    SketchScheduler scheduler;
    Probe probes[3];
    Fd clients[3] = {spawn_reader(scheduler, 3, probes[0]), spawn_reader(scheduler, 3, probes[1]),
                     spawn_reader(scheduler, 3, probes[2])};
    for (Fd& client : clients) {
        testing::write_all(client, "abc");
    }
    scheduler.run();
    for (Probe& probe : probes) {
        CHECK(probe.done);
    }
}

// WaitElsewhere: owns fd `own` (its id) but waits for bytes on another fd, `other`.
struct WaitElsewhere {
    using Output = Unit;
    Fd own;
    Fd other;
    Probe* probe;

    std::optional<Unit> poll() {
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
    // any fd, with a waker (stage 07) that says which task to poll.
    testing::write_all(own_client, "x");
    CHECK(scheduler.turn(-1) == 1);
    CHECK(probe.done);
}
