#include "handle_connection.hpp"

#include "http.hpp"
#include "log.hpp"

void handle_connection(TcpStream connection, bool quiet) {
    http::RequestBuffer request;

    // Read until the blank line that ends the request, into a fixed 1024-byte buffer as the
    // article does. When the article's buffer is full, its next read gets an empty slice and
    // returns 0, and it closes the connection without an answer; ours stops and answers 431.
    // (The article's real hole is `read - 4` in its blank-line check: after a first read of
    // fewer than 4 bytes it underflows, which panics in a debug build.)
    while (!request.complete() && !request.full()) {
        std::size_t n = connection.read(request.unfilled()).value(); // blocking: never "not now"
        if (n == 0) {
            return; // the client went away before finishing its request
        }
        request.filled(n);
    }

    std::string_view response = http::response_for(request);
    connection.write_all(response);
    log_request(quiet, request.first_line(), response);
    // The connection closes here, as `connection` goes out of scope. (The article's
    // `flush()` has nothing to do for a TcpStream: writes are not buffered.)
}
