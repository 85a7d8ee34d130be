// The stage's server, run as a process and spoken to over 127.0.0.1.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "thread_pool.hpp"

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

TEST_CASE("the server keeps its kWorkers + 1 threads, however many clients are connected") {
    testing::ServerProcess server;
    // The workers, and main in accept (plus, in a -Db_sanitize=thread build, TSan's thread).
    const int threads = testing::thread_count(server.pid());
    CHECK(threads >= static_cast<int>(kWorkers) + 1);
    const int fds = testing::open_fd_count(server.pid());

    // Twenty clients that connect and say nothing. The server accepts every one (each costs
    // it a file descriptor, which is how the test knows); kWorkers of them tie up the workers
    // and the rest wait in the pool's queue. No thread is started for any of them.
    constexpr int idle = 20;
    std::vector<testing::Client> clients;
    for (int i = 0; i < idle; ++i) {
        clients.emplace_back(server.port());
    }
    REQUIRE(eventually([&] { return testing::open_fd_count(server.pid()) >= fds + idle; }, 5s));
    CHECK(testing::thread_count(server.pid()) == threads);
}

TEST_CASE("limit: kWorkers clients that send nothing starve every client behind them") {
    testing::ServerProcess server;
    std::vector<testing::Client> stalled; // connect first, then say nothing
    for (std::size_t i = 0; i < kWorkers; ++i) {
        stalled.emplace_back(server.port());
    }
    testing::Client next(server.port());
    REQUIRE(next.send(testing::get_request));

    // Every worker is stuck reading from a stalled client, so `next` waits in the queue...
    CHECK(next.read_to_end(500ms).timed_out());

    // ...until one of them goes away and frees a worker. Stage 04 lifts this limit: one
    // thread serves every connection, and a silent one blocks nobody.
    stalled.front().close();
    CHECK(next.read_to_end(5s) == http::response);
}
