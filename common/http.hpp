// The one HTTP exchange every server in the workbook speaks.
//
// A request is everything up to the blank line "\r\n\r\n"; we never look inside it. The
// answer is always the same 12-byte "Hello world!", and the connection is then closed.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string_view>

namespace http {

// The article's response, with `\r\n` after every header line (the article's
// `Content-Length: 12\n` is a typo that strict HTTP parsers reject).
inline constexpr std::string_view response = "HTTP/1.1 200 OK\r\n"
                                             "Content-Length: 12\r\n"
                                             "Connection: close\r\n"
                                             "\r\n"
                                             "Hello world!";

// Sent instead when the request does not fit the buffer (the article's server, once the buffer
// is full, reads into an empty slice, gets 0 and closes without a word).
inline constexpr std::string_view too_large_response =
    "HTTP/1.1 431 Request Header Fields Too Large\r\n"
    "Content-Length: 0\r\n"
    "Connection: close\r\n"
    "\r\n";

// RequestBuffer: the article's `[u8; 1024]` plus its `read` count, with the bookkeeping done
// once and bounds-checked. A reader appends into `unfilled()`, calls `filled(n)`, and then
// asks whether the request is complete (the blank line arrived) or the buffer is full.
class RequestBuffer {
  public:
    static constexpr std::size_t capacity = 1024;

    std::span<char> unfilled() { return std::span(bytes_).subspan(size_); }
    void filled(std::size_t n);

    bool complete() const { return complete_; }
    bool full() const { return size_ == capacity; }
    std::string_view bytes() const { return {bytes_.data(), size_}; }

    // The request line ("GET / HTTP/1.1"), for the log; empty if none arrived yet.
    std::string_view first_line() const;

  private:
    std::array<char, capacity> bytes_; // not zeroed: only the first size_ bytes are ever read
    std::size_t size_ = 0;
    bool complete_ = false;
};

// What a server sends for a buffer that stopped filling: the 200 response for a complete
// request, the 431 response for one that filled the buffer without ending.
inline std::string_view response_for(const RequestBuffer& request) {
    return request.complete() ? response : too_large_response;
}

} // namespace http
