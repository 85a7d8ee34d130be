// An idle timeout: a connection silent for two seconds is closed, one that keeps talking is not
//
// The challenge: close, without an answer, a connection whose client has sent nothing for two
// seconds (since it was accepted, or since its last bytes arrived). Each connection keeps the
// time it last heard from its client; epoll_wait's timeout becomes the time left until the
// earliest of those deadlines, so the server still sleeps while nothing happens and wakes up
// when a deadline does; after each wakeup, drop the connections whose time is up. No timerfd
// and no thread: the loop's own wait is the timer. A slow client that keeps sending is never
// silent for two seconds, so it is served however long its request takes.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <poll.h>

#include <string>
#include <string_view>

using namespace std::chrono_literals;

TEST_CASE("a silent client is dropped after two seconds; a slow one that keeps talking is served") {
    testing::ServerProcess server;
    testing::Client silent(server.port()); // connects, then says nothing
    testing::Client slow(server.port());   // sends its request in pieces, 600 ms apart

    // Five pieces, four pauses: 2.4 s in all, more than the timeout, but the client is never
    // silent for long. Each pause is poll's timeout on the slow client's socket: it paces the
    // pieces, and sees at once if the server closes on it.
    const std::string request(testing::get_request);
    const std::size_t piece = request.size() / 5 + 1;
    bool closed_early = false;
    for (std::size_t at = 0; at < request.size() && !closed_early; at += piece) {
        REQUIRE(slow.send(request.substr(at, piece)));
        if (at + piece < request.size()) {
            pollfd entry{slow.fd(), POLLIN, 0};
            closed_early = ::poll(&entry, 1, 600) > 0;
        }
    }
    {
        INFO("a client that sends a piece of its request every 600 ms is never silent for two "
             "seconds: it should get its answer");
        CHECK_FALSE(closed_early);
        CHECK(slow.read_to_end(2s) == http::response);
    }

    // By now the silent client has said nothing for more than two seconds.
    {
        INFO("a client that has sent nothing for two seconds should be closed without an answer");
        CHECK(silent.read_to_end(2s) == std::string_view{});
    }
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
}
