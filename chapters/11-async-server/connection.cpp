#include "connection.hpp"

#include "log.hpp"

#include <optional>

Connection::Connection(TcpStream stream, bool quiet) : stream_(std::move(stream)), quiet_(quiet) {
    stream_.set_nonblocking();
}

// The three `if`s run in order on purpose: a connection whose request completes in the Read
// step goes straight on to Write, and from there to Flush, within one call, as far as the
// socket lets it. Every `return false` is the article's `continue 'next`: this socket has
// nothing more for us now, so hand the thread back to the loop and let it serve the others.
bool Connection::advance() {
    if (auto* read = std::get_if<Read>(&state_)) {
        http::RequestBuffer& request = read->request;
        while (!request.complete() && !request.full()) {
            std::optional<std::size_t> n = stream_.read(request.unfilled());
            if (!n) {
                return false; // would block: the rest of the request has not arrived yet
            }
            if (*n == 0) {
                return true; // the client went away before finishing its request
            }
            request.filled(*n);
        }
        // A complete request gets the response; one that filled the buffer without its blank
        // line gets 431. The article logs here too, as soon as the request is in.
        std::string_view response = http::response_for(request);
        log_request(quiet_, request.first_line(), response);
        state_ = Write{response, 0}; // destroys `read` and its buffer: not used after this
    }

    if (auto* write = std::get_if<Write>(&state_)) {
        while (write->written < write->response.size()) {
            std::optional<std::size_t> n = stream_.write(write->response.substr(write->written));
            if (!n) {
                return false; // would block: the socket's send buffer is full, try later
            }
            write->written += *n;
        }
        state_ = Flush{};
    }

    // The article flushes last. Rust's TcpStream::flush has nothing to do (socket writes are
    // not buffered in the process) and neither would ours, so reaching Flush means the
    // exchange is over. The state stays so the machine reads like the article's, and because
    // a buffered writer would have real work here. (Always true by now: the Read and Write
    // steps either returned or moved on.)
    return std::holds_alternative<Flush>(state_);
}
