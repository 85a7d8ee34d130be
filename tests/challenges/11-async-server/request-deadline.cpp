// A request deadline: a connection still not done after 2 seconds is closed
//
// The challenge: give Handler a deadline. Two seconds after a Handler's first poll, if its
// exchange is not over (typically: its request has not all arrived), it closes the connection
// and finishes, and with it go its socket, its registrations and anything the deadline
// itself used. Until then, and for every other connection, nothing changes. This is the
// stage's limit in practice: a timeout is one more state in a hand-written future and one
// more case in its poll, and it must wake the task by itself, because a silent client never
// will. The stage's own tests must still pass (tests/run 11), and two of them decide where
// the timer can live: while a Handler waits for the rest of its request, it holds exactly one
// registration with REACTOR, and run() sleeps in epoll_wait with no timeout
// (tests/test_handler.cpp). So the deadline is neither a second fd registered next to the
// socket, nor a timeout given to epoll_wait.
//
// The test holds two bad clients: one that sends nothing, and one that sends a byte every
// 50 ms, which never finishes its request but is never silent either (the Slowloris attack:
// an idle timeout that restarts with every byte would keep it forever). Both must be closed
// between 1 and 5 seconds after they connected, a good client must be served meanwhile, and
// once both are gone the server must hold no more file descriptors than before.
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"
#include "eventually.hpp"

#include <doctest/doctest.h>

#include <chrono>
#include <optional>

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// When a bad client was closed, and what it got before that.
struct Dropped {
    std::optional<Clock::duration> after;
    testing::Reply reply;
};

} // namespace

TEST_CASE("a silent client and a trickling one are both closed after the 2-second deadline") {
    testing::ServerProcess server;
    REQUIRE(testing::fetch(server.port()) == http::response);
    const int baseline = testing::open_fd_count(server.pid()); // after one whole exchange

    const auto start = Clock::now();
    testing::Client silent(server.port());
    testing::Client trickling(server.port());
    Dropped silent_end, trickling_end;

    // Meanwhile a good client is served as before.
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);

    // One byte of a request that never ends (no blank line) every 50 ms; each wait for the
    // server's close (a readiness wait, with a deadline) is also the pause between bytes.
    const std::string_view request_line = "GET / HTTP/1.1\r\nX-Slow: ";
    std::size_t sent = 0;
    while (Clock::now() - start < 5s && !(silent_end.after && trickling_end.after)) {
        if (!silent_end.after) {
            testing::Reply reply = silent.read_to_end(25ms);
            if (reply.ended()) {
                silent_end = {Clock::now() - start, reply};
            }
        }
        if (!trickling_end.after) {
            char byte = sent < request_line.size() ? request_line[sent] : 'z';
            ++sent;
            testing::Reply reply = trickling.send({&byte, 1}) ? trickling.read_to_end(25ms)
                                                               : testing::Reply{};
            if (reply.ended()) {
                trickling_end = {Clock::now() - start, reply};
            }
        }
    }

    auto ms = [](Clock::duration d) {
        return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
    };
    {
        INFO("a client that sends nothing should be closed about 2 s after it connected");
        CHECK_MESSAGE(silent_end.after.has_value(), "it was still connected after 5 s");
        if (silent_end.after) {
            INFO("it was closed after ", ms(*silent_end.after), " ms (",
                 testing::describe(silent_end.reply), ")");
            CHECK(*silent_end.after >= 1s);
        }
    }
    {
        INFO("a client that sends a byte every 50 ms and never finishes its request should be "
             "closed about 2 s after it connected too, though it is never silent for long");
        CHECK_MESSAGE(trickling_end.after.has_value(), "it was still connected after 5 s, having sent ",
                      sent, " bytes");
        if (trickling_end.after) {
            INFO("it was closed after ", ms(*trickling_end.after), " ms");
            CHECK(*trickling_end.after >= 1s);
        }
    }
    if (!silent_end.after || !trickling_end.after) {
        return;
    }

    // Whatever the deadline used (a timer, a registration) went with the connection.
    int open_fds = 0;
    bool back = testing::eventually(
        [&] { return (open_fds = testing::open_fd_count(server.pid())) <= baseline; }, 2s);
    INFO("the server's open fds: ", baseline, " before the two clients, ", open_fds,
         " after they were closed");
    CHECK(back);
}
