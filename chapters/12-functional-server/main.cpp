// The server: one task on the runtime, serve() (server.hpp), built from poll_fn and chain.
//
// Stage 11 spawned Main, a state machine written by hand. serve() does the same work as a
// chain of two steps (bind, then accept forever), and the handler it spawns for each
// connection is a chain of four. The runtime underneath is stage 10's, unchanged.
//
// Simplification: the server runs until it is killed. Ctrl-C ends it at once, dropping any
// request in flight; stage 13 adds the combinators a graceful shutdown needs.
#include "scheduler.hpp"
#include "server.hpp"
#include "server_args.hpp"

#include "net.hpp"

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(
        argc, argv, {STAGE, "serves every connection with futures built from poll_fn and chain"});
    SCHEDULER.spawn(serve(args.port, args.quiet));
    SCHEDULER.run();
    // serve() never finishes, so run() returns only if it failed (the port could not be
    // bound, accept broke) and the handlers still running have finished: SCHEDULER has
    // logged why on stderr.
    return 1;
}
