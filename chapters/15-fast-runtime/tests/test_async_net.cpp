// Async<T> and its futures, awaited by coroutines over socket pairs: one registration per
// socket however often it waits, and none left behind by a coroutine destroyed mid-await.
#include "async_net.hpp"
#include "future.hpp"
#include "leaves_runtime_empty.hpp"
#include "net.hpp"
#include "reactor.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "sleep.hpp"
#include "socket_pair.hpp"
#include "task.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <string>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

// Every test leaves the runtime as it found it: no task alive, nothing registered.
// Reads until `size` bytes have arrived (or the peer closes), a chunk per co_await.
Task<std::string> read_exactly(TcpStream stream, std::size_t size, int* waits) {
    Async<TcpStream> connection(std::move(stream));
    std::string bytes;
    char buffer[64];
    while (bytes.size() < size) {
        std::size_t n = co_await read(connection, buffer);
        if (n == 0) {
            break;
        }
        bytes.append(buffer, n);
        ++*waits;
    }
    co_return bytes;
}

} // namespace

TEST_CASE("a coroutine that reads in several waits registers its socket once, until it ends") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    auto woken = std::make_shared<std::atomic<int>>(0);
    Waker waker([woken] { ++*woken; });
    int reads = 0;
    Task<std::string> task = read_exactly(TcpStream(std::move(server)), 6, &reads);

    CHECK_FALSE(task.poll(waker).has_value()); // nothing to read yet: registered, waiting
    CHECK(REACTOR.registrations() == 1);

    testing::write_all(client, "abc");
    REACTOR.wait(5000); // the socket became readable: the reactor wakes the task
    CHECK(*woken >= 1);
    CHECK_FALSE(task.poll(waker).has_value()); // three bytes, then "would block" again
    CHECK(REACTOR.registrations() == 1);       // still the one registration

    testing::write_all(client, "def");
    REACTOR.wait(5000);
    CHECK(task.poll(waker) == "abcdef");
    CHECK(reads == 2);
    CHECK(REACTOR.registrations() == 0); // the frame's locals are gone: deregistered
    CHECK(testing::read_to_end(client) == ""); // and the socket closed
}

namespace {
// Races a read that never completes against a short timer.
Task<> read_or_time_out(TcpStream stream, bool* timed_out) {
    int reads = 0;
    Either<std::string, Unit> winner =
        co_await select(read_exactly(std::move(stream), 1, &reads), sleep_for(20ms));
    *timed_out = winner.is_right();
}
} // namespace

TEST_CASE("a coroutine that loses a select mid-read is destroyed: deregistered, socket closed") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    bool timed_out = false;
    SCHEDULER.spawn(read_or_time_out(TcpStream(std::move(server)), &timed_out));
    SCHEDULER.run();
    CHECK(timed_out);
    // The losing read_exactly task was destroyed while it waited: its frame took the
    // registration and the socket with it. The client sees the connection closed, and what it
    // writes now reaches no task (there is none left to wake).
    CHECK(REACTOR.registrations() == 0);
    CHECK(testing::read_to_end(client) == "");
}
