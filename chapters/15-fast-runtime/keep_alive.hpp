// Keep-alive: what HTTP/1.1 persistent connections need on top of common/http.hpp, behind the
// server's --keep-alive flag.
//
// Every stage so far answers one request and closes: each request pays for a TCP handshake,
// an accept, a registration with epoll and a close. A persistent connection pays those once
// and then carries request after request (HTTP/1.1's default, RFC 9112 section 9.3). A client
// may also pipeline: send several requests before reading any answer. They arrive in one
// read, and must be answered in order.
//
// Requests is the connection's read buffer for that: the article's 1024 bytes, from which
// each complete request (everything up to its blank line) is taken in turn, and whatever
// follows it, the start of the next request, is kept.
#pragma once

#include "http.hpp"

#include <array>
#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>

namespace http {

// The response on a kept connection: today's, without `Connection: close`.
inline constexpr std::string_view keep_alive_response = "HTTP/1.1 200 OK\r\n"
                                                        "Content-Length: 12\r\n"
                                                        "\r\n"
                                                        "Hello world!";

// True if the request's headers include `Connection: close` (names and values compared
// without case; the value may be a list, `Connection: foo, close`). We still never look at
// anything else in a request.
bool wants_close(std::string_view request);

// True if a body may follow the request's headers (a Content-Length other than 0, or a
// Transfer-Encoding): bytes the server never reads, and which make a plain close a reset.
// nginx lingers on the same hint (its `lingering_close on`).
bool may_have_body(std::string_view request);

// The value of the request's first header called `name` (any case), trimmed.
std::optional<std::string_view> header(std::string_view request, std::string_view name);

class Requests {
  public:
    static constexpr std::size_t capacity = RequestBuffer::capacity;

    std::span<char> unfilled() { return std::span(bytes_).subspan(size_); }
    void filled(std::size_t n);

    // The first complete request in the buffer, blank line included, if one has arrived.
    // It stays valid until the next call to take() or filled().
    std::optional<std::string_view> next() const;
    // Drops the request next() returned, keeping whatever arrived after it.
    void take(std::string_view request);

    bool full() const { return size_ == capacity; } // and no complete request: too large
    bool empty() const { return size_ == 0; }

  private:
    std::array<char, capacity> bytes_; // not zeroed: only the first size_ bytes are ever read
    std::size_t size_ = 0;
};

// What --keep-alive and --idle-ms set (main.cpp parses them).
struct KeepAlive {
    bool enabled = false;
    std::chrono::milliseconds idle{5000}; // a kept connection silent this long is closed
};

} // namespace http
