// Back off: after a pass that got nothing done, sleep a little before the next one
//
// The challenge: when a pass of main's loop accepted nobody and finished no connection, sleep
// before the next pass, a little longer after each fruitless pass in a row (say doubling, up
// to a cap of a few milliseconds), and go back to full speed as soon as a pass gets something
// done. The idle server then uses next to no CPU, with no clients and with a client that has
// sent half a request and stays quiet. The price is latency: a client that arrives while the
// server naps waits for the nap to end.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

namespace {

// CPU time the server spends over `window` of wall time (utime + stime from /proc/PID/stat).
// The sleep is the measurement itself, CPU per interval of wall time, not a way to wait for
// an event: nothing happens during it, and that is the point.
std::chrono::milliseconds cpu_used_over(testing::ServerProcess& server,
                                        std::chrono::milliseconds window) {
    auto before = testing::cpu_time(server.pid());
    std::this_thread::sleep_for(window);
    return testing::cpu_time(server.pid()) - before;
}

constexpr std::string_view half_request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";

} // namespace

TEST_CASE("an idle server, and one waiting for a quiet client, use next to no CPU") {
    testing::ServerProcess server;
    REQUIRE(testing::fetch(server.port(), testing::get_request, 2s) == http::response);

    {
        auto idle = cpu_used_over(server, 500ms);
        INFO("with no client, the server used ", idle.count(),
             " ms of CPU in 500 ms (a loop that never sleeps uses all it can get)");
        CHECK(idle < 50ms);
    }

    testing::Client quiet(server.port());
    REQUIRE(quiet.send(half_request));
    {
        auto waiting = cpu_used_over(server, 500ms);
        INFO("with a client that sent half a request, the server used ", waiting.count(),
             " ms of CPU in 500 ms");
        CHECK(waiting < 50ms);
    }

    // It was napping, not stuck: the rest of the request is answered, and so is a new client.
    REQUIRE(quiet.send("\r\n"));
    CHECK(quiet.read_to_end(2s) == http::response);
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
}
