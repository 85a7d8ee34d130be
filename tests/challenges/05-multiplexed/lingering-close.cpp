// A lingering close: a client whose request body the server never read gets its response and an orderly close, not a reset
//
// The challenge: every server closes with the request body unread. A client that sends a POST
// body gets its response on a connection that the kernel then resets: a socket closed with
// unread bytes in its receive buffer answers with RST, not FIN (RFC 2525), and a reset may
// destroy the response before the client has read it. Do what nginx does (its "lingering
// close"): once the response is written, shutdown(SHUT_WR), so the client sees the end of the
// response; then read and throw away whatever the client still sends, until it closes its
// side or a second has passed; only then close. The second is the bound: a client that never
// closes must not keep its connection, and its file descriptor, for ever.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

// A POST with an 8 KiB body: far more than the server reads (its buffer holds 1024 bytes,
// and it stops at the blank line anyway). Small enough to fit the client's send buffer, so
// sending it never waits for the server.
std::string post_with_body() {
    constexpr std::size_t body = 8192;
    return "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body) +
           "\r\n\r\n" + std::string(body, 'x');
}

} // namespace

TEST_CASE("a POST whose body the server does not read ends with the response, then a FIN") {
    testing::ServerProcess server;
    testing::Client client(server.port());
    client.send(post_with_body()); // if the server cut us off, the reply says how
    testing::Reply reply = client.read_to_end(4s);

    INFO("the client got: ", testing::describe(reply));
    CHECK(std::string_view(reply.bytes) == http::response);
    INFO("the connection should end with an orderly close (FIN), not a reset (RST): "
         "shutdown(SHUT_WR) after the response, then drain what the client sends");
    bool closed_in_order = reply.end == testing::Reply::End::closed;
    CHECK(closed_in_order);
}

TEST_CASE("the lingering is bounded: a client that never closes its side is let go") {
    testing::ServerProcess server;
    // Counted before any client: a count taken just after one could still include that
    // client's connection, lingering until its close arrives.
    const int baseline = testing::open_fd_count(server.pid());
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);

    testing::Client client(server.port());
    client.send(post_with_body());
    client.read_to_end(4s); // the response, however it ends
    // The client keeps its side open and says nothing. The server must close the connection
    // by itself, within its bound, and so get its descriptor back.
    int open_fds = 0;
    bool released = testing::eventually(
        [&] { return (open_fds = testing::open_fd_count(server.pid())) <= baseline; }, 5s);
    INFO("open fds: ", baseline, " before any client, ", open_fds,
         " 5 s after its response (it never closed its side)");
    CHECK(released);
}
