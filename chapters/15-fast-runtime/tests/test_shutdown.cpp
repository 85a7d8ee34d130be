// Graceful shutdown, from the outside: the server process gets SIGINT or SIGTERM (what
// Ctrl-C and kill send), and we watch what it does with the requests in flight and when it
// exits. Each test sends its signal through ServerProcess::signal.
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
#include <stdexcept>
#include <string>

using namespace std::chrono_literals;

namespace {

// These tests time how long the server takes to exit. A ThreadSanitizer build sleeps for a
// second inside exit() (its atexit_sleep_ms option, there to catch races at exit), so the
// servers started here get it turned off. Other builds ignore the variable.
[[maybe_unused]] const bool no_sanitizer_exit_delay = [] {
    const char* set = std::getenv("TSAN_OPTIONS");
    std::string options = set ? set : "";
    if (options.find("atexit_sleep_ms") == std::string::npos) {
        options += " atexit_sleep_ms=0";
        ::setenv("TSAN_OPTIONS", options.c_str(), 1);
    }
    return true;
}();

using testing::eventually;

bool exited_with(const std::optional<int>& status, int code) {
    return status && WIFEXITED(*status) && WEXITSTATUS(*status) == code;
}

// Opens a connection and sends half a request, then waits until the server has accepted it
// (its fd count goes up): a request in flight when the signal comes.
testing::Client half_request(testing::ServerProcess& server) {
    const int fds = testing::open_fd_count(server.pid());
    testing::Client client(server.port());
    REQUIRE(client.send("GET / HTTP/1.1\r\n"));
    REQUIRE(eventually([&] { return testing::open_fd_count(server.pid()) > fds; }, 5s));
    return client;
}

} // namespace

TEST_CASE("an idle server exits with status 0 within a second of SIGINT, despite a 30 s grace period") {
    testing::ServerProcess server; // default --grace-ms: 30000
    auto start = std::chrono::steady_clock::now();
    server.signal(SIGINT);
    std::optional<int> status = server.wait_exit(5s);
    CHECK(std::chrono::steady_clock::now() - start < 1s); // no timer kept it waiting
    CHECK(exited_with(status, 0));
    CHECK(server.output().find("shutting down: waiting for 0 requests\nshutdown complete\n") !=
          std::string::npos);
}

TEST_CASE("SIGTERM shuts the server down gracefully too") {
    testing::ServerProcess server;
    server.signal(SIGTERM);
    CHECK(exited_with(server.wait_exit(1s), 0));
    CHECK(server.wait_for_output("shutdown complete", 1s));
}

TEST_CASE("a signal sent the moment the server says it is listening is handled gracefully") {
    // The signal mask is in place before the readiness line, so the signal waits for the
    // ctrl_c() thread instead of killing the process with its default action.
    for (int i = 0; i < 10; ++i) {
        testing::ServerProcess server({.extra_args = {"--quiet"}});
        server.signal(SIGINT); // right after the line, as soon as ServerProcess has read it
        std::optional<int> status = server.wait_exit(2s);
        REQUIRE(status);
        CHECK_FALSE(WIFSIGNALED(*status));
        CHECK(exited_with(status, 0));
    }
}

TEST_CASE("a request in flight at the signal gets its whole response, then the server exits 0") {
    testing::ServerProcess server;
    testing::Client client = half_request(server);

    server.signal(SIGINT);
    REQUIRE(server.wait_for_output("shutting down: waiting for 1 requests", 5s));
    CHECK(server.alive()); // waiting for us

    // Stage 05's limit, lifted: the rest of the request arrives after the signal, and is
    // answered in full.
    REQUIRE(client.send("\r\n"));
    CHECK(client.read_to_end(5s) == http::response);
    auto answered = std::chrono::steady_clock::now();
    CHECK(exited_with(server.wait_exit(5s), 0));
    CHECK(std::chrono::steady_clock::now() - answered < 1s); // promptly: not after the grace period
    CHECK(server.output().find("shutdown complete") != std::string::npos);
}

TEST_CASE("a request that never completes is cut off when the grace period ends") {
    testing::ServerProcess server({.extra_args = {"--grace-ms", "300"}});
    testing::Client client = half_request(server);

    auto start = std::chrono::steady_clock::now();
    server.signal(SIGINT);
    std::optional<int> status = server.wait_exit(5s);
    auto waited = std::chrono::steady_clock::now() - start;
    CHECK(exited_with(status, 0));
    CHECK(waited >= 300ms);
    CHECK(waited < 1300ms);
    CHECK(client.closed_by_server(1s)); // the client sees its connection closed
    CHECK(server.output().find("grace period over, 1 requests cut off") != std::string::npos);
}

TEST_CASE("once the signal has come, new connections are refused") {
    testing::ServerProcess server;
    testing::Client in_flight = half_request(server); // keeps the server in its drain

    server.signal(SIGINT);
    REQUIRE(server.wait_for_output("shutting down", 5s));
    REQUIRE(server.alive());
    // The accept loop lost the select and was destroyed with its listener: nobody listens on
    // the port any more. A connection is refused, or (if it raced into the backlog just
    // before the close) closed without an answer.
    bool turned_away = false;
    try {
        testing::Client late(server.port());
        late.send(testing::get_request);
        turned_away = late.read_to_end(5s) == "";
    } catch (const std::runtime_error&) {
        turned_away = true; // connect: ECONNREFUSED
    }
    CHECK(turned_away);

    REQUIRE(in_flight.send("\r\n"));
    CHECK(in_flight.read_to_end(5s) == http::response);
    CHECK(exited_with(server.wait_exit(5s), 0));
}

TEST_CASE("a second signal during the drain exits at once, with status 130") {
    testing::ServerProcess server; // a 30 s grace period: only the second signal ends it early
    testing::Client client = half_request(server);

    server.signal(SIGINT);
    REQUIRE(server.wait_for_output("shutting down", 5s));
    auto start = std::chrono::steady_clock::now();
    server.signal(SIGINT);
    std::optional<int> status = server.wait_exit(5s);
    CHECK(std::chrono::steady_clock::now() - start < 1s);
    CHECK(exited_with(status, 130));
    CHECK(client.closed_by_server(1s));
}
