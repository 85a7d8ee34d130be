// Clients that are slow or give up: they may cost their own connection, never anyone else's.
#include "behaviour.hpp"
#include "http.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace behaviour;

// A client that connects and then sends nothing must not hold up the next one. This is the
// limit of the blocking server (stage 01): it waits on the silent client forever.
TEST_CASE("stalled client") {
    testing::ServerProcess server;
    INFO(output_of(server));
    testing::Client stalled(server.port()); // connects first, then says nothing
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
}

// Sixteen silent clients must not hold up the next one either. This is the limit of a pool
// of a few worker threads (stage 03): each silent client takes a worker for as long as it
// stays silent, and the next client waits in the queue behind them.
TEST_CASE("many stalled clients") {
    testing::ServerProcess server;
    INFO(output_of(server));
    std::vector<testing::Client> stalled;
    for (int i = 0; i < 16; ++i) {
        stalled.emplace_back(server.port());
    }
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
}

// A client that sends half a request and then closes (an orderly FIN, not a reset) has gone
// away: the server serves everyone else and releases that connection's descriptor, so 100
// of them leave it with as many open fds as before.
TEST_CASE("early close") {
    testing::ServerProcess server;
    INFO(output_of(server));
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
    // Counted after one request, so that anything a server opens on its first connection
    // (a thread, an eventfd) is part of the baseline.
    int baseline = testing::open_fd_count(server.pid());

    for (int i = 0; i < 100; ++i) {
        testing::Client client(server.port());
        REQUIRE(client.send(half_request));
        client.close();
        if (i % 10 == 9) {
            INFO("after ", i + 1, " early closes");
            REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
        }
    }

    // The server closes a connection when it reads its end; nothing tells us when that has
    // happened, so look at /proc until the count is back (or the deadline passes).
    int open_fds = 0;
    bool back = eventually([&] { return (open_fds = testing::open_fd_count(server.pid())) <= baseline; }, 2s);
    INFO("open fds: ", baseline, " after the first request, ", open_fds, " now");
    CHECK(back);
    CHECK(server.alive());
}
