// The server: accept a connection, hand it to a thread of its own, accept the next one.
//
// Simplification: one thread per connection, with no limit. A client that sends nothing
// now holds up only its own thread, but every open connection costs a thread: its stack
// (8 MiB of address space by default on Linux), the time to create it, and the kernel's
// time switching between all of them. Stage 03 bounds the threads with a pool.
//
// No graceful stop: Ctrl-C kills the process, and with it every request still in flight.
// The blocked accept is not the obstacle (shutdown() on the listener from another thread
// makes it fail with EINVAL, and a signal handled without SA_RESTART makes it fail with
// EINTR). The detached threads are: nothing knows which requests are in flight, so nothing
// can refuse new connections and wait for those. Stage 13 keeps that count.
#include "handle_connection.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <cstdio>
#include <exception>
#include <system_error>
#include <thread>

namespace {

// The body of a connection's thread. It must catch everything: an exception that escapes a
// std::thread calls std::terminate, which would take the whole server down, not just this
// connection. (A Rust thread that panics only ends itself; its JoinHandle reports it.)
void serve(TcpStream connection, bool quiet) {
    try {
        handle_connection(std::move(connection), quiet);
    } catch (const std::exception& error) {
        // A client that resets or misbehaves costs its own connection, nothing more.
        std::fprintf(stderr, "connection failed: %s\n", error.what());
    }
}

} // namespace

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args =
        server_args_or_exit(argc, argv, {STAGE, "serves each connection on a thread of its own"});
    try {
        TcpListener listener = TcpListener::bind(args.port);
        announce_listening(listener.port());

        for (;;) {
            TcpStream connection = listener.accept().value(); // blocking: never "not now"
            try {
                // The article's `thread::spawn(move || handle_connection(c))`. The lambda owns
                // the connection; detach() lets the thread run on without anyone joining it,
                // as a dropped JoinHandle does in Rust.
                std::thread([connection = std::move(connection), quiet = args.quiet]() mutable {
                    serve(std::move(connection), quiet);
                }).detach();
            } catch (const std::exception& error) {
                // No thread (EAGAIN: the thread limit, or no memory for another stack). The
                // lambda, and with it the connection, is destroyed: this client sees its
                // connection closed, and the server goes on accepting.
                std::fprintf(stderr, "could not start a thread: %s\n", error.what());
            }
        }
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}
