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

    // `stalled` costs the server one fruitless read per pass of its loop, nothing more.
    CHECK(next.read_to_end(5s) == http::response);
    stalled.close();
}

TEST_CASE("the server keeps its one thread, however many clients are connected") {
    testing::ServerProcess server;
    // Just main (plus, in a -Db_sanitize=thread build, TSan's thread).
    const int threads = testing::thread_count(server.pid());
    CHECK(threads <= 2);
    const int fds = testing::open_fd_count(server.pid());

    // Twenty clients that connect and say nothing. The server accepts every one (each costs
    // it a file descriptor, which is how the test knows) and keeps them all on its one thread.
    // No thread is started for any of them.
    constexpr int idle = 20;
    std::vector<testing::Client> clients;
    for (int i = 0; i < idle; ++i) {
        clients.emplace_back(server.port());
    }
    REQUIRE(eventually([&] { return testing::open_fd_count(server.pid()) >= fds + idle; }, 5s));
    CHECK(testing::thread_count(server.pid()) == threads);
}

TEST_CASE("sixteen clients that send nothing (stage 03 had 4 workers) starve nobody") {
    testing::ServerProcess server;
    std::vector<testing::Client> stalled; // connect first, then say nothing
    for (int i = 0; i < 16; ++i) {
        stalled.emplace_back(server.port());
    }
    testing::Client next(server.port());
    REQUIRE(next.send(testing::get_request));

    // Stage 03's limit, lifted: no thread waits on a silent client, so `next` is answered
    // while all sixteen are still connected...
    CHECK(next.read_to_end(5s) == http::response);

    // ...and each of them still gets its answer once it speaks.
    for (auto& client : stalled) {
        REQUIRE(client.send(testing::get_request));
    }
    for (auto& client : stalled) {
        CHECK(client.read_to_end(5s) == http::response);
    }
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
    // A measurement window, not synchronization: nothing happens during it, and that is the
    // point. A server that waited for work would use next to no CPU here.
    std::this_thread::sleep_for(500ms);
    auto cpu = testing::cpu_time(server.pid()) - cpu_before;
    auto wall = std::chrono::steady_clock::now() - wall_before;

    // The loop spins flat out, so it would use all of the window if it had a core to itself;
    // 25% leaves room for a busy test machine. Stage 05 sleeps in epoll_wait and lifts this.
    CHECK(cpu * 4 >= wall);
}
