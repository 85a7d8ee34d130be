// A deadline per request: a client has 2 seconds to send its request, however it trickles it
//
// The challenge: a worker is tied up for as long as its client takes, so kWorkers clients
// that send a byte now and then hold every worker forever (a "slowloris" attack). A read
// timeout, as in stage 01's challenge, does not stop them: each byte starts it again. Give
// every connection a deadline instead: two seconds from the moment a worker takes it to the
// end of its request. When the deadline passes, handle_connection closes the connection (it
// may answer first, with 408 Request Timeout, or not at all), and the worker moves on.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "thread_pool.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <algorithm>
#include <chrono>
#include <vector>

using namespace std::chrono_literals;

TEST_CASE("kWorkers clients that trickle their request are cut off, and the client behind them is served") {
    testing::ServerProcess server;
    std::vector<testing::Client> tricklers; // one byte every 250 ms, a request that never ends
    std::vector<bool> cut_off(kWorkers, false);
    for (std::size_t i = 0; i < kWorkers; ++i) {
        tricklers.emplace_back(server.port());
        REQUIRE(tricklers.back().send("GET / HTTP/1.1\r\nX-Trickle: "));
    }
    testing::Client next(server.port()); // queued behind them, with its whole request
    REQUIRE(next.send(testing::get_request));

    // Trickle until `next` hears from the server, for 5 s at most. The 250 ms between bytes
    // are the clients' pace (what makes them slow), not a wait for the server: the poll on
    // `next` ends early when its answer comes.
    testing::Reply reply{"", testing::Reply::End::timed_out, 5s};
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (std::chrono::steady_clock::now() < deadline) {
        for (std::size_t i = 0; i < kWorkers; ++i) {
            if (!cut_off[i] && !tricklers[i].send("x")) {
                cut_off[i] = true; // the server closed it: a send fails (reset, or broken pipe)
            }
        }
        pollfd entry{next.fd(), POLLIN, 0};
        if (::poll(&entry, 1, 250) > 0) {
            reply = next.read_to_end(2s);
            break;
        }
    }
    {
        INFO("every worker is held by a client that sends a byte every 250 ms; 2 s after a "
             "worker took it, each should be cut off, and the client queued behind them served");
        CHECK(reply == http::response);
    }
    int still_open = 0;
    auto closes_by = std::chrono::steady_clock::now() + 2s; // for all of them together
    for (std::size_t i = 0; i < kWorkers; ++i) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            closes_by - std::chrono::steady_clock::now());
        if (!cut_off[i] && !tricklers[i].closed_by_server(std::max(left, 1ms))) {
            ++still_open;
        }
    }
    INFO(still_open, " of the ", kWorkers, " trickling clients still have their connection open");
    CHECK(still_open == 0);
}
