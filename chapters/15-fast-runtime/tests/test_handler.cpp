// handle() on the runtime, without a server process: one end of a socket pair is the client,
// the other is handed to handle(), whose coroutine is spawned on SCHEDULER, and run() drives
// it. The same cases as stage 11's Handler: coroutines change how it is written, not what it
// does.
#include "http.hpp"
#include "http_client.hpp"
#include "leaves_runtime_empty.hpp"
#include "net.hpp"
#include "reactor.hpp"
#include "scheduler.hpp"
#include "server.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

// Every test leaves the runtime as it found it: no task alive, nothing registered.
auto handler_for(Fd server_end) { return handle(TcpStream(std::move(server_end)), true); }

} // namespace

TEST_CASE("handle() answers a complete request with the exact response, then run() returns") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    testing::write_all(client, testing::get_request);
    SCHEDULER.spawn(handler_for(std::move(server)));
    SCHEDULER.run();
    CHECK(testing::read_to_end(client) == http::response); // and then closed: read_to_end ended
}

TEST_CASE("handle() sleeps while its request is incomplete and the reactor wakes it for the rest") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    std::string request(testing::get_request);
    testing::write_all(client, request.substr(0, 10));
    SCHEDULER.spawn(handler_for(std::move(server)));

    // The rest arrives only once run() is asleep in epoll_wait: the handler said "not yet"
    // and left its waker with REACTOR, and only the socket becoming readable wakes it.
    pid_t runner = ::gettid();
    bool was_asleep = false;
    // `&client = client`: clang before 16 cannot capture a structured binding by name.
    std::thread client_thread([&, &client = client, runner] {
        was_asleep = testing::wait_until_blocked_in_epoll_wait(runner, 5s);
        testing::write_all(client, request.substr(10));
    });
    SCHEDULER.run();
    client_thread.join();
    CHECK(was_asleep);
    CHECK(testing::read_to_end(client) == http::response);
}

TEST_CASE("a client that leaves mid-request ends its handler: nothing registered, the socket closed") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    testing::write_all(client, "GET / HT");
    ::shutdown(client.get(), SHUT_WR); // the client is gone before its request is complete
    SCHEDULER.spawn(handler_for(std::move(server)));
    SCHEDULER.run(); // returns: the handler finished instead of waiting forever

    // Nothing was sent, and the server's end is closed (we read end-of-stream, not a hang).
    CHECK(testing::read_to_end(client) == "");
}

TEST_CASE("a handler destroyed before it finishes deregisters and closes its socket") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    {
        auto handler = handler_for(std::move(server));
        Waker waker([] {});
        CHECK_FALSE(handler.poll(waker)); // nothing to read: registered, waiting
        CHECK(REACTOR.registrations() == 1);
    }
    CHECK(REACTOR.registrations() == 0);
    CHECK(testing::read_to_end(client) == "");
}

TEST_CASE("a client that resets ends its handler normally, not as a failed task") {
    LeavesRuntimeEmpty check;
    // A reset needs TCP (a socket pair has no RST), so this one uses a loopback socket.
    TcpListener listener = TcpListener::bind(0);
    testing::Client client(listener.port());
    TcpStream accepted = listener.accept().value(); // a blocking listener never says "not now"
    pollfd server_side{accepted.fd(), POLLIN, 0};
    auto handler = handle(std::move(accepted), true);
    Waker waker([] {});

    REQUIRE(client.send("GET / HT"));
    REQUIRE(::poll(&server_side, 1, 5000) == 1); // wait (with a deadline) for the bytes
    CHECK_FALSE(handler.poll(waker)); // registers the socket: no event seen yet, no read
    REACTOR.wait(0);                  // the registration's first event: readable
    CHECK_FALSE(handler.poll(waker)); // reads the bytes, then "would block"

    client.reset();
    REQUIRE(::poll(&server_side, 1, 5000) == 1); // now wait for the reset to arrive
    REACTOR.wait(0);                             // and let the reactor see it
    // The read throws here; handle() catches, logs, and finishes the exchange, so the
    // scheduler never sees a failed task.
    std::optional<Unit> done;
    CHECK_NOTHROW(done = handler.poll(waker));
    CHECK(done);
}
