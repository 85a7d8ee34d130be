// The stage's server, run as a process and spoken to over 127.0.0.1.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <csignal>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {

using testing::eventually;

} // namespace

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
    testing::Client next(server.port());
    REQUIRE(next.send(testing::get_request));

    // `stalled` ties up only its own thread; `next` is answered on another one.
    CHECK(next.read_to_end(5s) == http::response);
    stalled.close();
}

TEST_CASE("limit: every open connection costs the server a thread of its own") {
    testing::ServerProcess server;
    const int threads = testing::thread_count(server.pid()); // main, blocked in accept

    // Twenty clients that connect and say nothing: each one parks a thread in read().
    // Each thread reserves a stack (8 MiB of address space by default), costs a clone()
    // to create, and gives the scheduler one more thread to switch between. Ten thousand
    // idle clients would mean ten thousand threads. Stage 03 bounds them with a pool.
    constexpr int idle = 20;
    std::vector<testing::Client> clients;
    for (int i = 0; i < idle; ++i) {
        clients.emplace_back(server.port());
    }
    CHECK(eventually([&] { return testing::thread_count(server.pid()) >= threads + idle; }, 5s));

    // The threads end with their connections (they are detached: nobody joins them). The
    // `+ 1` allows for a -Db_sanitize=thread build, where TSan starts a helper thread of its
    // own along with the server's first thread.
    clients.clear();
    CHECK(eventually([&] { return testing::thread_count(server.pid()) <= threads + 1; }, 5s));
}
