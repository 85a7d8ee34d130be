// Async<T> and its futures, awaited by coroutines over socket pairs: one registration per
// socket however often it waits, none left behind by a coroutine destroyed mid-await, and a
// wait per direction: no read before the data, no wake of a writer by the reader's edge.
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
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <optional>
#include <span>
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

TEST_CASE("an Async registers its socket when it is made, once, and not again on a wait") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    {
        Async<TcpStream> connection{TcpStream(std::move(server))};
        CHECK(REACTOR.registrations() == 1);
        char buffer[8];
        auto first = read(connection, buffer);
        auto second = read(connection, buffer);
        CHECK_FALSE(first.poll(Waker([] {})));
        CHECK_FALSE(second.poll(Waker([] {})));
        CHECK(REACTOR.registrations() == 1);
    }
    CHECK(REACTOR.registrations() == 0);
}

TEST_CASE("a fresh connection's first read happens only once data is there") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    testing::CountingWaker task;
    Async<TcpStream> connection{TcpStream(std::move(server))};
    int reads = 0; // system calls: the attempt is the read
    char buffer[8];
    auto counted_read = connection.until_ready(Direction::read, [&reads, &buffer](TcpStream& s) {
        ++reads;
        return s.read(buffer);
    });

    CHECK_FALSE(counted_read.poll(task.waker)); // nothing known yet: no read tried
    CHECK(reads == 0);
    REACTOR.wait(0); // the fresh socket's first event: writable, not readable
    CHECK(task.wakes() == 0); // a task waiting to read is not woken by the writable edge
    CHECK_FALSE(counted_read.poll(task.waker));
    CHECK(reads == 0);

    testing::write_all(client, "GET");
    REACTOR.wait(0);
    CHECK(task.wakes() == 1);
    CHECK(counted_read.poll(task.waker) == std::optional<std::size_t>(3));
    CHECK(reads == 1); // one read for one request, and never an EAGAIN before it
}

TEST_CASE("a write that fills the send buffer waits to write; the reader's edge does not wake it") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    testing::CountingWaker task;
    Async<TcpStream> connection{TcpStream(std::move(server))};
    REACTOR.wait(0); // the first event: writable
    std::string big(4 << 20, 'x'); // more than a socket pair's buffers hold
    auto writing = write_all(connection, big);
    CHECK_FALSE(writing.poll(task.waker)); // wrote what fit, then "would block"

    testing::write_all(client, "y"); // readable now: an edge for the reader only
    REACTOR.wait(0);
    CHECK(task.wakes() == 0);

    std::string got;
    char chunk[65536];
    std::optional<Unit> done;
    while (!done) {
        ssize_t n = ::recv(client.get(), chunk, sizeof chunk, MSG_DONTWAIT);
        if (n > 0) {
            got.append(chunk, static_cast<std::size_t>(n));
            continue;
        }
        REACTOR.wait(0); // drained: the writable edge wakes the task, which writes more
        done = writing.poll(task.waker);
    }
    CHECK(task.wakes() >= 1);
    while (got.size() < big.size()) {
        ssize_t n = ::recv(client.get(), chunk, sizeof chunk, 0);
        REQUIRE(n > 0);
        got.append(chunk, static_cast<std::size_t>(n));
    }
    CHECK(got == big);
}

// ---- Stage 15: a cooperative budget ------------------------------------------------------------

namespace {

constexpr std::size_t budget_bytes = 4096;

// The other task: notes how many reads the reader had done when it got its first poll.
Task<> note_reads(const std::size_t* reads, std::optional<std::size_t>* reads_before_me) {
    *reads_before_me = *reads;
    co_return;
}

// Reads `size` bytes, one per co_await; each read is ready at once, the data being there.
// After its first byte (the socket known to be readable), it spawns note_reads: queued
// behind the reader, which never has to wait again.
Task<> read_one_by_one(TcpStream stream, std::size_t size, std::size_t* reads,
                       std::optional<std::size_t>* reads_before_other) {
    Async<TcpStream> connection(std::move(stream));
    char byte = 0;
    while (*reads < size) {
        std::size_t n = co_await read(connection, std::span(&byte, 1));
        if (n == 0) {
            co_return; // the test's end closed early: cannot happen here
        }
        if (++*reads == 1) {
            SCHEDULER.spawn(note_reads(reads, reads_before_other));
        }
    }
}

// The reader, with a deadline: if it yielded and were never polled again, the 5 s timer would
// end the test instead of letting run() wait forever.
Task<> budgeted_reader(TcpStream stream, std::size_t* reads, bool* finished,
                       std::optional<std::size_t>* reads_before_other) {
    Either<Unit, Unit> outcome = co_await select(
        read_one_by_one(std::move(stream), budget_bytes, reads, reads_before_other), sleep_for(5s));
    *finished = outcome.is_left();
}

} // namespace

TEST_CASE("a task whose reads are always ready lets a task queued behind it run within 128 reads") {
    LeavesRuntimeEmpty check;
    auto [client, server] = testing::socket_pair();
    testing::write_all(client, std::string(budget_bytes, 'x')); // there before the first poll

    std::size_t reads = 0;
    bool finished = false;
    std::optional<std::size_t> reads_before_other;
    SCHEDULER.spawn(budgeted_reader(TcpStream(std::move(server)), &reads, &finished,
                                    &reads_before_other));
    SCHEDULER.run();

    REQUIRE(reads_before_other.has_value());
    CHECK(*reads_before_other <= coop::budget_per_poll); // without a budget: all 4096
    CHECK(finished); // polled again after yielding, with a new budget, until done
    CHECK(reads == budget_bytes);
}

TEST_CASE("outside a task's poll by the Scheduler there is no budget to run out of") {
    LeavesRuntimeEmpty check;
    auto [client, server] = testing::socket_pair();
    testing::write_all(client, std::string(budget_bytes, 'x'));
    Async<TcpStream> connection{TcpStream(std::move(server))};
    REACTOR.wait(0); // the registration's first event: readable
    char byte = 0;
    std::size_t reads = 0;
    for (; reads < budget_bytes; ++reads) { // polled by hand: every read is ready
        auto one = read(connection, std::span(&byte, 1));
        if (!one.poll(Waker([] {}))) {
            break;
        }
    }
    CHECK(reads == budget_bytes);
}

TEST_CASE("a short read clears the readiness: the next read waits for an edge, without a system call") {
    LeavesRuntimeEmpty check;
    auto [client, server] = testing::socket_pair();
    Async<TcpStream> connection{TcpStream(std::move(server))};
    testing::write_all(client, "abc");
    REACTOR.wait(0); // the registration's first event: readable

    char buffer[64];
    auto first = read(connection, buffer);
    std::optional<std::size_t> n = first.poll(Waker([] {}));
    REQUIRE(n);
    CHECK(*n == 3); // fewer than 64: the socket is empty now

    auto more = readable(connection);
    CHECK_FALSE(more.poll(Waker([] {}))); // not "ready until a read says would block"
    testing::write_all(client, "d");
    REACTOR.wait(0); // the new bytes' edge
    CHECK(more.poll(Waker([] {})));
}

TEST_CASE("a short read does not hide the peer's close: the bytes and the FIN came in one event") {
    LeavesRuntimeEmpty check;
    auto [client, server] = testing::socket_pair();
    Async<TcpStream> connection{TcpStream(std::move(server))};
    testing::write_all(client, "GET / HT");
    ::shutdown(client.get(), SHUT_WR); // no edge will follow this one
    REACTOR.wait(0);

    char buffer[64];
    auto first = read(connection, buffer);
    CHECK(first.poll(Waker([] {})) == std::optional<std::size_t>(8)); // short, but...
    auto end = read(connection, buffer);
    CHECK(end.poll(Waker([] {})) == std::optional<std::size_t>(0)); // ...the close is still seen
}
