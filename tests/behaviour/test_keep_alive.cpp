// Keep-alive: HTTP/1.1 persistent connections, for the stages that offer them with
// `--keep-alive` (stage 15 on). These cases are a binary of their own, `behaviour-keep-alive`,
// registered only for those stages (tests/meson.build): every other stage's contract is one
// request per connection, and the main suite checks exactly that.
//
// On a kept connection each response is exactly http::keep_alive_response (below), requests
// are answered in order, even pipelined (sent before any answer arrived), a request with
// `Connection: close` gets the usual response and a close, and an idle connection is closed
// after --idle-ms.
#include "behaviour.hpp"
#include "http.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>

#include <string>

using namespace behaviour;

namespace {

constexpr std::string_view kept_response = "HTTP/1.1 200 OK\r\n"
                                           "Content-Length: 12\r\n"
                                           "\r\n"
                                           "Hello world!";

constexpr std::string_view closing_request = "GET / HTTP/1.1\r\n"
                                             "Host: 127.0.0.1\r\n"
                                             "Connection: close\r\n"
                                             "\r\n";

// Reads until `size` bytes have arrived, the server ends the connection, or `timeout`
// passes; returns what arrived. A kept connection is not closed, so read_to_end would wait.
std::string read_bytes(testing::Client& client, std::size_t size, std::chrono::milliseconds timeout) {
    std::string bytes;
    auto deadline = Clock::now() + timeout;
    while (bytes.size() < size && Clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd entry{client.fd(), POLLIN, 0};
        if (::poll(&entry, 1, static_cast<int>(left.count()) + 1) <= 0) {
            break;
        }
        char buffer[1024];
        ssize_t n = ::recv(client.fd(), buffer, std::min(sizeof buffer, size - bytes.size()), 0);
        if (n <= 0) {
            break; // closed or reset
        }
        bytes.append(buffer, static_cast<std::size_t>(n));
    }
    return bytes;
}

testing::ServerOptions keep_alive(std::string idle_ms = "5000") {
    return {.extra_args = {"--keep-alive", "--idle-ms", idle_ms}};
}

std::string repeated(std::string_view bytes, int times) {
    std::string all;
    for (int i = 0; i < times; ++i) {
        all += bytes;
    }
    return all;
}

} // namespace

TEST_CASE("keep-alive: requests one after another on one connection") {
    testing::ServerProcess server(keep_alive());
    INFO(output_of(server));
    testing::Client client(server.port());
    for (int i = 0; i < 20; ++i) {
        INFO("request ", i);
        REQUIRE(client.send(testing::get_request));
        CHECK(testing::escaped(read_bytes(client, kept_response.size(), 2s)) ==
              testing::escaped(kept_response));
    }
    // Still open: nothing more arrives, no close, until the client asks for one.
    CHECK(what_arrives(client, 100ms) == "nothing");
    REQUIRE(client.send(closing_request));
    CHECK(client.read_to_end(2s) == http::response);
}

TEST_CASE("keep-alive: pipelined requests are answered in order") {
    testing::ServerProcess server(keep_alive());
    INFO(output_of(server));
    testing::Client client(server.port());
    // Five requests and a closing one in a single send, then one the server must ignore.
    REQUIRE(client.send(repeated(testing::get_request, 5) + std::string(closing_request) +
                        std::string(testing::get_request)));
    CHECK(client.read_to_end(2s) == repeated(kept_response, 5) + std::string(http::response));
}

TEST_CASE("keep-alive: a request split across reads and requests split between them") {
    testing::ServerProcess server(keep_alive());
    INFO(output_of(server));
    testing::Client client(server.port());
    std::string two = repeated(testing::get_request, 2);
    std::size_t cut = testing::get_request.size() + 7; // inside the second request
    REQUIRE(client.send(two.substr(0, cut)));
    CHECK(testing::escaped(read_bytes(client, kept_response.size(), 2s)) ==
          testing::escaped(kept_response));
    CHECK(what_arrives(client, 100ms) == "nothing"); // the second is not complete yet
    REQUIRE(client.send(two.substr(cut) + std::string(closing_request)));
    CHECK(client.read_to_end(2s) == std::string(kept_response) + std::string(http::response));
}

TEST_CASE("keep-alive: Connection close gets the closing response") {
    testing::ServerProcess server(keep_alive());
    INFO(output_of(server));
    CHECK(testing::fetch(server.port(), closing_request, 2s) == http::response);
    // Header names and values are not case-sensitive, and the value may be a list.
    CHECK(testing::fetch(server.port(), "GET / HTTP/1.1\r\nconnection: Upgrade, CLOSE\r\n\r\n",
                         2s) == http::response);
}

TEST_CASE("keep-alive: an idle connection is closed after idle-ms") {
    testing::ServerProcess server(keep_alive("200"));
    INFO(output_of(server));
    testing::Client client(server.port());
    REQUIRE(client.send(testing::get_request));
    // The response, then (without a word more) the close, once idle for 200 ms.
    CHECK(client.read_to_end(5s) == kept_response);
    // A connection that never sent anything is idle too.
    testing::Client silent(server.port());
    CHECK(silent.read_to_end(5s) == "");
}

TEST_CASE("keep-alive: a request too large for the buffer gets 431 and a close") {
    testing::ServerProcess server(keep_alive());
    INFO(output_of(server));
    testing::Client client(server.port());
    REQUIRE(client.send(testing::get_request));
    CHECK(testing::escaped(read_bytes(client, kept_response.size(), 2s)) ==
          testing::escaped(kept_response));
    REQUIRE(client.send("GET / HTTP/1.1\r\nX-Long: " + std::string(2000, 'x')));
    CHECK(client.read_to_end(2s) == http::too_large_response);
}
