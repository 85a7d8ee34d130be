// The server: one thread that sleeps in epoll_wait until some socket is ready.
//
// The listener and every connection are registered with one epoll instance. epoll_wait
// blocks until at least one of them is ready and says which; the server advances just
// those, then goes back to sleep. Connection is stage 04's, unchanged: the same state
// machine, a different driver. Instead of asking every socket on every pass, we let the
// kernel tell us who has something for us.
//
// Simplification: this loop knows every kind of thing it waits for (the listener, a
// Connection) and dispatches on the fd by hand; a second protocol, or a timer, would mean
// another branch here and another hand-written state machine. Stage 06 names the pattern
// (a future: something you poll until it is done), and the stages after it build a runtime
// that can drive any future.
#include "connection.hpp"
#include "error.hpp"
#include "fd.hpp"
#include "log.hpp"
#include "net.hpp"
#include "server_args.hpp"

#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <system_error>
#include <unordered_map>
#include <vector>

namespace {

// What we ask epoll to report for a connection. The article registers EPOLLIN | EPOLLOUT
// level-triggered, which means "report this fd whenever it is readable or writable". A
// connection still waiting for its request is always writable (its send buffer is empty),
// so epoll_wait would return it at once, every time, forever: stage 04's busy loop again,
// dressed up as progress. EPOLLET (edge-triggered) reports changes instead: once when the
// fd is added, then each time bytes arrive or send space frees up. The price is that after
// an event we must use up the readiness, reading or writing until "would block", or no new
// edge will come; Connection::advance already works that way. EPOLLRDHUP asks to hear about
// a client that closes its side too. mio (under tokio) registers every socket like this.
constexpr std::uint32_t connection_events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;

// Registers `fd` with `epoll`, with the fd itself as the event's data: the article's
// `Event::new(events, fd)` and `epoll::ctl(epoll, EPOLL_CTL_ADD, fd, event)`.
void add(const Fd& epoll, int fd, std::uint32_t events) {
    epoll_event event{};
    event.events = events;
    event.data.fd = fd;
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, fd, &event) < 0) {
        throw_errno("epoll_ctl(EPOLL_CTL_ADD)");
    }
}

// Takes `fd` out of the epoll set. Call it before closing the fd: close() alone removes it
// only if no other descriptor refers to the same socket (epoll(7)), and saying what we mean
// costs one system call. The article relies on close().
void remove(const Fd& epoll, int fd) {
    if (::epoll_ctl(epoll.get(), EPOLL_CTL_DEL, fd, nullptr) < 0) {
        throw_errno("epoll_ctl(EPOLL_CTL_DEL)");
    }
}

} // namespace

int main(int argc, char** argv) {
    ignore_sigpipe();
    ServerArgs args = server_args_or_exit(
        argc, argv, {STAGE, "serves every connection from one thread that sleeps in epoll"});
    try {
        TcpListener listener = TcpListener::bind(args.port);
        listener.set_nonblocking();

        // The epoll instance is a file descriptor too, so Fd owns it.
        Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll) {
            throw_errno("epoll_create1");
        }
        // The listener stays level-triggered, as in the article: while anyone waits in the
        // backlog, epoll keeps reporting it. We still accept until "would block" (the
        // article takes one connection per event), so a burst is let in at once.
        add(epoll, listener.fd(), EPOLLIN);
        announce_listening(listener.port());

        // The article's HashMap<RawFd, (TcpStream, ConnectionState)>: an event carries only
        // the fd, and the map finds the connection it belongs to.
        std::unordered_map<int, Connection> connections;
        std::array<epoll_event, 1024> events;
        for (;;) {
            int ready =
                ::epoll_wait(epoll.get(), events.data(), static_cast<int>(events.size()), -1);
            if (ready < 0) {
                if (errno == EINTR) {
                    continue; // a signal arrived while we slept: not an error, wait again
                }
                throw_errno("epoll_wait");
            }

            std::vector<int> completed;
            for (const epoll_event& event : std::span(events).first(ready)) {
                int fd = event.data.fd;
                if (fd == listener.fd()) {
                    while (std::optional<TcpStream> stream = listener.accept()) {
                        Connection connection(std::move(*stream), args.quiet);
                        int connection_fd = connection.fd();
                        add(epoll, connection_fd, connection_events); // once, for good
                        connections.emplace(connection_fd, std::move(connection));
                    }
                    continue;
                }

                // Whatever was reported (readable, writable, hung up, an error), advance
                // finds out for itself by trying, until the socket says "would block".
                auto found = connections.find(fd);
                if (found == connections.end()) {
                    continue; // cannot happen: we leave the epoll set before the map
                }
                try {
                    if (found->second.advance()) {
                        completed.push_back(fd);
                    }
                } catch (const std::system_error& error) {
                    // A client that resets costs its own connection, nothing more.
                    std::fprintf(stderr, "connection failed: %s\n", error.what());
                    completed.push_back(fd);
                }
            }

            // Finished connections go after the batch, as in the article. A map needs no
            // reverse order: erasing one key leaves the others where they are.
            for (int fd : completed) {
                remove(epoll, fd);     // out of the epoll set first...
                connections.erase(fd); // ...then the Connection, which closes the socket
            }
        }
    } catch (const std::system_error& error) {
        std::fprintf(stderr, "server: %s\n", error.what());
        return 1;
    }
}
