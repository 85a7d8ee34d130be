// A read timeout: a client silent for a second is dropped, and the one behind it is served
//
// The challenge: give every accepted connection a receive timeout of one second
// (setsockopt SO_RCVTIMEO), so that a read with nothing to read gives up instead of waiting
// forever, and handle_connection closes that connection. The stalled client then costs the
// clients behind it one second, not forever.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

using namespace std::chrono_literals;

TEST_CASE("a client that sends nothing is dropped and the client behind it is served") {
    testing::ServerProcess server;
    testing::Client stalled(server.port()); // connects first, then says nothing
    testing::Client next(server.port());
    REQUIRE(next.send(testing::get_request));

    INFO("the stalled client should be closed without an answer after about a second");
    CHECK(stalled.read_to_end(4s) == std::string_view{});
    INFO("then the client behind it should get its answer");
    CHECK(next.read_to_end(4s) == http::response);
}
