// Small helpers shared by the behaviour suite: what every server of the workbook must do,
// checked from the outside against one binary (the SERVER environment variable).
//
// The suite only speaks HTTP over 127.0.0.1 and reads /proc; it knows nothing of how a
// stage is written, so it runs unchanged against every stage, or against a reader's own
// server.
#pragma once

#include "eventually.hpp"
#include "http_client.hpp"
#include "server_process.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <ostream>
#include <random>
#include <string>
#include <string_view>
#include <thread>

namespace behaviour {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The first half of curl's request: no blank line yet, so the server must keep waiting.
inline constexpr std::string_view half_request = "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n";

using testing::eventually;

// One whole exchange, tried again until it brings an answer or `timeout` passes. For a
// server that is recovering (from running out of fds, say), where an early try may be
// refused or closed without an answer. Returns the last reply.
inline testing::Reply fetch_until(std::uint16_t port, std::chrono::milliseconds timeout) {
    auto deadline = Clock::now() + timeout;
    testing::Reply reply{"", testing::Reply::End::timed_out, timeout};
    while (Clock::now() < deadline) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        reply = testing::fetch(port, testing::get_request, std::max(left, 1ms));
        if (reply.ended() && !reply.bytes.empty()) {
            return reply;
        }
        std::this_thread::sleep_for(10ms); // refused, or closed without an answer: let the
    }                                      // server catch up
    return reply;
}

// What the server under test printed (stdout and stderr, the last lines), for doctest to
// show next to a failing check only: `INFO(output_of(server));` right after starting it.
struct OutputOf {
    testing::ServerProcess& server;
};
inline OutputOf output_of(testing::ServerProcess& server) { return {server}; }
inline std::ostream& operator<<(std::ostream& out, const OutputOf& of) {
    return out << "the server's output, last lines:\n" << of.server.last_output_lines(20);
}

// "nothing" if the server sends nothing and does not close `client` within `timeout` (it is
// still waiting for the rest of the request); otherwise what it did, in words.
inline std::string what_arrives(testing::Client& client, std::chrono::milliseconds timeout) {
    pollfd entry{client.fd(), POLLIN, 0};
    if (::poll(&entry, 1, static_cast<int>(timeout.count())) == 0) {
        return "nothing";
    }
    return testing::describe(client.read_to_end(1s));
}

// Bytes from a fixed-seed generator (the same garbage on every run), with every '\r'
// replaced so that no blank line "\r\n\r\n" can appear by chance.
inline std::string random_bytes(std::size_t size, unsigned seed) {
    std::mt19937 generator(seed);
    std::uniform_int_distribution<int> byte(0, 255);
    std::string bytes(size, '\0');
    for (char& c : bytes) {
        c = static_cast<char>(byte(generator));
        if (c == '\r') {
            c = 'r';
        }
    }
    return bytes;
}

// Bounds a blocking send: a server that stops reading must not hang the test.
inline void set_send_timeout(const testing::Client& client, std::chrono::milliseconds timeout) {
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
    ::setsockopt(client.fd(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

} // namespace behaviour
