// Stage 14's server (stage 13's graceful server, written as coroutines), with two things
// production servers do: persistent connections behind --keep-alive (answer_all), and a
// lingering close (close_lingering) after the last response.
//
// Each coroutine returns a Task (task.hpp), a Future like any other: serve() is spawned by
// main exactly as stage 13's chain was, and select() takes a Task as happily as a poll_fn.
// Parameters are taken by value, never by reference: a coroutine runs later, after its caller
// has moved on, and its frame keeps only what it owns (the C++ Core Guidelines' CP.53). The
// one exception is the steps of handle() (answer_one, answer_all, close_lingering), which
// borrow its connection: handle() awaits each at once, so the connection outlives them.
#pragma once

#include "async_net.hpp"
#include "closing.hpp"
#include "counter.hpp"
#include "ctrl_c.hpp"
#include "future.hpp"
#include "http.hpp"
#include "idle_timer.hpp"
#include "keep_alive.hpp"
#include "log.hpp"
#include "net.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "server_args.hpp"
#include "sleep.hpp"
#include "task.hpp"

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

// A client that resets costs its own exchange, logged, and nothing more.
inline void log_connection_error(const std::system_error& error) {
    std::fprintf(stderr, "connection failed: %s\n", error.what());
}

// How long a lingering close waits for the client to close its side (see close_lingering()).
inline constexpr std::chrono::milliseconds linger_bound{1000};

// How an exchange ended, for the close that follows it.
enum class After {
    gone,   // the client left (or idled): nothing to answer, close
    close,  // answered, and every byte the client sent was read: a plain close sends a FIN
    linger, // answered, but the client sent, or may still send, bytes we never read
};

// answer_one(): today's exchange, one request and its answer (`Connection: close`).
//
// It borrows `connection` (a reference parameter, which CP.53 warns about): it is safe here
// because handle() awaits it at once, so the Async outlives it in handle()'s frame.
inline Task<After> answer_one(Async<TcpStream>& connection, bool quiet) {
    http::RequestBuffer request;
    while (!request.complete() && !request.full()) {
        std::size_t n = co_await read(connection, request.unfilled());
        if (n == 0) {
            co_return After::gone; // the client went away mid-request: nothing to answer
        }
        request.filled(n);
    }
    std::string_view response = http::response_for(request);
    log_request(quiet, request.first_line(), response);
    co_await write_all(connection, response);
    // Bytes after the blank line (a body, a pipelined request), a body still to come, or
    // the rest of a request too large for the buffer: they would turn the close into a reset.
    std::string_view bytes = request.bytes();
    bool unread = !request.complete() || bytes.find("\r\n\r\n") + 4 < bytes.size() ||
                  http::may_have_body(bytes);
    co_return unread ? After::linger : After::close;
}

// answer_all(): a persistent connection (--keep-alive). Answers request after request, each
// with http::keep_alive_response, until one asks for `Connection: close` (it gets today's
// response), the client closes, or the connection stays idle for `idle`. Pipelined requests
// are answered in order, all those that arrived together in one write. We never read a
// body, so a request that may have one is answered as if it asked to close: its body would
// otherwise be taken for the next request.
inline Task<After> answer_all(Async<TcpStream>& connection, bool quiet,
                             std::chrono::milliseconds idle) {
    http::Requests requests;
    IdleTimer timer(idle);
    std::string out;
    for (;;) {
        out.clear();
        bool closing = false;
        std::string last; // the closing request's headers, once taken from the buffer
        while (std::optional<std::string_view> request = requests.next()) {
            closing = http::wants_close(*request) || http::may_have_body(*request);
            std::string_view response = closing ? http::response : http::keep_alive_response;
            log_request(quiet, request->substr(0, request->find("\r\n")), response);
            out += response;
            if (closing) {
                last = *request;
            }
            requests.take(*request);
            if (closing) {
                break; // what follows a `Connection: close` request is never answered
            }
        }
        bool unread = closing && (!requests.empty() || http::may_have_body(last));
        if (!closing && requests.full()) {
            out += http::too_large_response; // a request that cannot fit: answer and close
            closing = unread = true;
        }
        if (!out.empty()) {
            co_await write_all(connection, out);
            timer.restart();
        }
        if (closing) {
            co_return unread ? After::linger : After::close;
        }
        Either<std::size_t, Unit> got =
            co_await select(read(connection, requests.unfilled()), timer.expired());
        if (got.is_right() || got.left() == 0) {
            co_return After::gone; // idle for too long, or the client closed: close, no word
        }
        requests.filled(got.left());
        timer.restart();
    }
}

// drain(): reads and throws away whatever the client still sends, until it closes its side
// (or resets: either way it is gone).
inline Task<> drain(Async<TcpStream>& connection) {
    std::array<char, 1024> sink;
    try {
        while (co_await read(connection, sink) != 0) {
        }
    } catch (const std::system_error&) {
        // reset by the client: nothing left to drain
    }
}

// close_lingering(): a lingering close, as nginx does it. Closing a socket whose receive
// buffer still holds unread bytes (the body of a POST we never read), or that receives bytes
// after it is closed, makes the kernel answer with RST, not FIN (RFC 2525, section 2.17), and
// a reset can destroy our response before the client has read it. So: shutdown(SHUT_WR)
// sends the FIN after the response, then drain until the client closes, but no longer than
// linger_bound, so a client that never closes cannot keep the descriptor. The close itself
// is the Async's destructor, in handle(). Once the server is shutting down (`closing`), it
// does not linger at all (closing.hpp).
//
// It costs a shutdown, a read or two, a timer and one more round trip of the descriptor and
// the task, so handle() lingers only when bytes are left unread (After::linger), as nginx's
// default `lingering_close on` does: a plain GET is closed at once, as in stage 14.
inline Task<> close_lingering(Async<TcpStream>& connection, Closing& closing) {
    ::shutdown(connection.get().fd(), SHUT_WR); // fails only if the client is gone: fine
    co_await select(drain(connection), select(sleep_for(linger_bound), closing.wait()));
}

// handle(): one connection. Stage 11's Handler states (register, read, write, flush) are
// gone: the position in these functions is the state, and the locals that live across a
// co_await (the connection, the request buffer) are kept in the coroutines' frames. However
// the task ends (answered, the client gone, an error, or destroyed unfinished), the frame's
// destructors deregister the socket and close it.
//
// `closing` is the server's (serve() starts it); a handler on its own, as in the tests, gets
// one of its own, never started.
//
// It waits for the client's first bytes before it calls answer_one or answer_all: their
// frames hold the 1 KiB request buffer, and a connection that has sent nothing needs none
// (nginx, too, allocates its buffer on the first read event). An idle connection costs this
// frame, its task and its registration. With keep-alive, a client silent for `idle` before
// its first request is let go, as it would be after one.
inline Task<> handle(TcpStream stream, bool quiet, http::KeepAlive keep_alive = {},
                     std::shared_ptr<Closing> closing = std::make_shared<Closing>()) {
    try {
        Async<TcpStream> connection(std::move(stream)); // registers: may fail, as a read may
        if (!keep_alive.enabled) {
            co_await readable(connection);
        } else if ((co_await select(readable(connection), sleep_for(keep_alive.idle))).is_right()) {
            co_return; // silent for `idle` before its first request: close, no word
        }
        After after = keep_alive.enabled ? co_await answer_all(connection, quiet, keep_alive.idle)
                                         : co_await answer_one(connection, quiet);
        if (after == After::linger && !closing->started()) {
            co_await close_lingering(connection, *closing);
        }
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
                          bool quiet, http::KeepAlive keep_alive,
                          std::shared_ptr<Closing> closing) {
    for (;;) {
        TcpStream stream = co_await accept(listener);
        SCHEDULER.spawn(counted(handle(std::move(stream), quiet, keep_alive, closing),
                                Counter::Guard(in_flight)));
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
inline Task<> serve(ServerArgs args, std::shared_ptr<int> exit_status,
                    http::KeepAlive keep_alive = {}) {
    auto in_flight = std::make_shared<Counter>();
    auto closing = std::make_shared<Closing>(); // started once we stop accepting
    Async<TcpListener> listener(TcpListener::bind(args.port));
    announce_listening(listener.get().port());

    // Stop accepting: when ctrl_c() wins, the accept loop's task is destroyed, and with it
    // the listener (new connections are refused).
    co_await select(accept_loop(std::move(listener), in_flight, args.quiet, keep_alive, closing),
                    ctrl_c());
    closing->start(); // the connections that only linger close now

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
