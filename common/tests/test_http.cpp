#include "http.hpp"

#include <doctest/doctest.h>

#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>

namespace {

void append(http::RequestBuffer& buffer, std::string_view bytes) {
    auto space = buffer.unfilled();
    REQUIRE(bytes.size() <= space.size());
    std::memcpy(space.data(), bytes.data(), bytes.size());
    buffer.filled(bytes.size());
}

} // namespace

TEST_CASE("every header line of the response ends in CRLF") {
    std::string_view head = http::response.substr(0, http::response.find("\r\n\r\n") + 2);
    for (std::size_t at = head.find('\n'); at != std::string_view::npos;
         at = head.find('\n', at + 1)) {
        CHECK(head[at - 1] == '\r');
    }
    CHECK(http::response.substr(http::response.size() - 12) == "Hello world!");
}

TEST_CASE("a request is complete once the blank line arrives, even split across reads") {
    http::RequestBuffer buffer;
    append(buffer, "GET / HTTP/1.1\r\nHost: x\r\n\r");
    CHECK_FALSE(buffer.complete());
    append(buffer, "\n");
    CHECK(buffer.complete());
    CHECK(buffer.first_line() == "GET / HTTP/1.1");
}

TEST_CASE("the blank line is found when it arrives one byte at a time") {
    http::RequestBuffer buffer;
    for (char c : std::string_view("GET / HTTP/1.1\r\n\r\n")) {
        CHECK_FALSE(buffer.complete());
        append(buffer, std::string_view(&c, 1));
    }
    CHECK(buffer.complete());
}

TEST_CASE("a buffer that fills up without a blank line is full, not complete") {
    http::RequestBuffer buffer;
    append(buffer, std::string(http::RequestBuffer::capacity, 'x'));
    CHECK(buffer.full());
    CHECK_FALSE(buffer.complete());
    CHECK(buffer.unfilled().empty());
    CHECK(http::response_for(buffer) == http::too_large_response);
    CHECK_THROWS_AS(buffer.filled(1), std::length_error);
}
