#include "handle_connection.hpp"

#include "http.hpp"
#include "log.hpp"

void handle_connection(TcpStream connection, bool quiet) {
    http::RequestBuffer request;

    // Read until the blank line that ends the request. The article reads into a fixed
    // 1024-byte buffer too, but a bigger request would overflow it; ours stops when it is
    // full and answers 431 instead.
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
