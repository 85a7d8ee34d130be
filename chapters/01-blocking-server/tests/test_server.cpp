// The stage's server, run as a process and spoken to over 127.0.0.1.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <csignal>

using namespace std::chrono_literals;

TEST_CASE("the server answers curl's request with the exact response bytes") {
    testing::ServerProcess server;
    CHECK(testing::fetch(server.port()) == http::response);
}

TEST_CASE("the server logs each request on stdout, and --quiet silences it") {
    {
        testing::ServerProcess server;
        REQUIRE(testing::fetch(server.port()) == http::response);
        CHECK(server.wait_for_output("GET / HTTP/1.1 -> 200", 5s));
    }
    testing::ServerProcess quiet({.extra_args = {"--quiet"}});
    REQUIRE(testing::fetch(quiet.port()) == http::response);
    quiet.signal(SIGTERM);
    REQUIRE(quiet.wait_exit(5s));
    CHECK(quiet.output().find("->") == std::string::npos);
}

TEST_CASE("limit: a client that sends nothing delays the client behind it") {
    testing::ServerProcess server;
    testing::Client stalled(server.port()); // connects first, then says nothing
    testing::Client next(server.port());
    REQUIRE(next.send(testing::get_request));

    // The server is stuck reading from `stalled`, so `next` gets nothing...
    CHECK(next.read_to_end(500ms).timed_out());

    // ...until the stalled client goes away. Stage 02 lifts this limit.
    stalled.close();
    CHECK(next.read_to_end(5s) == http::response);
}
