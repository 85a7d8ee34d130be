// Connection's state machine on its own, over a socket pair: no server, no event loop. The
// test plays the loop: it calls advance, feeds the client side, and calls advance again.
#include "connection.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "net.hpp"
#include "socket_pair.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <chrono>
#include <string>
#include <system_error>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

// True if the client side has bytes (or an end of stream) waiting, without waiting for any.
bool has_pending_input(const Fd& fd) {
    pollfd entry{fd.get(), POLLIN, 0};
    return ::poll(&entry, 1, 0) > 0;
}

} // namespace

TEST_CASE("a connection answers a complete request with the exact response and finishes") {
    auto [client, server] = socket_pair();
    testing::write_all(client, testing::get_request);
    {
        Connection connection(TcpStream(std::move(server)), true);
        CHECK(connection.advance());
    } // dropping the finished connection closes its socket
    CHECK(testing::read_to_end(client) == http::response);
}

TEST_CASE("a request arriving in pieces takes several advance calls, each returning at once") {
    auto [client, server] = socket_pair();
    Connection connection(TcpStream(std::move(server)), true);
    std::string request(testing::get_request);

    testing::write_all(client, request.substr(0, 10));
    CHECK_FALSE(connection.advance());
    CHECK_FALSE(connection.advance()); // nothing new arrived: still "not now"

    // Stop inside the blank line: "\r\n\r" is not the end of the request yet.
    testing::write_all(client, request.substr(10, request.size() - 11));
    CHECK_FALSE(connection.advance());
    CHECK_FALSE(has_pending_input(client)); // no response before the request is complete

    testing::write_all(client, request.substr(request.size() - 1));
    CHECK(connection.advance());
    REQUIRE(has_pending_input(client));
    std::string received(http::response.size(), '\0');
    CHECK(::recv(client.get(), received.data(), received.size(), MSG_WAITALL) ==
          static_cast<ssize_t>(received.size()));
    CHECK(received == http::response);
}

TEST_CASE("a connection answers 431 to a request bigger than its buffer") {
    auto [client, server] = socket_pair();
    testing::write_all(client, std::string(http::RequestBuffer::capacity + 100, 'x'));
    {
        Connection connection(TcpStream(std::move(server)), true);
        CHECK(connection.advance());
    }
    CHECK(testing::read_to_end(client) == http::too_large_response);
}

TEST_CASE("a client that leaves mid-request finishes its connection quietly") {
    auto [client, server] = socket_pair();
    testing::write_all(client, "GET / HT");
    ::shutdown(client.get(), SHUT_WR);
    {
        Connection connection(TcpStream(std::move(server)), true);
        bool finished = false;
        CHECK_NOTHROW(finished = connection.advance());
        CHECK(finished);
    }
    CHECK(testing::read_to_end(client).empty());
}

TEST_CASE("advance on a connection with no data returns 'not finished' without blocking") {
    auto [client, server] = socket_pair();
    // A guard, not a sleep: if Connection forgot to make its socket non-blocking, the read
    // would wait for data until this timeout instead of returning "would block" at once.
    timeval guard{2, 0};
    REQUIRE(::setsockopt(server.get(), SOL_SOCKET, SO_RCVTIMEO, &guard, sizeof guard) == 0);
    Connection connection(TcpStream(std::move(server)), true);

    auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(connection.advance());
    CHECK(std::chrono::steady_clock::now() - start < 1s);
}

TEST_CASE("advance throws std::system_error when the client resets the connection") {
    // A reset needs TCP (a socket pair has no RST), so this one uses a real loopback socket.
    TcpListener listener = TcpListener::bind(0);
    testing::Client client(listener.port());
    Connection connection(listener.accept().value(), true);
    pollfd server_side{connection.fd(), POLLIN, 0};

    REQUIRE(client.send("GET / HT"));
    REQUIRE(::poll(&server_side, 1, 5000) == 1); // wait (with a deadline) for the bytes
    CHECK_FALSE(connection.advance());           // reads them all, then "would block"

    client.reset();
    REQUIRE(::poll(&server_side, 1, 5000) == 1); // now wait for the reset to arrive
    CHECK_THROWS_AS(connection.advance(), std::system_error);
}
