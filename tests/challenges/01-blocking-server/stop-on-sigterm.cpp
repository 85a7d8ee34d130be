// A clean stop: on SIGTERM the server finishes the client it is serving, then exits with status 0
//
// The challenge: today SIGTERM (what `kill` and most service managers send) ends the server
// at once, with its default action, and the client being served gets its connection closed
// without an answer. Make SIGTERM a request to stop: the exchange in progress is finished,
// then the server exits with status 0 instead of going back to accept. A server waiting in
// accept, with nobody to serve, exits at once. Set this up before the readiness line, so
// that no SIGTERM is fatal once the server says it is listening. (TcpListener::accept
// retries a call that a signal interrupted (EINTR), so a handler that only sets a flag never
// gets the loop to look at it: wait for the listener yourself.)
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <csignal>
#include <optional>
#include <string>
#include <string.h>

using namespace std::chrono_literals;

namespace {

// How the server process ended, in words, from the status that wait_exit returned.
std::string how_it_ended(const std::optional<int>& status) {
    if (!status) {
        return "still running 3 s after SIGTERM";
    }
    if (WIFEXITED(*status)) {
        return "exited with status " + std::to_string(WEXITSTATUS(*status));
    }
    if (WIFSIGNALED(*status)) {
        return "killed by signal " + std::to_string(WTERMSIG(*status)) + " (" +
               ::strsignal(WTERMSIG(*status)) + ")";
    }
    return "ended with wait status " + std::to_string(*status);
}

} // namespace

TEST_CASE("a server waiting in accept exits with status 0 on SIGTERM") {
    testing::ServerProcess server;
    REQUIRE(testing::fetch(server.port()) == http::response);

    server.signal(SIGTERM);
    INFO("SIGTERM should end the wait in accept, and the server should exit with status 0");
    CHECK(how_it_ended(server.wait_exit(3s)) == "exited with status 0");
}

TEST_CASE("a client being served when SIGTERM comes gets its whole answer, then the server exits 0") {
    testing::ServerProcess server;
    const int fds = testing::open_fd_count(server.pid());
    testing::Client client(server.port());
    REQUIRE(client.send("GET / HTTP/1.1\r\n")); // half a request: the server waits for the rest
    REQUIRE(testing::eventually([&] { return testing::open_fd_count(server.pid()) > fds; }, 5s));

    server.signal(SIGTERM); // the server has accepted the client, and is reading its request
    client.send("Host: 127.0.0.1\r\n\r\n"); // the rest comes after the signal
    INFO("the request in progress should be answered in full, despite the signal");
    CHECK(client.read_to_end(3s) == http::response);
    INFO("and then the server should exit with status 0, instead of accepting again");
    CHECK(how_it_ended(server.wait_exit(3s)) == "exited with status 0");
}
