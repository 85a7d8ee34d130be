// HTTP/1.0 clients: a connection is kept only if the client asks for it
//
// The challenge: HTTP/1.1 connections are persistent unless a request says `Connection:
// close`; HTTP/1.0 ones are the other way round (RFC 9112, section 9.3): they close after
// each response unless the request says `Connection: keep-alive`, and then the response must
// say `Connection: keep-alive` too, or the client will wait for a close that never comes.
// With --keep-alive the stage treats every request as HTTP/1.1: an HTTP/1.0 client (ab,
// ApacheBench, is one) that does not ask to keep its connection waits --idle-ms for the
// close that tells it the response is over. Answer an HTTP/1.0 request (its request line ends
// in HTTP/1.0) with http::response and a close, unless it asks for keep-alive: then answer
// with the response below, and keep the connection.
#include "http.hpp"
#include "http_client.hpp"
#include "kept.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>

#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

constexpr std::string_view kept_1_0_response = "HTTP/1.1 200 OK\r\n"
                                               "Content-Length: 12\r\n"
                                               "Connection: keep-alive\r\n"
                                               "\r\n"
                                               "Hello world!";
testing::ServerOptions keep_alive() { return {.extra_args = {"--keep-alive", "--idle-ms", "10000"}}; }

} // namespace

TEST_CASE("an HTTP/1.0 request gets the closing response, and the close") {
    testing::ServerProcess server(keep_alive());
    INFO("an HTTP/1.0 client that did not ask for keep-alive should get Connection: close and "
         "a close, not wait --idle-ms for it");
    CHECK(testing::fetch(server.port(), "GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", 2s) ==
          http::response);
}

TEST_CASE("an HTTP/1.0 request that asks for keep-alive keeps its connection, and is told so") {
    testing::ServerProcess server(keep_alive());
    testing::Client client(server.port());
    for (int i = 0; i < 3; ++i) {
        INFO("request ", i);
        REQUIRE(client.send("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"));
        CHECK(testing::escaped(read_bytes(client, kept_1_0_response.size())) ==
              testing::escaped(kept_1_0_response));
    }
    // HTTP/1.1 requests on the same server are answered as before.
    testing::Client other(server.port());
    REQUIRE(other.send(testing::get_request));
    CHECK(testing::escaped(read_bytes(other, kept_response.size())) ==
          testing::escaped(kept_response));
}
