// The server built from combinators, now with a graceful shutdown: serve() stops accepting
// on Ctrl-C, lets the requests in flight finish, and ends. handle() is stage 12's.
//
// The functions are in the header because each returns `auto`: the type of a chain of
// lambdas has no name we could write down, and the scheduler's spawn needs to see it.
#pragma once

#include "chain.hpp"
#include "counter.hpp"
#include "ctrl_c.hpp"
#include "future.hpp"
#include "http.hpp"
#include "log.hpp"
#include "net.hpp"
#include "poll_fn.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "server_args.hpp"
#include "sleep.hpp"
#include "waker.hpp"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
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

// serve(): the server, the article's graceful `listen()` (a name POSIX's listen(2) has
// taken), in three steps:
//
//     bind -> select(accept forever, ctrl_c())
//          -> select(wait_for_zero, select(grace timer, ctrl_c()))
//          -> report, and finish (or exit)
//
// Stop accepting: when ctrl_c() wins the first select, the accept loop loses and is
// destroyed, and with it the listener: it is closed, so new connections are refused. Let
// requests in flight finish: each handler task holds a Counter::Guard, and the second step
// waits for the count to reach zero, or for the grace period, or for a second signal.
//
// `exit_status` is how the task tells main that it finished a graceful shutdown (a task's
// output is Unit, so it has no other way out). Leaves it alone otherwise.
inline auto serve(ServerArgs args, std::shared_ptr<int> exit_status) {
    auto in_flight = std::make_shared<Counter>();

    auto bind = poll_fn([port = args.port](const Waker& waker) -> std::optional<Listening> {
        TcpListener listener = TcpListener::bind(port);
        listener.set_nonblocking();
        Registration registration(listener.fd(), waker);
        announce_listening(listener.port()); // an early client waits in the listen backlog
        return Listening{std::move(listener), std::move(registration)};
    });

    auto until_signal = chain(std::move(bind), [in_flight, quiet = args.quiet](Listening listening) {
        auto accept = poll_fn([listening = std::move(listening), in_flight, quiet](
                                  const Waker&) mutable -> std::optional<Unit> {
            // Drain the backlog: the listener is edge-triggered (see stage 11's Main).
            while (std::optional<TcpStream> stream = listening.listener.accept()) {
                // Counted from here until the handler's task ends. The guard lives in the
                // last transition, the article's `decrement` step: it gives its unit back when
                // the handler is done, or when the task is destroyed unfinished.
                SCHEDULER.spawn(chain(handle(std::move(*stream), quiet),
                                      [guard = Counter::Guard(in_flight)](Unit) {
                                          return poll_fn([](const Waker&) { return std::optional(Unit{}); });
                                      }));
            }
            return std::nullopt; // never done by itself: only ctrl_c() ends it
        });
        return select(std::move(accept), ctrl_c());
    });

    auto drain = chain(std::move(until_signal), [in_flight, grace = args.grace](Either<Unit, Unit>) {
        log_line("shutting down: waiting for " + std::to_string(in_flight->count()) + " requests");
        return select(Counter::wait_for_zero(in_flight), select(sleep_for(grace), ctrl_c()));
    });

    return chain(std::move(drain), [in_flight, exit_status](Either<Unit, Either<Unit, Unit>> outcome) {
        return poll_fn([in_flight, exit_status, outcome](const Waker&) -> std::optional<Unit> {
            if (outcome.is_left()) {
                // Every request answered. Returning ends this task, the last one, so run()
                // returns and main exits normally, destructors and all.
                log_line("shutdown complete");
                *exit_status = 0;
                return Unit{};
            }
            // Some handlers are still running, so run() would not return. End the process
            // here, as the article does with process::exit: std::_Exit runs no destructors
            // (std::exit would destroy SCHEDULER and REACTOR under the tasks still using them)
            // and the kernel closes every socket. Our log lines are single write(2) calls, so
            // nothing is left in a buffer.
            if (outcome.right().is_left()) {
                log_line("shutdown complete: grace period over, " +
                         std::to_string(in_flight->count()) + " requests cut off");
                std::_Exit(0);
            }
            log_line("second signal: exiting now");
            std::_Exit(130); // the shell's code for "ended by SIGINT" (128 + 2)
        });
    });
}
