// A connection limit: at most 1024 at once, and the next client waits its turn
//
// The challenge: make Main stop accepting while 1024 Handlers are alive, and accept again as
// soon as one of them finishes. A client beyond the limit waits in the listen backlog (the
// kernel completes its connection and keeps its request) and is served once a place frees
// up. The server then never holds more than 1024 connections, whatever the clients do.
//
// Two futures written by hand now depend on each other: a finishing Handler must wake Main,
// because nothing else will. The listener is edge-triggered, and Main stopped accepting
// before the backlog said "would block", so no new edge comes for the clients already
// waiting there.
//
// The test holds 1024 idle connections, checks that the next client gets no answer for a
// second while they are all open, then closes one of them and expects that client to be
// served.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <chrono>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("with 1024 connections open the next client waits, and is served when one leaves") {
    constexpr int limit = 1024;
    // 1024 connections need more than the common default of 1024 fds, on each side (the
    // server inherits the limit raised here).
    REQUIRE_MESSAGE(testing::raise_fd_limit() >= limit + 100,
                    "this test needs an open-file limit of ", limit + 100);
    testing::ServerProcess server({.extra_args = {"--quiet"}});
    const int fds = testing::open_fd_count(server.pid());

    std::vector<testing::Client> idle;
    idle.reserve(limit);
    for (int i = 0; i < limit; ++i) {
        idle.emplace_back(server.port());
    }
    // All of them accepted: the server holds a socket for each.
    REQUIRE(testing::eventually(
        [&] { return testing::open_fd_count(server.pid()) >= fds + limit; }, 10s));

    testing::Client next(server.port()); // connected by the kernel, in the backlog
    REQUIRE(next.send(testing::get_request));
    pollfd answer{next.fd(), POLLIN, 0};
    {
        INFO("with ", limit, " connections open, the next client should not be accepted, "
             "so not answered either; it was (the server has no limit)");
        CHECK(::poll(&answer, 1, 1000) == 0);
    }

    idle.front().close(); // its Handler finishes: one place is free
    INFO("once one of the ", limit, " connections closed, the waiting client should be served");
    CHECK(next.read_to_end(5s) == http::response);

    idle.clear();
    CHECK(testing::fetch(server.port()) == http::response);
}
