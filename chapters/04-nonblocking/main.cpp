// The server: one thread, non-blocking sockets, and a loop that never waits.
//
// Each pass of the loop accepts whoever is waiting, then gives every open connection a turn
// (Connection::advance) and drops the ones that finished. No call blocks, so a client that
// sends nothing costs one fruitless read per pass instead of holding up a thread.
//
// Simplification: the loop never sleeps. With nothing to do it keeps asking every socket
// "anything yet?" as fast as the CPU allows, so an idle server burns a whole core. Stage 05
// lets the kernel tell us which sockets are ready (epoll) and sleeps until one is.
#include "connection.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <cstdio>
#include <optional>
#include <system_error>
#include <vector>

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(
        argc, argv, {STAGE, "serves every connection from one thread that never waits"});
    try {
        TcpListener listener = TcpListener::bind(args.port);
        listener.set_nonblocking();
        announce_listening(listener.port());

        std::vector<Connection> connections;
        for (;;) {
            // Accept until "would block": nobody else is waiting, for now. (The article
            // accepts one connection per pass; taking the whole backlog costs nothing more.)
            while (std::optional<TcpStream> stream = listener.accept()) {
                connections.emplace_back(std::move(*stream), args.quiet);
            }

            std::vector<std::size_t> completed;
            for (std::size_t i = 0; i < connections.size(); ++i) {
                try {
                    if (connections[i].advance()) {
                        completed.push_back(i);
                    }
                } catch (const std::system_error& error) {
                    // A client that resets costs its own connection, nothing more.
                    std::fprintf(stderr, "connection failed: %s\n", error.what());
                    completed.push_back(i);
                }
            }

            // Remove in reverse order, as the article does: erasing index i shifts every later
            // connection down by one, so going from the back keeps the indices still to be
            // erased (all smaller than i) pointing at the right connections. Erasing a
            // Connection closes its socket.
            for (auto i = completed.rbegin(); i != completed.rend(); ++i) {
                connections.erase(connections.begin() + static_cast<std::ptrdiff_t>(*i));
            }
        }
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}
