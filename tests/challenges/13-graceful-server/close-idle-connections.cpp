// On shutdown, a connection that has not sent a byte is closed at once; a started request still finishes
//
// The challenge: a client that connected and sent nothing counts as a request in flight, so
// at Ctrl-C the server waits for it until the grace period is over (30 s by default), and
// only then cuts it off. Close such idle connections as soon as the shutdown starts, without
// an answer, as production servers do; a request whose first bytes have arrived keeps the
// whole grace period to finish, as now. The server then exits with status 0 as soon as the
// started requests are answered.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

using namespace std::chrono_literals;

namespace {

// The shutdown is timed: a ThreadSanitizer build would sleep for a second in exit() (see the
// stage's tests/test_shutdown.cpp). Other builds ignore the variable.
[[maybe_unused]] const bool no_sanitizer_exit_delay = [] {
    const char* set = std::getenv("TSAN_OPTIONS");
    std::string options = set ? set : "";
    if (options.find("atexit_sleep_ms") == std::string::npos) {
        options += " atexit_sleep_ms=0";
        ::setenv("TSAN_OPTIONS", options.c_str(), 1);
    }
    return true;
}();

// Waits until the server has accepted one more connection (its fd count goes up).
bool accepted(testing::ServerProcess& server, int fds_before) {
    return testing::eventually([&] { return testing::open_fd_count(server.pid()) > fds_before; }, 5s);
}

} // namespace

TEST_CASE("at the signal an idle connection is closed, while a request already started is answered") {
    testing::ServerProcess server; // the default grace period: 30 s
    int fds = testing::open_fd_count(server.pid());
    testing::Client idle(server.port()); // connects, then says nothing
    REQUIRE(accepted(server, fds));
    fds = testing::open_fd_count(server.pid());
    testing::Client started(server.port());
    REQUIRE(started.send("GET / HTTP/1.1\r\n")); // half a request: it has begun
    REQUIRE(accepted(server, fds));

    server.signal(SIGINT);
    REQUIRE(server.wait_for_output("shutting down", 5s));
    INFO("the connection that never sent a byte should be closed, unanswered, as soon as the "
         "shutdown starts: not at the end of the 30 s grace period");
    REQUIRE(idle.read_to_end(3s) == std::string_view{});

    INFO("the request that had begun should still be waited for, and answered");
    CHECK(server.alive());
    REQUIRE(started.send("\r\n"));
    CHECK(started.read_to_end(5s) == http::response);
    INFO("then nothing is left in flight: the server should exit with status 0");
    std::optional<int> status = server.wait_exit(5s);
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
}
