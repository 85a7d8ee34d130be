// The server: accept a connection, serve it, then accept the next one.
//
// Simplification: one connection at a time. A client that connects and then sends nothing
// holds up everyone behind it; stage 02 gives each connection its own thread.
#include "handle_connection.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <cstdio>
#include <system_error>

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(argc, argv, {STAGE, "serves one connection at a time"});
    try {
        TcpListener listener = TcpListener::bind(args.port);
        announce_listening(listener.port());

        for (;;) {
            TcpStream connection = listener.accept().value(); // blocking: never "not now"
            try {
                handle_connection(std::move(connection), args.quiet);
            } catch (const std::system_error& error) {
                // A client that resets or misbehaves costs its own connection, nothing more.
                std::fprintf(stderr, "connection failed: %s\n", error.what());
            }
        }
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}
