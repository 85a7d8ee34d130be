// The server: accept a connection and queue it for a fixed pool of worker threads.
//
// Simplification: kWorkers workers, however many clients come. The server's threads are
// bounded now (a queued connection costs a file descriptor and a few bytes, not a thread),
// but a worker is still tied up for as long as its client takes: kWorkers clients that send
// nothing occupy every worker, and everyone queued behind them waits. Stage 04 serves many
// connections on one thread by never blocking on any of them.
//
// No graceful stop yet: Ctrl-C kills the process, and with it every request still in flight.
// The blocked accept could be ended (shutdown() on the listener from another thread makes it
// fail with EINVAL), and ~ThreadPool already waits for the queued jobs. What is missing is a
// trigger, and a bound on the wait: a silent client holds its worker forever. Stage 13 has
// both.
#include "handle_connection.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"
#include "thread_pool.hpp"

#include <cstdio>
#include <exception>
#include <system_error>

namespace {

// A connection's job on a worker. It catches everything itself, so that a failed connection
// is reported as one; the pool's own catch is only a safety net for jobs in general.
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
        server_args_or_exit(argc, argv, {STAGE, "serves connections on a fixed pool of threads"});
    try {
        ThreadPool pool(kWorkers);
        TcpListener listener = TcpListener::bind(args.port);
        announce_listening(listener.port());

        for (;;) {
            TcpStream connection = listener.accept().value(); // blocking: never "not now"
            // The lambda owns the connection until a worker runs it. The pool never says no:
            // when every worker is busy the connection waits in the queue.
            pool.execute([connection = std::move(connection), quiet = args.quiet]() mutable {
                serve(std::move(connection), quiet);
            });
        }
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}
