// The server's own resources: file descriptors running out, and CPU spent while waiting.
#include "behaviour.hpp"
#include "http.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <vector>

using namespace behaviour;

namespace {

// CPU time the server spends over `window` of wall time. Here the sleep is the measurement
// itself (CPU per wall-clock interval), not a way to wait for an event.
std::chrono::milliseconds cpu_used_over(testing::ServerProcess& server, std::chrono::milliseconds window) {
    auto before = testing::cpu_time(server.pid());
    std::this_thread::sleep_for(window);
    return testing::cpu_time(server.pid()) - before;
}

} // namespace

// With at most 64 descriptors, 100 idle connections exhaust the server's fds. accept then
// fails with EMFILE: the server must not die or spin forever on it, and once the clients
// go away it serves again by itself.
TEST_CASE("fd exhaustion") {
    testing::raise_fd_limit(); // to outlast a server started with a small limit
    testing::ServerProcess server({.max_open_files = 64});
    INFO(output_of(server));
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);

    std::vector<testing::Client> idle;
    for (int i = 0; i < 100; ++i) {
        idle.emplace_back(server.port()); // the kernel completes the connection, accepted or not
    }
    // A server that accepts eagerly is at its limit within moments, and its next accept
    // fails with EMFILE; one that accepts one connection at a time (stage 01) never gets
    // there, and the deadline ends the wait. At its limit of 64 it holds at least 61
    // descriptors that open_fd_count counts: stdin, stdout and stderr may be pipes, which it
    // leaves out.
    eventually([&] { return !server.alive() || testing::open_fd_count(server.pid()) >= 61; }, 1s);
    // Out of fds, with clients still waiting in the backlog: it must stay up. Watch it for a
    // moment (there is no event for "did not crash").
    REQUIRE_FALSE(eventually([&] { return !server.alive(); }, 200ms));

    idle.clear();
    // The server notices the closes at its own pace; tries that it refuses or closes without
    // an answer are repeated until the deadline.
    CHECK(fetch_until(server.port(), 5s) == http::response);
    CHECK(server.alive());
}

// With no client at all (after serving one), a server should be asleep in the kernel:
// blocked in accept, or in epoll_wait. A busy loop (stage 04) burns a whole core instead.
TEST_CASE("idle server uses no CPU") {
    testing::ServerProcess server;
    INFO(output_of(server));
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
    auto used = cpu_used_over(server, 500ms);
    INFO("CPU time over 500 ms of wall time: ", used.count(), " ms");
    CHECK(used < 50ms);
}

// The same with a client that has sent half a request and stays quiet: the server waits for
// it to become readable, not writable. Registering a waiting connection for EPOLLOUT as well,
// level-triggered, makes epoll_wait return at once, forever: a busy loop that looks like
// waiting.
TEST_CASE("server waiting for a slow client uses no CPU") {
    testing::ServerProcess server;
    INFO(output_of(server));
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
    testing::Client slow(server.port());
    REQUIRE(slow.send(half_request));
    auto used = cpu_used_over(server, 500ms);
    INFO("CPU time over 500 ms of wall time: ", used.count(), " ms");
    CHECK(used < 50ms);

    // It was waiting, not stuck: the rest of the request is answered.
    REQUIRE(slow.send("\r\n"));
    CHECK(slow.read_to_end(2s) == http::response);
}
