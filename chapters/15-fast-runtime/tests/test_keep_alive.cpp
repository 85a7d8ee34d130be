// keep_alive.hpp: the framing of a persistent connection, without sockets.
#include "keep_alive.hpp"

#include <doctest/doctest.h>

#include <algorithm>
#include <string>
#include <string_view>

using http::Requests;

namespace {

void receive(Requests& requests, std::string_view bytes) {
    std::copy(bytes.begin(), bytes.end(), requests.unfilled().begin());
    requests.filled(bytes.size());
}

} // namespace

TEST_CASE("Requests hands out pipelined requests one at a time, in order, keeping the rest") {
    Requests requests;
    receive(requests, "GET /a HTTP/1.1\r\n\r\nGET /b HTTP/1.1\r\n\r\nGET /c");
    REQUIRE(requests.next());
    CHECK(*requests.next() == "GET /a HTTP/1.1\r\n\r\n");
    requests.take(*requests.next());
    CHECK(*requests.next() == "GET /b HTTP/1.1\r\n\r\n");
    requests.take(*requests.next());
    CHECK_FALSE(requests.next()); // "GET /c" is not complete yet
    CHECK_FALSE(requests.empty());
    receive(requests, " HTTP/1.1\r\n\r\n");
    CHECK(*requests.next() == "GET /c HTTP/1.1\r\n\r\n");
    requests.take(*requests.next());
    CHECK(requests.empty());
}

TEST_CASE("Requests is full when 1024 bytes hold no complete request") {
    Requests requests;
    receive(requests, std::string(Requests::capacity, 'x'));
    CHECK(requests.full());
    CHECK_FALSE(requests.next());
    CHECK_THROWS_AS(requests.filled(1), std::length_error);
}

TEST_CASE("wants_close finds Connection: close in any case, alone or in a list") {
    CHECK(http::wants_close("GET / HTTP/1.1\r\nConnection: close\r\n\r\n"));
    CHECK(http::wants_close("GET / HTTP/1.1\r\nHost: x\r\nCONNECTION:Close \r\n\r\n"));
    CHECK(http::wants_close("GET / HTTP/1.1\r\nConnection: upgrade, close\r\n\r\n"));
    CHECK_FALSE(http::wants_close("GET / HTTP/1.1\r\n\r\n"));
    CHECK_FALSE(http::wants_close("GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n"));
    CHECK_FALSE(http::wants_close("GET / HTTP/1.1\r\nX-Connection: close\r\n\r\n"));
    CHECK_FALSE(http::wants_close("GET /close HTTP/1.1\r\nConnection: closed\r\n\r\n"));
}

TEST_CASE("may_have_body: a Content-Length other than 0, or a Transfer-Encoding") {
    CHECK(http::may_have_body("POST / HTTP/1.1\r\nContent-Length: 8192\r\n\r\n"));
    CHECK(http::may_have_body("POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\n\r\n"));
    CHECK_FALSE(http::may_have_body("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n"));
    CHECK_FALSE(http::may_have_body("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
}
