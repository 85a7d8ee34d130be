// A cooperative budget: after 128 ready socket operations in one poll, a task yields
//
// The challenge: a coroutine reading from a socket that always has data never waits, so it
// keeps the runtime's one thread until it ends and every other task waits behind it. Give
// each task a budget, as tokio does: during one poll of a task by the Scheduler, its socket
// operations (every future made by Async<T>::until_ready: accept, read, write_all) may
// succeed 128 times; after that, until_ready says "not yet" even though the socket is ready,
// and wakes the task itself, so that the Scheduler polls the others first and then this one
// again, with a fresh budget. A future polled outside the Scheduler (by hand, in a test) has
// no budget to run out of. The test: a task reads 4096 bytes that are all there, one byte
// per co_await, while a second task waits in the queue behind it.
#include "async_net.hpp"
#include "future.hpp"
#include "net.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "sleep.hpp"
#include "socket_pair.hpp"
#include "task.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>

using namespace std::chrono_literals;

namespace {

constexpr std::size_t bytes = 4096;

// Reads `size` bytes, one per co_await; each read is ready at once, the data being there.
Task<> read_one_by_one(TcpStream stream, std::size_t size, std::size_t* reads) {
    Async<TcpStream> connection(std::move(stream));
    char byte = 0;
    while (*reads < size) {
        std::size_t n = co_await read(connection, std::span(&byte, 1));
        if (n == 0) {
            co_return; // the test's end closed early: cannot happen here
        }
        ++*reads;
    }
}

// The reader, with a deadline: if it yields and is never polled again, the 5 s timer ends
// the test instead of letting run() wait forever.
Task<> reader(TcpStream stream, std::size_t* reads, bool* finished) {
    Either<Unit, Unit> outcome = co_await select(read_one_by_one(std::move(stream), bytes, reads), sleep_for(5s));
    *finished = outcome.is_left();
}

// The other task: notes how many reads the reader had done when it got its first poll.
Task<> other(const std::size_t* reads, std::optional<std::size_t>* reads_before_me) {
    *reads_before_me = *reads;
    co_return;
}

} // namespace

TEST_CASE("a task whose reads are always ready lets a task queued behind it run within 128 reads") {
    auto [client, server] = testing::socket_pair();
    testing::write_all(client, std::string(bytes, 'x')); // all of it there before the first poll

    std::size_t reads = 0;
    bool finished = false;
    std::optional<std::size_t> reads_before_other;
    SCHEDULER.spawn(reader(TcpStream(std::move(server)), &reads, &finished)); // polled first
    SCHEDULER.spawn(other(&reads, &reads_before_other));
    SCHEDULER.run();

    REQUIRE(reads_before_other.has_value());
    INFO("the other task got its first poll after " << *reads_before_other << " of the reader's "
         << bytes << " reads: the reader should have yielded after at most 128 ready reads");
    CHECK(*reads_before_other <= 128);
    INFO("after yielding, the reader should be polled again, with a new budget, until it has "
         "read everything: it read " << reads << " bytes" << (finished ? "" : " in 5 s"));
    CHECK(finished);
    CHECK(reads == bytes);
}
