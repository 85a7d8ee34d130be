// A small HTTP client for tests: blocking sockets with deadlines, raw bytes in and out.
//
// Responses are compared as exact bytes (as mini-redis does), so the client never parses
// or normalises anything; it just reads until the server closes the connection, and says
// how the exchange ended.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "fd.hpp"

#include <doctest/doctest.h>

namespace testing {

using namespace std::chrono_literals;

// What curl sends, give or take the User-Agent.
inline constexpr std::string_view get_request = "GET / HTTP/1.1\r\n"
                                                "Host: 127.0.0.1\r\n"
                                                "User-Agent: workbook-test\r\n"
                                                "Accept: */*\r\n"
                                                "\r\n";

// What a client got back, and how the exchange ended. Compared with `==` against the bytes
// expected; printed in words when a check fails (see describe()).
struct Reply {
    enum class End {
        closed,    // the server closed the connection (an orderly FIN)
        reset,     // the connection was reset (RST)
        timed_out, // neither within the deadline
        refused,   // nothing listened on the port
    };
    std::string bytes;
    End end = End::closed;
    std::chrono::milliseconds waited{0}; // the deadline, when timed_out

    // True if the server ended the exchange (closed or reset) in time.
    bool ended() const { return end == End::closed || end == End::reset; }
    bool timed_out() const { return end == End::timed_out; }
};

// True if the server sent exactly `expected` and then ended the exchange.
bool operator==(const Reply& reply, std::string_view expected);

// `bytes` between quotes, escaped (\r, \n, \xNN), cut short after `limit` bytes.
std::string escaped(std::string_view bytes, std::size_t limit = 240);

// What happened, in words: the bytes and how it ended, "timed out after 2000 ms",
// "connection refused", "closed without answering", "reset without answering".
std::string describe(const Reply& reply);

class Client {
  public:
    // Connects to 127.0.0.1:port; throws std::runtime_error if that fails.
    explicit Client(std::uint16_t port);

    // Sends all of `bytes`; false if the connection broke (reset, closed).
    bool send(std::string_view bytes);

    // Reads until the server closes or resets the connection, or `timeout` passes.
    Reply read_to_end(std::chrono::milliseconds timeout);

    // True if the server closed (or reset) the connection within `timeout`, whatever it sent.
    bool closed_by_server(std::chrono::milliseconds timeout);

    // Closes with SO_LINGER {1, 0}: the server sees a reset (RST), not an orderly close.
    void reset();
    void close() { fd_.reset(); }
    int fd() const { return fd_.get(); }

  private:
    Fd fd_;
};

// One whole exchange: connect, send `request`, read until the server ends it. A refused
// connection is a Reply too (End::refused).
Reply fetch(std::uint16_t port, std::string_view request = get_request,
            std::chrono::milliseconds timeout = 5s);

} // namespace testing

// How doctest prints a Reply and the bytes it is compared with, when a check fails: in words
// and escaped, instead of "{?}" or raw bytes with their line breaks.
namespace doctest {
template <>
struct StringMaker<testing::Reply> {
    static String convert(const testing::Reply& reply) { return testing::describe(reply).c_str(); }
};
template <>
struct StringMaker<std::string_view> {
    static String convert(std::string_view bytes) { return testing::escaped(bytes).c_str(); }
};
} // namespace doctest
