// Helpers shared by this stage's challenge tests: the kept response, and reading exactly one
// response's bytes from a connection that stays open.
#pragma once

#include "http_client.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <string_view>

namespace {

constexpr std::string_view kept_response = "HTTP/1.1 200 OK\r\n"
                                           "Content-Length: 12\r\n"
                                           "\r\n"
                                           "Hello world!";

// Reads exactly `size` bytes (a kept response), or less if the server ends the connection
// or 2 s pass.
std::string read_bytes(testing::Client& client, std::size_t size) {
    std::string bytes;
    while (bytes.size() < size) {
        pollfd entry{client.fd(), POLLIN, 0};
        char buffer[256];
        if (::poll(&entry, 1, 2000) <= 0) {
            break;
        }
        ssize_t n = ::recv(client.fd(), buffer, std::min(sizeof buffer, size - bytes.size()), 0);
        if (n <= 0) {
            break;
        }
        bytes.append(buffer, static_cast<std::size_t>(n));
    }
    return bytes;
}

} // namespace
