// A small HTTP client for tests: blocking sockets with deadlines, raw bytes in and out.
//
// Responses are compared as exact bytes (as mini-redis does), so the client never parses
// or normalises anything; it just reads until the server closes the connection.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "fd.hpp"

namespace testing {

using namespace std::chrono_literals;

// What curl sends, give or take the User-Agent.
inline constexpr std::string_view get_request = "GET / HTTP/1.1\r\n"
                                                "Host: 127.0.0.1\r\n"
                                                "User-Agent: workbook-test\r\n"
                                                "Accept: */*\r\n"
                                                "\r\n";

class Client {
  public:
    // Connects to 127.0.0.1:port; throws std::runtime_error if that fails.
    explicit Client(std::uint16_t port);

    // Sends all of `bytes`; false if the connection broke (reset, closed).
    bool send(std::string_view bytes);

    // Reads until the server closes the connection or `timeout` passes. Returns nullopt on
    // timeout; otherwise what arrived (possibly empty: closed or reset without a response).
    std::optional<std::string> read_to_end(std::chrono::milliseconds timeout);

    // True if the server closed (or reset) the connection within `timeout`, whatever it sent.
    bool closed_by_server(std::chrono::milliseconds timeout);

    // Closes with SO_LINGER {1, 0}: the server sees a reset (RST), not an orderly close.
    void reset();
    void close() { fd_.reset(); }
    int fd() const { return fd_.get(); }

  private:
    Fd fd_;
};

// One whole exchange: connect, send `request`, read until closed. nullopt on timeout.
std::optional<std::string> fetch(std::uint16_t port, std::string_view request = get_request,
                                 std::chrono::milliseconds timeout = 5s);

} // namespace testing
