#include "server.hpp"

#include "log.hpp"
#include "scheduler.hpp"

#include <cstdio>
#include <system_error>

std::optional<Unit> Handler::poll(const Waker& waker) {
    if (!registration_) {
        // Start. Registering after the client's bytes arrived loses nothing: an
        // edge-triggered registration reports an fd that is ready already, and advance()
        // below reads whatever is there before we return.
        registration_.emplace(connection_.fd(), waker);
    }
    try {
        // Read, Write, Flush: as far as the socket allows right now, until "would block".
        if (connection_.advance()) {
            return Unit{}; // done: the scheduler destroys us, which deregisters and closes
        }
    } catch (const std::system_error& error) {
        // The client reset the connection. That ends this task, normally: a reset is the
        // client's business, not a failure of the server, so it is logged here instead of
        // escaping as a task exception.
        std::fprintf(stderr, "connection failed: %s\n", error.what());
        return Unit{};
    }
    return std::nullopt; // the reactor will wake us when the socket has more for us
}

std::optional<Unit> Main::poll(const Waker& waker) {
    if (std::holds_alternative<Start>(state_)) {
        TcpListener listener = TcpListener::bind(port_);
        listener.set_nonblocking();
        // The listener is registered edge-triggered, like every fd in this reactor: one wake
        // per burst of arrivals, so each poll must accept until "would block" (below).
        Registration registration(listener.fd(), waker);
        std::uint16_t port = listener.port();
        state_ = Accept{std::move(listener), std::move(registration)};
        // A client that connects as soon as it reads this line waits in the listen backlog
        // until the accept loop below drains it, registered or not (stage 14 announces first).
        announce_listening(port);
    }

    auto& accept = std::get<Accept>(state_);
    // The article accepts one connection per poll and relies on level-triggered epoll to
    // call it back for the next. Edge-triggered, the rest of a burst would wait for the next
    // arrival, so we drain the backlog every time.
    while (std::optional<TcpStream> stream = accept.listener.accept()) {
        SCHEDULER.spawn(Handler(Connection(std::move(*stream), quiet_)));
    }
    return std::nullopt; // the server runs until the process ends
}
