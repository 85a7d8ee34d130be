// A request deadline: a client that has not sent its whole request a second after it was accepted is dropped
//
// The challenge: a client gets one second, from the moment the server accepts it, to send its
// whole request. Once the second is up and the request is still incomplete, advance finishes
// the connection (it returns true, so main drops it and closes the socket) without an answer.
// Stage 04's loop passes over every connection all the time, so a connection can check the
// clock when its read says "would block". This also stops a slowloris client, one that keeps
// the connection alive by sending a byte now and then and never finishes: a read timeout
// (stage 01's challenge) would let it through.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <chrono>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

TEST_CASE("a silent client and one that trickles its request are dropped; others are served") {
    testing::ServerProcess server;
    testing::Client silent(server.port());    // connects, then says nothing
    testing::Client trickling(server.port()); // sends one byte every 100 ms: its request
    const std::string request(testing::get_request); // would take 8 s, it never gets there

    // Trickle for up to 5 s, watching for the server to end the connection. The pause is
    // poll's timeout: it waits for the close, and paces the bytes while none comes.
    auto start = std::chrono::steady_clock::now();
    bool ended = false;
    for (std::size_t i = 0; i + 1 < request.size(); ++i) {
        if (std::chrono::steady_clock::now() - start > 5s) {
            break;
        }
        if (!trickling.send(request.substr(i, 1))) {
            ended = true; // the server closed, and our byte met a reset
            break;
        }
        pollfd entry{trickling.fd(), POLLIN, 0};
        if (::poll(&entry, 1, 100) > 0) {
            ended = true; // the server closed (or reset) the connection
            break;
        }
    }
    if (ended) {
        testing::Reply reply = trickling.read_to_end(1s);
        INFO("the trickling client got: ", testing::describe(reply));
        CHECK((reply.ended() && reply.bytes.empty())); // no answer to half a request
    } else {
        FAIL_CHECK("a client sending one byte of its request every 100 ms should be dropped a "
                   "second after it was accepted; it was still connected after 5 s");
    }

    // More than a second has passed: the silent client should be gone too, without an answer.
    {
        INFO("a client that sent nothing should be closed without an answer after a second");
        CHECK(silent.read_to_end(1s) == std::string_view{});
    }

    // And the deadline costs nobody else: a client that sends its request at once is served.
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
}
