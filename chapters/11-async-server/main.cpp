// The server: one Main task on the runtime; everything else happens in futures.
//
// Stage 05's loop knew every kind of thing it waited for and dispatched on the fd by hand.
// Here main() knows nothing of sockets: it spawns Main (server.hpp), which binds, accepts,
// and spawns a Handler per connection, and lets SCHEDULER run them. The scheduler polls
// whatever is runnable and sleeps in REACTOR's epoll_wait when nothing is.
//
// Simplification: Main and Handler are state machines written by hand, each poll a switch on
// "where did I stop"; stage 12 builds them from small reusable pieces instead.
#include "scheduler.hpp"
#include "server.hpp"
#include "server_args.hpp"

#include "net.hpp"

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(
        argc, argv, {STAGE, "serves every connection as a task on a futures runtime"});
    SCHEDULER.spawn(Main(args.port, args.quiet));
    SCHEDULER.run();
    // Main never finishes, so run() returns only if it failed (the port could not be bound,
    // accept broke) and the handlers still running have finished: SCHEDULER has logged why
    // on stderr.
    return 1;
}
