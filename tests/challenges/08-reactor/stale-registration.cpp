// A stale registration: an event of an fd closed without remove() never wakes the task that got its number
//
// The challenge: an epoll registration belongs to the open file, not to its number, and
// outlives close() while another descriptor (a dup, a child process) refers to that file.
// Closed without remove(), it keeps firing under its old number, data.fd, and the reactor,
// which looks wakers up by that number, wakes whatever task registered the number since:
// another task's readiness reaches the wrong task. Make each registration's events carry a
// key of its own (epoll_event's data has 64 bits: room for the fd and a generation), so that
// wait() wakes a waker only for an event of the registration that add() made for it, and
// ignores the events of a registration it has replaced. Production reactors (tokio, Asio)
// key each registration this way. The interface stays as it is.
#include "reactor.hpp"
#include "waker.hpp"

#include "tests/wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <unistd.h>

#include <stdexcept>
#include <utility>

using testing::CountingWaker;

namespace {

// A pipe: {read end, write end}.
std::pair<Fd, Fd> pipe_pair() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        throw std::runtime_error("pipe2 failed");
    }
    return {Fd(fds[0]), Fd(fds[1])};
}

void write_byte(const Fd& fd) {
    char byte = 'x';
    REQUIRE(::write(fd.get(), &byte, 1) == 1);
}

} // namespace

TEST_CASE("an event of a closed fd's registration never wakes the task that reuses its number") {
    CountingWaker stale;
    CountingWaker fresh;
    auto [old_reader, old_writer] = pipe_pair();
    int number = old_reader.get();
    Fd duplicate(::dup(number)); // refers to the same open file: its registration lives on
    REQUIRE(duplicate);
    REACTOR.add(number, stale.waker);
    old_reader.reset(); // closed without remove(), as the article's Handler does on an early return

    // A new pipe whose read end has the same number (dup2 makes sure of it).
    auto [reader, writer] = pipe_pair();
    if (reader.get() != number) {
        REQUIRE(writer.get() != number);
        REQUIRE(::dup2(reader.get(), number) == number);
        reader = Fd(number);
    }
    REACTOR.add(number, fresh.waker);
    REACTOR.wait(0); // nothing to read on either pipe yet
    REQUIRE(fresh.wakes() == 0);

    write_byte(old_writer); // the old pipe becomes readable; its registration reports it
    REACTOR.wait(0);        // the write queued the event already
    CHECK_MESSAGE(fresh.wakes() == 0,
                  "an event of the closed fd's registration, still alive through a dup, woke the "
                  "waker of the new fd with the same number, which has nothing to read");

    write_byte(writer); // the new pipe's own event still wakes its waker
    REACTOR.wait(0);
    CHECK_MESSAGE(fresh.wakes() >= 1, "the new fd's own event should wake its waker");

    REACTOR.remove(number);
    duplicate.reset(); // the last descriptor of the old pipe: the kernel drops its registration
    CHECK(REACTOR.registrations() == 0);
}
