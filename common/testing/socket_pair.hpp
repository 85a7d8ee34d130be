// A connected pair of local stream sockets: one end plays the client, the other is handed
// to the code under test as its "connection". No ports, no server process.
#pragma once

#include "fd.hpp"

#include <sys/socket.h>

#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace testing {

inline std::pair<Fd, Fd> socket_pair() {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0) {
        throw std::runtime_error("socketpair failed");
    }
    return {Fd(fds[0]), Fd(fds[1])};
}

// Writes all of `bytes` to `fd` (test side, blocking).
inline void write_all(const Fd& fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n <= 0) {
            throw std::runtime_error("write to socket pair failed");
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
}

// Reads everything until the other end closes (test side, blocking).
inline std::string read_to_end(const Fd& fd) {
    std::string out;
    char buffer[4096];
    for (ssize_t n; (n = ::recv(fd.get(), buffer, sizeof buffer, 0)) > 0;) {
        out.append(buffer, static_cast<std::size_t>(n));
    }
    return out;
}

} // namespace testing
