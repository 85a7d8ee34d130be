// The stage's server, run as a process and spoken to over 127.0.0.1.
#include "eventually.hpp"
#include "http.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <doctest/doctest.h>

#include <sys/wait.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
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

    // `stalled` costs the server nothing: epoll does not report it until it speaks.
    CHECK(next.read_to_end(5s) == http::response);
    stalled.close();
}

TEST_CASE("the server keeps its two threads, however many clients are connected") {
    testing::ServerProcess server;
    // main, which runs every task, and the thread that ctrl_c() waits for a signal on. That
    // one starts just after the readiness line, in the same poll that starts accepting, so
    // once a request has been served it exists. (A -Db_sanitize=thread build adds TSan's own
    // thread when the first thread is created.)
    // Counted before the request: just after it, the server may still be lingering on that
    // connection (a socket and a timer), until it sees the client's close.
    const int fds = testing::open_fd_count(server.pid());
    REQUIRE(testing::fetch(server.port()) == http::response);
    const int threads = testing::thread_count(server.pid());
    CHECK(threads >= 2);
    CHECK(threads <= 3);

    // Twenty clients that connect and say nothing. The server accepts every one (each costs
    // it a file descriptor, which is how the test knows) and serves them all from main.
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

TEST_CASE("an idle server sleeps: almost no CPU, even with 50 idle connections open") {
    testing::ServerProcess server;
    const int fds = testing::open_fd_count(server.pid());
    std::vector<testing::Client> idle;
    for (int i = 0; i < 50; ++i) {
        idle.emplace_back(server.port());
    }
    // Wait until the server has accepted (and registered) all fifty.
    REQUIRE(eventually([&] { return testing::open_fd_count(server.pid()) >= fds + 50; }, 5s));

    auto cpu_before = testing::cpu_time(server.pid());
    // A measurement window, not synchronization: nothing happens during it, and that is the
    // point. Stage 04's loop used most of it; this server should be asleep in epoll_wait.
    std::this_thread::sleep_for(500ms);
    auto cpu = testing::cpu_time(server.pid()) - cpu_before;

    // Each handler task is waiting, its waker with the reactor, and the scheduler sleeps in
    // epoll_wait: nothing is polled until a socket has something.
    CHECK(cpu < 50ms);
    CHECK(testing::fetch(server.port()) == http::response);
}

TEST_CASE("1000 idle connections held open do not keep a new client from being served") {
    // A thousand connections need a thousand fds on each side, more than the common default
    // soft limit of 1024.
    REQUIRE_MESSAGE(testing::raise_fd_limit() >= 1100, "this test needs an open-file limit of 1100");
    testing::ServerProcess server({.extra_args = {"--quiet"}});
    const int fds = testing::open_fd_count(server.pid());
    constexpr int idle = 1000;
    std::vector<testing::Client> clients;
    clients.reserve(idle);
    for (int i = 0; i < idle; ++i) {
        clients.emplace_back(server.port());
    }
    // All of them accepted: a thousand tasks, each with a registration and no thread.
    REQUIRE(eventually([&] { return testing::open_fd_count(server.pid()) >= fds + idle; }, 10s));

    auto start = std::chrono::steady_clock::now();
    CHECK(testing::fetch(server.port(), testing::get_request, 2s) == http::response);
    CHECK(std::chrono::steady_clock::now() - start < 2s);
}

TEST_CASE("a burst of 200 connections arriving at once is served in full") {
    testing::ServerProcess server({.extra_args = {"--quiet"}});
    constexpr int burst = 200;
    std::vector<testing::Client> clients;
    for (int i = 0; i < burst; ++i) {
        clients.emplace_back(server.port()); // all connect (into the backlog) before any is read
    }
    for (auto& client : clients) {
        REQUIRE(client.send(testing::get_request));
    }
    int answered = 0;
    for (auto& client : clients) {
        answered += client.read_to_end(5s) == http::response;
    }
    CHECK(answered == burst);
}

TEST_CASE("1000 clients that leave mid-request leave no file descriptor behind") {
    testing::ServerProcess server({.extra_args = {"--quiet"}});
    const int baseline = testing::open_fd_count(server.pid());
    for (int i = 0; i < 1000; ++i) {
        testing::Client early(server.port());
        REQUIRE(early.send("GET / HT"));
        early.close();
    }
    // Answered after all of them were accepted: the server still serves...
    CHECK(testing::fetch(server.port()) == http::response);

    // ...and has dropped (epoll_ctl DEL, then close) every connection whose client left.
    // The last few closes may still be on their way, so check again up to a deadline.
    CHECK(eventually([&] { return std::abs(testing::open_fd_count(server.pid()) - baseline) <= 2; },
                     10s));
}

namespace {

// A POST with an 8 KiB body the server never reads (it stops at the blank line); small
// enough to sit in the socket buffers without the server reading it.
std::string post_with_body() {
    constexpr std::size_t body = 8192;
    return "POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + std::to_string(body) +
           "\r\n\r\n" + std::string(body, 'x');
}

} // namespace

TEST_CASE("a lingering close: a client whose body was never read gets the response and a FIN") {
    for (bool keep_alive : {false, true}) {
        INFO("--keep-alive: ", keep_alive);
        testing::ServerOptions options;
        if (keep_alive) {
            options.extra_args = {"--keep-alive"};
        }
        testing::ServerProcess server(options);
        testing::Client client(server.port());
        std::string request = post_with_body();
        if (keep_alive) {
            request.insert(request.find("\r\n") + 2, "Connection: close\r\n");
        }
        REQUIRE(client.send(request));
        testing::Reply reply = client.read_to_end(4s);
        INFO("the client got: ", testing::describe(reply));
        CHECK(reply.bytes == http::response);
        CHECK(reply.end == testing::Reply::End::closed); // a FIN, not a reset
    }
}

TEST_CASE("the lingering is bounded: a client that never closes its side is let go") {
    testing::ServerProcess server;
    const int baseline = testing::open_fd_count(server.pid());
    testing::Client client(server.port());
    REQUIRE(client.send(post_with_body()));
    client.read_to_end(4s); // the response and the FIN; the client keeps its side open
    int open_fds = 0;
    bool released = eventually(
        [&] { return (open_fds = testing::open_fd_count(server.pid())) <= baseline; }, 10s);
    INFO("open fds: ", baseline, " before the client, ", open_fds, " at the end");
    CHECK(released);
}

TEST_CASE("--help documents --keep-alive and --idle-ms, and a bad --idle-ms exits with status 2") {
    const std::string binary = testing::server_binary_from_env();
    std::string help;
    if (FILE* out = ::popen((binary + " --help").c_str(), "r")) {
        char buffer[4096];
        while (std::size_t n = std::fread(buffer, 1, sizeof buffer, out)) {
            help.append(buffer, n);
        }
        CHECK(::pclose(out) == 0);
    }
    CHECK(help.find("--keep-alive") != std::string::npos);
    CHECK(help.find("--idle-ms N") != std::string::npos);
    for (const char* bad : {" --idle-ms 0", " --idle-ms", " --idle-ms=x", " --keep-alive --idle-ms -5"}) {
        INFO("server", bad);
        int status = std::system((binary + bad + " 2>/dev/null").c_str());
        CHECK(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 2);
    }
}
