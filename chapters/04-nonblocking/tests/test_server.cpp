// The stage's server, run as a process and spoken to over 127.0.0.1.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <thread>
#include <vector>

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

TEST_CASE("a client that sends nothing no longer delays the client behind it") {
    testing::ServerProcess server;
    testing::Client stalled(server.port()); // connects first, then says nothing
    CHECK(testing::fetch(server.port()) == http::response);
    CHECK(stalled.send(testing::get_request)); // and it is still served when it speaks
    CHECK(stalled.read_to_end(5s) == http::response);
}

TEST_CASE("more stalled clients than stage 03 has workers do not starve the next client") {
    testing::ServerProcess server;
    std::vector<testing::Client> stalled;
    for (int i = 0; i < 16; ++i) {
        stalled.emplace_back(server.port());
    }
    CHECK(testing::fetch(server.port()) == http::response);
}

TEST_CASE("a client that resets mid-request costs only its own connection") {
    testing::ServerProcess server;
    for (int i = 0; i < 20; ++i) {
        testing::Client rude(server.port());
        REQUIRE(rude.send("GET / HTTP/1.1\r\n"));
        rude.reset();
        CHECK(testing::fetch(server.port()) == http::response);
    }
    CHECK(server.alive());
}

TEST_CASE("limit: an idle server burns CPU, asking every socket whether it is ready yet") {
    testing::ServerProcess server;
    auto cpu_before = testing::cpu_time(server.pid());
    auto wall_before = std::chrono::steady_clock::now();
    // A measurement window, not synchronization: nothing happens during it, and that is
    // the point. A loop that waited for work would use next to no CPU here.
    std::this_thread::sleep_for(500ms);
    auto cpu = testing::cpu_time(server.pid()) - cpu_before;
    auto wall = std::chrono::steady_clock::now() - wall_before;

    // It spins flat out; 25% of the wall time leaves room for a busy test machine. Stage 05
    // sleeps in epoll_wait instead and lifts this limit.
    CHECK(cpu * 4 >= wall);
}
