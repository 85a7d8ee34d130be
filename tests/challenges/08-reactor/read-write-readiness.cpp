// Readiness per direction: a task waiting to read is not woken because its socket became writable
//
// The challenge: the reactor keeps one waker per fd and calls it on any event, so a task
// waiting for a request is also woken by every writable edge (a socket is writable nearly
// all the time), and two tasks cannot wait on the two directions of one socket (a reader and
// a writer of one connection). Keep a reader's waker and a writer's waker per fd, as tokio
// does, and wake each only for its direction. Add to class Reactor, exactly:
//
//     enum class Interest { read, write };
//     // Calls `waker` when `fd` becomes readable (for read) or writable (for write), or
//     // hangs up or fails (for both), until remove(fd). Replaces the waker of that direction
//     // only.
//     void add(int fd, Interest interest, Waker waker);
//
// add(fd, waker) stays, and keeps waking its waker for either direction (once per event),
// and remove(fd) forgets both wakers, so every other test of the stage still passes. The fd
// stays registered with epoll for both directions, edge-triggered, once: only the wakers
// are per direction.
#include "reactor.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"

#include "tests/wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <string>

using testing::CountingWaker;
using testing::socket_pair;

namespace {

// Reads (or writes) on `fd` without blocking until the call says "would block".
void drain(const Fd& fd) {
    char buffer[4096];
    while (::recv(fd.get(), buffer, sizeof buffer, MSG_DONTWAIT) > 0) {
    }
}
void fill(const Fd& fd) {
    std::string chunk(4096, 'f');
    while (::send(fd.get(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL) > 0) {
    }
}

template <class R>
concept PerDirection = requires(R& reactor, Waker waker) {
    reactor.add(0, R::Interest::read, waker);
    reactor.add(0, R::Interest::write, waker);
};

// A template, so that the branch that names Reactor::Interest compiles only where it exists.
template <class R>
void check_per_direction(R& reactor) {
    auto [client, server] = socket_pair();
    CountingWaker reader;
    if constexpr (!PerDirection<R>) {
        reactor.add(server.get(), reader.waker);
        reactor.wait(0); // a fresh socket is writable: its first edge
        int woken = reader.wakes();
        reactor.remove(server.get());
        FAIL_CHECK("Reactor has no add(int fd, Reactor::Interest interest, Waker waker): a waker "
                   "is called for any event, and the waker of a task waiting to read was woken "
                   << woken << " time(s) by a writable edge, with nothing to read");
    } else {
        CountingWaker writer;
        reactor.add(server.get(), R::Interest::read, reader.waker);
        reactor.wait(0); // a fresh socket is writable: its first edge
        CHECK_MESSAGE(reader.wakes() == 0,
                      "a fresh socket's writable edge woke the waker registered to read");

        testing::write_all(client, "x");
        reactor.wait(0); // the write queued the event already
        CHECK_MESSAGE(reader.wakes() == 1, "a byte to read should wake the reader once");
        drain(server); // used up: the next readable edge is new data

        fill(server); // until "would block": the writer now waits for send space
        reactor.add(server.get(), R::Interest::write, writer.waker);
        reactor.wait(0);
        CHECK_MESSAGE(writer.wakes() == 0, "nothing changed: the writer should not be woken");

        drain(client); // the peer reads everything: send space frees up, a writable edge
        reactor.wait(0);
        CHECK_MESSAGE(writer.wakes() == 1, "send space freeing up should wake the writer");
        CHECK_MESSAGE(reader.wakes() == 1, "send space freeing up woke the reader, with nothing "
                                           "to read");

        testing::write_all(client, "y");
        reactor.wait(0);
        CHECK_MESSAGE(reader.wakes() == 2,
                      "adding the writer's waker should leave the reader's in place");
        drain(server);

        client.reset(); // the peer hangs up: a reader must hear of it, to see its end of file
        reactor.wait(0);
        CHECK_MESSAGE(reader.wakes() == 3, "a hang-up should wake the reader");
        reactor.remove(server.get());
    }
    CHECK(reactor.registrations() == 0);
}

} // namespace

TEST_CASE("a reader is woken by bytes to read, a writer by send space, each only by its own") {
    check_per_direction(REACTOR);
}
