// The server: serve() (server.hpp) on the runtime, now with a graceful shutdown.
//
// On SIGINT (Ctrl-C) or SIGTERM the server stops accepting, lets the requests in flight
// finish, and exits with status 0 once none is left, or when the grace period (--grace-ms,
// 30 s by default) is over. A second signal during that wait exits at once, with status 130.
#include "ctrl_c.hpp"
#include "scheduler.hpp"
#include "server.hpp"
#include "server_args.hpp"

#include "net.hpp"

#include <cstdio>
#include <memory>
#include <system_error>

int main(int argc, char** argv) {
    ignore_sigpipe();
    try {
        // First of all, before any thread exists (they inherit the mask), and before the
        // readiness line: from here on SIGINT and SIGTERM wait for a ctrl_c() future instead
        // of killing the process.
        block_shutdown_signals();
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
    ServerArgs args = server_args_or_exit(argc, argv,
                                          {STAGE, "serves with futures and shuts down gracefully on Ctrl-C",
                                           /*has_grace_period=*/true});

    auto exit_status = std::make_shared<int>(1); // set to 0 by a completed graceful shutdown
    SCHEDULER.spawn(serve(args, exit_status));
    SCHEDULER.run();
    // run() returns once no task is left: after a graceful shutdown in which every request
    // finished, or if serve() failed (the port could not be bound): SCHEDULER logged why.
    return *exit_status;
}
