// TcpListener and TcpStream: the small part of Rust's std::net that the servers need.
//
// Like the article's code, every call tells three outcomes apart:
//   - it worked (a connection, a byte count);
//   - it would block (std::nullopt): a result, not an error; only non-blocking sockets see it;
//   - a real error: thrown as std::system_error with errno and context.
// All sockets are bound to 127.0.0.1 and created close-on-exec.
#pragma once

#include "fd.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

// Whether a socket is in blocking mode (the default, as in Rust's std) or non-blocking.
enum class Blocking { yes, no };

class TcpStream {
  public:
    // `blocking` says what `fd` is already: Blocking::no for one accepted non-blocking.
    explicit TcpStream(Fd fd, Blocking blocking = Blocking::yes)
        : fd_(std::move(fd)), nonblocking_(blocking == Blocking::no) {}

    // Reads into `buffer`. Returns the byte count (0 means the peer closed its side), or
    // std::nullopt if the socket is non-blocking and no data is there yet.
    std::optional<std::size_t> read(std::span<char> buffer);

    // Writes some prefix of `bytes`; returns how much, or std::nullopt if it would block.
    // Uses MSG_NOSIGNAL: writing to a closed peer is an EPIPE error, never a SIGPIPE.
    std::optional<std::size_t> write(std::span<const char> bytes);

    // Rust's `write_all`: loops until every byte is written. Blocking sockets only.
    void write_all(std::span<const char> bytes);

    // Sets O_NONBLOCK, with a system call only if the socket is not non-blocking already.
    void set_nonblocking();
    int fd() const { return fd_.get(); }

  private:
    Fd fd_;
    bool nonblocking_;
};

class TcpListener {
  public:
    // Binds 127.0.0.1:port (port 0 lets the kernel pick a free one) with SO_REUSEADDR, as
    // Rust's TcpListener::bind does, and starts listening.
    static TcpListener bind(std::uint16_t port);

    // Accepts one connection; std::nullopt means "would block" (non-blocking listener only).
    //
    // Errors that concern a single client (it reset before we accepted it) are skipped.
    // Running out of file descriptors (EMFILE/ENFILE) is survived with libuv's reserve-fd
    // trick: we keep one spare descriptor open, and when accept fails for lack of fds we
    // close the spare, accept the waiting client, close it at once (it sees its connection
    // closed instead of hanging in the backlog), and reopen the spare. This keeps the
    // backlog moving, so a level-triggered epoll listener does not spin and the server
    // recovers by itself once descriptors are free again.
    //
    // With Blocking::no the connection is non-blocking from the start (accept4's
    // SOCK_NONBLOCK, as mio does): no system call later to make it so.
    std::optional<TcpStream> accept(Blocking blocking = Blocking::yes);

    void set_nonblocking();
    std::uint16_t port() const;
    int fd() const { return fd_.get(); }

  private:
    explicit TcpListener(Fd fd);
    bool drop_one_pending_connection();

    Fd fd_;
    Fd spare_;
};

// Sets O_NONBLOCK on a descriptor.
void set_nonblocking(int fd);

// Rust's runtime ignores SIGPIPE before `main` runs; C++ does not, and one write to a closed
// socket or pipe would kill the whole server. Servers call this first thing in main.
void ignore_sigpipe();
