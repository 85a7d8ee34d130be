// The graceful server of stage 13, written as coroutines: the same steps, the same futures
// underneath (accept, read, write, select, ctrl_c, a Counter, a timer), but each function
// reads top to bottom, and every `co_await` is a place where the task may wait.
//
// Each coroutine returns a Task (task.hpp), a Future like any other: serve() is spawned by
// main exactly as stage 13's chain was, and select() takes a Task as happily as a poll_fn.
// Parameters are taken by value, never by reference: a coroutine runs later, after its caller
// has moved on, and its frame keeps only what it owns (the C++ Core Guidelines' CP.53).
#pragma once

#include "async_net.hpp"
#include "counter.hpp"
#include "ctrl_c.hpp"
#include "future.hpp"
#include "http.hpp"
#include "log.hpp"
#include "net.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "server_args.hpp"
#include "sleep.hpp"
#include "task.hpp"

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>
#include <system_error>

// A client that resets costs its own exchange, logged, and nothing more.
inline void log_connection_error(const std::system_error& error) {
    std::fprintf(stderr, "connection failed: %s\n", error.what());
}

// handle(): one connection's exchange. Stage 11's Handler states (register, read, write,
// flush) are gone: the position in this function is the state, and the locals that live
// across a co_await (the connection, the request buffer) are kept in the coroutine's frame.
// However the task ends (answered, the client gone, an error, or destroyed unfinished), the
// frame's destructors deregister the socket and close it.
inline Task<> handle(TcpStream stream, bool quiet) {
    Async<TcpStream> connection(std::move(stream));
    http::RequestBuffer request;
    try {
        while (!request.complete() && !request.full()) {
            std::size_t n = co_await read(connection, request.unfilled());
            if (n == 0) {
                co_return; // the client went away mid-request: nothing to answer
            }
            request.filled(n);
        }
        std::string_view response = http::response_for(request);
        log_request(quiet, request.first_line(), response);
        co_await write_all(connection, response);
    } catch (const std::system_error& error) {
        log_connection_error(error);
    }
}

// counted(): runs `task`, holding one unit of a Counter until it is done. The guard is a
// parameter, so it lives in this frame: it gives its unit back when the task finishes, fails,
// or is destroyed unfinished (stage 13's last chain step did the same job).
inline Task<> counted(Task<> task, [[maybe_unused]] Counter::Guard guard) {
    co_await std::move(task);
}

// accept_loop(): the accept half of the article's Main. Accepts forever, spawning a counted
// handler task for each connection; only losing a select (to ctrl_c) ends it. It owns the
// listener: when it is destroyed, the listener is deregistered and closed.
inline Task<> accept_loop(Async<TcpListener> listener, std::shared_ptr<Counter> in_flight,
                          bool quiet) {
    for (;;) {
        TcpStream stream = co_await accept(listener);
        SCHEDULER.spawn(counted(handle(std::move(stream), quiet), Counter::Guard(in_flight)));
    }
}

// serve(): the server, stage 13's three steps as one function:
//
//     bind -> select(accept forever, ctrl_c())
//          -> select(wait_for_zero, select(grace timer, ctrl_c()))
//          -> report, and finish (or exit)
//
// `exit_status` is how the task tells main that it finished a graceful shutdown (a spawned
// task's output is Unit). It is left alone otherwise.
inline Task<> serve(ServerArgs args, std::shared_ptr<int> exit_status) {
    auto in_flight = std::make_shared<Counter>();
    Async<TcpListener> listener(TcpListener::bind(args.port));
    announce_listening(listener.get().port());

    // Stop accepting: when ctrl_c() wins, the accept loop's task is destroyed, and with it
    // the listener (new connections are refused).
    co_await select(accept_loop(std::move(listener), in_flight, args.quiet), ctrl_c());

    // Let the requests in flight finish, but not for longer than the grace period, and not
    // after a second signal.
    log_line("shutting down: waiting for " + std::to_string(in_flight->count()) + " requests");
    Either<Unit, Either<Unit, Unit>> outcome =
        co_await select(Counter::wait_for_zero(in_flight), select(sleep_for(args.grace), ctrl_c()));

    if (outcome.is_left()) {
        // Every request answered. Returning ends this task, the last one, so run() returns
        // and main exits normally, destructors and all.
        log_line("shutdown complete");
        *exit_status = 0;
        co_return;
    }
    // Some handlers are still running, so run() would not return: end the process here, as
    // the article does with process::exit (see stage 13 for why std::_Exit).
    if (outcome.right().is_left()) {
        log_line("shutdown complete: grace period over, " + std::to_string(in_flight->count()) +
                 " requests cut off");
        std::_Exit(0);
    }
    log_line("second signal: exiting now");
    std::_Exit(130); // the shell's code for "ended by SIGINT" (128 + 2)
}
