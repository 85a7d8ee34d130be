// The server as two futures on the stage-10 runtime: Main accepts, Handler serves one
// connection. main() spawns one Main on SCHEDULER and calls run(); Main spawns a Handler
// for every connection it accepts. Neither ever blocks: when a socket says "would block",
// the future leaves its waker with REACTOR (through a Registration) and returns "not yet".
#pragma once

#include "connection.hpp"
#include "future.hpp"
#include "net.hpp"
#include "registration.hpp"
#include "waker.hpp"

#include <cstdint>
#include <optional>
#include <variant>

// Handler: one connection's exchange, as a task. The article's
//
//     struct Handler { connection: TcpStream, state: HandlerState }
//     enum HandlerState { Start, Read { request, read }, Write { response, written }, Flush }
//
// Read, Write and Flush are exactly stage 04's Connection state machine, so Handler keeps a
// Connection, unchanged, and adds only what a runtime needs: the Start step, which registers
// the socket with REACTOR on the first poll. Stage 05 drove Connection::advance from its own
// epoll loop; here the scheduler drives it, through poll, whenever the reactor wakes the task.
//
// Ownership: the Handler owns the connection (and so the socket) and its registration. The
// registration is declared after the connection, so it is destroyed first: the fd leaves the
// epoll set, and the reactor drops the task's waker, before the socket is closed. However the
// task ends (the response sent, the client gone, a reset), nothing is left behind.
class Handler {
public:
    using Output = Unit;

    explicit Handler(Connection connection) : connection_(std::move(connection)) {}

    std::optional<Unit> poll(const Waker& waker);

private:
    Connection connection_;
    // Start is "not registered yet". The scheduler hands every poll of a task the same waker,
    // so registering once is enough; a future driven by something else would compare the
    // waker it gets with the one it registered (Waker::will_wake) and re-register if it
    // changed, as tokio's I/O resources do.
    std::optional<Registration> registration_;
};

// Main: the accept loop, as a task. The article's
//
//     enum Main { Start, Accept { listener } }
//
// Start binds the port on the first poll and registers the listener; Accept takes every
// waiting connection and spawns a Handler for each. Main never finishes: it is the server.
class Main {
public:
    using Output = Unit;

    Main(std::uint16_t port, bool quiet) : port_(port), quiet_(quiet) {}

    // Never returns a value. Throws std::system_error if the port cannot be bound (or
    // accept fails for a reason that is not one client's): the task fails, SCHEDULER logs
    // it, and run() returns once the handlers still running have finished.
    std::optional<Unit> poll(const Waker& waker);

private:
    struct Start {};
    struct Accept {
        TcpListener listener;
        Registration registration; // after `listener`: removed before the listener is closed
    };

    std::uint16_t port_;
    bool quiet_;
    std::variant<Start, Accept> state_ = Start{};
};
