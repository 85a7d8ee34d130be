// handle_connection on its own, over a socket pair: no server, no ports.
#include "handle_connection.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "socket_pair.hpp"

#include <doctest/doctest.h>

#include <string>
#include <sys/socket.h>

using testing::socket_pair;

TEST_CASE("handle_connection answers a complete request with the exact response") {
    auto [client, server] = socket_pair();
    testing::write_all(client, testing::get_request);
    handle_connection(TcpStream(std::move(server)), true);
    CHECK(testing::read_to_end(client) == http::response);
}

TEST_CASE("handle_connection waits for the blank line even when it arrives in pieces") {
    auto [client, server] = socket_pair();
    std::string request(testing::get_request);
    // Split inside "\r\n\r\n" too. A socket pair keeps the writes as separate reads only if
    // the reader is slower, so this mainly checks nothing is lost when they merge.
    testing::write_all(client, request.substr(0, request.size() - 3));
    testing::write_all(client, request.substr(request.size() - 3));
    handle_connection(TcpStream(std::move(server)), true);
    CHECK(testing::read_to_end(client) == http::response);
}

TEST_CASE("handle_connection answers 431 to a request bigger than its buffer") {
    auto [client, server] = socket_pair();
    testing::write_all(client, std::string(http::RequestBuffer::capacity + 100, 'x'));
    handle_connection(TcpStream(std::move(server)), true);
    CHECK(testing::read_to_end(client) == http::too_large_response);
}

TEST_CASE("handle_connection returns quietly when the client leaves mid-request") {
    auto [client, server] = socket_pair();
    testing::write_all(client, "GET / HT");
    ::shutdown(client.get(), SHUT_WR);
    CHECK_NOTHROW(handle_connection(TcpStream(std::move(server)), true));
    CHECK(testing::read_to_end(client).empty());
}
