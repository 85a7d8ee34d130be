#include "http_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

namespace testing {

Client::Client(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    if (!fd_) {
        throw std::runtime_error("socket failed");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        throw std::runtime_error("connect to 127.0.0.1:" + std::to_string(port) + ": " +
                                 std::strerror(errno));
    }
}

bool Client::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

Reply Client::read_to_end(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    Reply reply;
    char buffer[4096];
    for (;;) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            reply.end = Reply::End::timed_out;
            reply.waited = timeout;
            return reply;
        }
        pollfd entry{fd_.get(), POLLIN, 0};
        int ready = ::poll(&entry, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) {
            continue;
        }
        if (ready <= 0) {
            reply.end = Reply::End::timed_out;
            reply.waited = timeout;
            return reply;
        }
        ssize_t n = ::recv(fd_.get(), buffer, sizeof buffer, 0);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) {
            reply.end = Reply::End::closed;
            return reply;
        }
        if (n < 0) {
            reply.end = Reply::End::reset;
            return reply;
        }
        reply.bytes.append(buffer, static_cast<std::size_t>(n));
    }
}

bool Client::closed_by_server(std::chrono::milliseconds timeout) {
    return read_to_end(timeout).ended();
}

void Client::reset() {
    linger option{1, 0};
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &option, sizeof option);
    fd_.reset();
}

Reply fetch(std::uint16_t port, std::string_view request, std::chrono::milliseconds timeout) {
    std::optional<Client> client;
    try {
        client.emplace(port);
    } catch (const std::runtime_error&) {
        return Reply{"", Reply::End::refused, {}};
    }
    client->send(request); // if it breaks, the reply says how
    return client->read_to_end(timeout);
}

bool operator==(const Reply& reply, std::string_view expected) {
    return reply.ended() && reply.bytes == expected;
}

std::string escaped(std::string_view bytes, std::size_t limit) {
    static const char hex[] = "0123456789abcdef";
    std::string out = "\"";
    for (std::size_t i = 0; i < bytes.size() && i < limit; ++i) {
        auto c = static_cast<unsigned char>(bytes[i]);
        switch (c) {
        case '\r': out += "\\r"; break;
        case '\n': out += "\\n"; break;
        case '\t': out += "\\t"; break;
        case '"': out += "\\\""; break;
        case '\\': out += "\\\\"; break;
        default:
            if (c >= 0x20 && c < 0x7f) {
                out += static_cast<char>(c);
            } else {
                out += "\\x";
                out += hex[c >> 4];
                out += hex[c & 0xf];
            }
        }
    }
    out += "\"";
    if (bytes.size() > limit) {
        out += "... (" + std::to_string(bytes.size()) + " bytes in all)";
    }
    return out;
}

std::string describe(const Reply& reply) {
    bool nothing = reply.bytes.empty();
    switch (reply.end) {
    case Reply::End::refused:
        return "connection refused";
    case Reply::End::timed_out:
        return "timed out after " + std::to_string(reply.waited.count()) + " ms, " +
               (nothing ? std::string("with nothing received")
                        : "having received " + escaped(reply.bytes) + " but no close");
    case Reply::End::reset:
        return nothing ? "reset without answering" : escaped(reply.bytes) + ", then reset";
    case Reply::End::closed:
        break;
    }
    return nothing ? "closed without answering" : escaped(reply.bytes) + ", then closed";
}

} // namespace testing
