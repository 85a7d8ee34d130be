// The server built from combinators: serve() and handle() are stage 11's Main and Handler,
// each now a chain of small steps made with poll_fn. No hand-written state machine is left:
// which step a future is in is the chain's business, and what a step keeps between polls is
// what its lambda captured.
//
// The functions are in the header because each returns `auto`: the type of a chain of
// lambdas has no name we could write down, and the scheduler's spawn needs to see it.
#pragma once

#include "chain.hpp"
#include "future.hpp"
#include "http.hpp"
#include "log.hpp"
#include "net.hpp"
#include "poll_fn.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string_view>
#include <system_error>

// Connection: what the steps of one exchange share, the socket and its registration. Every
// step's lambda holds a std::shared_ptr to it (the article's Arc<TcpStream>), so it lives as
// long as any step that may still use it, and is closed when the last one is gone. The
// registration is declared after the stream: it is removed before the socket is closed.
struct Connection {
    explicit Connection(TcpStream s) : stream(std::move(s)) { stream.set_nonblocking(); }
    TcpStream stream;
    std::optional<Registration> registration;
};

// A client that resets costs its own exchange, logged, and nothing more.
inline void log_connection_error(const std::system_error& error) {
    std::fprintf(stderr, "connection failed: %s\n", error.what());
}

// handle(): one connection's exchange, the article's four steps
//
//     register -> read the request -> write the response -> flush (and deregister)
//
// Each step is a poll_fn; chain runs them in order and hands each one's output to the
// transition that builds the next step.
inline auto handle(TcpStream stream, bool quiet) {
    auto connection = std::make_shared<Connection>(std::move(stream));

    // Start: register with this thread's REACTOR, with the task's waker. Every later step is
    // polled with the same waker (the scheduler gives each task one), so they need not
    // register again.
    auto start = poll_fn([connection](const Waker& waker) -> std::optional<Unit> {
        connection->registration.emplace(connection->stream.fd(), waker);
        return Unit{};
    });

    // Read: fill the request buffer (captured by value: it is this step's state) until the
    // blank line; output the response to send. An empty response means there is none to
    // send: the client left mid-request, or reset.
    auto read = chain(std::move(start), [connection, quiet](Unit) {
        return poll_fn([connection, quiet, request = http::RequestBuffer()](
                           const Waker&) mutable -> std::optional<std::string_view> {
            try {
                while (!request.complete() && !request.full()) {
                    std::optional<std::size_t> n = connection->stream.read(request.unfilled());
                    if (!n) {
                        return std::nullopt; // would block: the reactor wakes us for more
                    }
                    if (*n == 0) {
                        return std::string_view(); // the client went away
                    }
                    request.filled(*n);
                }
            } catch (const std::system_error& error) {
                log_connection_error(error);
                return std::string_view();
            }
            std::string_view response = http::response_for(request);
            log_request(quiet, request.first_line(), response);
            return response; // static bytes: safe to outlive this step
        });
    });

    // Write: send the response, `written` remembering how far we got between polls.
    auto write = chain(std::move(read), [connection](std::string_view response) {
        return poll_fn([connection, response, written = std::size_t{0}](
                           const Waker&) mutable -> std::optional<Unit> {
            try {
                while (written < response.size()) {
                    std::optional<std::size_t> n = connection->stream.write(response.substr(written));
                    if (!n) {
                        return std::nullopt; // would block: the send buffer is full
                    }
                    written += *n;
                }
            } catch (const std::system_error& error) {
                log_connection_error(error);
            }
            return Unit{};
        });
    });

    // Flush: nothing is buffered in the process (see stage 04), so this step only does the
    // article's `remove`. Dropping the registration by hand is not what keeps us safe,
    // though: if the task ended anywhere else, the last step destroyed would release the
    // Connection, and its Registration with it.
    return chain(std::move(write), [connection](Unit) {
        return poll_fn([connection](const Waker&) -> std::optional<Unit> {
            connection->registration.reset();
            return Unit{};
        });
    });
}

// Listening: a bound, registered listener, the output of serve()'s first step. Move-only;
// the registration comes after the listener so it is removed before the listener closes.
struct Listening {
    TcpListener listener;
    Registration registration;
};

// serve(): the accept loop, the article's `listen()` (a name POSIX's listen(2) has taken), in
// the article's two steps
//
//     bind (and register, and announce) -> accept forever
//
// The first step's output, the listener, moves into the second step's lambda, which owns it
// from then on.
inline auto serve(std::uint16_t port, bool quiet) {
    auto bind = poll_fn([port](const Waker& waker) -> std::optional<Listening> {
        TcpListener listener = TcpListener::bind(port);
        listener.set_nonblocking();
        Registration registration(listener.fd(), waker);
        announce_listening(listener.port()); // an early client waits in the listen backlog
        return Listening{std::move(listener), std::move(registration)};
    });

    return chain(std::move(bind), [quiet](Listening listening) {
        return poll_fn([listening = std::move(listening), quiet](const Waker&) mutable -> std::optional<Unit> {
            // Drain the backlog: the listener is edge-triggered (see stage 11's Main).
            while (std::optional<TcpStream> stream = listening.listener.accept()) {
                SCHEDULER.spawn(handle(std::move(*stream), quiet));
            }
            return std::nullopt; // never done: the server runs until the process ends
        });
    });
}
