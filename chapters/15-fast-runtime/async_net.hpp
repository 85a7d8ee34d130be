// Async<T>: a socket that a coroutine can co_await on, and the three futures the server needs
// from it: accept, read and write_all.
//
// Stage 13 wrote each socket step as a poll_fn by hand: try the call, and on "would block"
// make sure REACTOR will wake the task. Here that pattern is written once. Async<T> owns a
// TcpListener or TcpStream, set non-blocking, and its Registration with this thread's
// REACTOR; until_ready(direction, attempt) is the future that repeats one non-blocking call
// until it stops saying "would block". smol, a small Rust runtime, has the same type under the same
// name (`Async<T>` and its `read_with`).
//
// The socket is registered when the Async is made, once, edge-triggered, for reads (and for
// writes too from the first write that would block: see reactor.hpp's Interest), and stays
// registered as long as the Async lives, however many times it is awaited. until_ready() first asks the registration whether the last event said that
// direction is ready: if not, it leaves the task's waker for that direction and returns "not
// yet" without a system call, so a fresh connection is not read before its first bytes have
// arrived. If so, it makes the call; "would block" clears the bit. Declared after the socket,
// the registration is removed before the socket is closed.
//
// The futures borrow the Async (they hold a pointer to it). That is safe in the way they are
// used: `co_await read(connection, buffer)` in the coroutine that owns `connection`. The
// future lives in that coroutine's frame, next to the Async, and is destroyed before the
// coroutine can go on, let alone end. This is what a Rust `async fn` does with
// `stream.read(&mut buf).await`, and what stage 12's poll_fn could not do: a future spawned
// on its own must own everything it touches.
#pragma once

#include "future.hpp"
#include "net.hpp"
#include "poll_fn.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <utility>

template <class T>
class Async {
  public:
    explicit Async(T socket) : socket_(std::move(socket)), registration_(socket_.fd()) {
        socket_.set_nonblocking();
    }

    T& get() { return socket_; }

    // A future that calls `attempt(socket)`, once `direction` is ready, on each poll until it
    // returns a value (its output); std::nullopt from it means "would block". Errors it
    // throws come out of poll(), and so out of the co_await. Each value spends one unit of
    // the task's budget (coop, in scheduler.hpp); with none left it does not even try.
    template <class Attempt>
    auto until_ready(Direction direction, Attempt attempt) {
        return poll_fn([this, direction, attempt = std::move(attempt)](const Waker& waker) mutable {
            using Result = decltype(attempt(socket_));
            if (!coop::has_budget()) {
                // Yield: ready or not, let the other tasks run first. Nobody else would wake
                // us (the socket may have been ready all along), so we wake ourselves: the
                // Scheduler queues the task at the back, and polls it with a new budget.
                waker.wake();
                return Result();
            }
            if (!registration_.poll_ready(direction, waker)) {
                return Result(); // not ready since the last "would block": no system call
            }
            Result result = attempt(socket_);
            if (result) {
                coop::spend();
            } else {
                // Clearing the bit after the call cannot lose an edge that came in between:
                // events are only handled by REACTOR.wait(), on this same thread, never while
                // a task runs. An edge the kernel queued meanwhile sets the bit at that wait.
                registration_.would_block(direction, waker);
            }
            return result;
        });
    }

    // Says that `direction` is not ready any more (a short read emptied the socket): the next
    // poll waits for an edge.
    void drained(Direction direction) { registration_.drained(direction); }

    // A future that is ready once `direction` is, as far as the last event says: no system
    // call. What a coroutine awaits before it allocates what the call will need.
    auto ready(Direction direction) {
        return poll_fn([this, direction](const Waker& waker) -> std::optional<Unit> {
            if (registration_.poll_ready(direction, waker)) {
                return Unit{};
            }
            return std::nullopt;
        });
    }

  private:
    T socket_;
    Registration registration_; // after socket_: removed before it is closed
};

// A future of the next connection, non-blocking from the start (accept4's SOCK_NONBLOCK, as
// mio does): wrapping it in an Async costs no ioctl.
inline auto accept(Async<TcpListener>& listener) {
    return listener.until_ready(Direction::read,
                                [](TcpListener& socket) { return socket.accept(Blocking::no); });
}

// A future of the number of bytes read into `buffer`; 0 means the peer closed its side.
//
// A short read (fewer bytes than the buffer holds) took everything the socket had, so it
// clears the readiness bit at once: the next read waits for the next edge instead of making
// a system call only to hear "would block". Bytes that arrive later make a new edge, and the
// kernel reports it. tokio does the same for its streams. On a kept connection this saves a
// read per request.
inline auto read(Async<TcpStream>& stream, std::span<char> buffer) {
    return stream.until_ready(Direction::read, [&stream, buffer](TcpStream& socket) {
        std::optional<std::size_t> n = socket.read(buffer);
        if (n && *n > 0 && *n < buffer.size()) {
            stream.drained(Direction::read);
        }
        return n;
    });
}

// A future that is ready once the peer has sent something (or closed, or reset): the next
// read will not say "would block". It reads nothing.
inline auto readable(Async<TcpStream>& stream) { return stream.ready(Direction::read); }

// A future that is ready once all of `bytes` is written. `bytes` must outlive it.
inline auto write_all(Async<TcpStream>& stream, std::string_view bytes) {
    auto write_what_fits = [bytes](TcpStream& socket) mutable -> std::optional<Unit> {
        while (!bytes.empty()) {
            std::optional<std::size_t> n = socket.write(bytes);
            if (!n) {
                return std::nullopt; // the send buffer is full; `bytes` remembers where we are
            }
            bytes.remove_prefix(*n);
        }
        return Unit{};
    };
    return stream.until_ready(Direction::write, std::move(write_what_fits));
}
