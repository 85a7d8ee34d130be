#include "net.hpp"

#include "error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <csignal>
#include <cstdio>

namespace {

// One recv or send: retried when a signal interrupts it, "would block" becomes std::nullopt,
// any other failure is thrown with `what` as its context.
template <class Call>
std::optional<std::size_t> transfer(Call call, const char* what) {
    for (;;) {
        ssize_t n = call();
        if (n >= 0) {
            return static_cast<std::size_t>(n);
        }
        if (errno == EINTR) {
            continue;
        }
        if (is_would_block(errno)) {
            return std::nullopt;
        }
        throw_errno(what);
    }
}

// The spare descriptor of TcpListener's EMFILE trick (see net.hpp).
Fd open_spare_fd() {
    return Fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
}

} // namespace

std::optional<std::size_t> TcpStream::read(std::span<char> buffer) {
    return transfer([&] { return ::recv(fd_.get(), buffer.data(), buffer.size(), 0); }, "read");
}

std::optional<std::size_t> TcpStream::write(std::span<const char> bytes) {
    return transfer([&] { return ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL); },
                    "write");
}

void TcpStream::write_all(std::span<const char> bytes) {
    while (!bytes.empty()) {
        auto n = write(bytes);
        if (!n) {
            throw std::system_error(EAGAIN, std::generic_category(),
                                    "write_all on a non-blocking socket");
        }
        bytes = bytes.subspan(*n);
    }
}

void TcpStream::set_nonblocking() {
    if (!nonblocking_) {
        ::set_nonblocking(fd_.get());
        nonblocking_ = true;
    }
}

TcpListener::TcpListener(Fd fd) : fd_(std::move(fd)), spare_(open_spare_fd()) {}

TcpListener TcpListener::bind(std::uint16_t port) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) {
        throw_errno("socket");
    }
    int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        throw_errno("setsockopt(SO_REUSEADDR)");
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) {
        throw_errno("bind 127.0.0.1:" + std::to_string(port));
    }
    if (::listen(fd.get(), SOMAXCONN) < 0) {
        throw_errno("listen");
    }
    return TcpListener(std::move(fd));
}

std::optional<TcpStream> TcpListener::accept(Blocking blocking) {
    int flags = SOCK_CLOEXEC | (blocking == Blocking::no ? SOCK_NONBLOCK : 0);
    for (;;) {
        int fd = ::accept4(fd_.get(), nullptr, nullptr, flags);
        if (fd >= 0) {
            return TcpStream(Fd(fd), blocking);
        }
        switch (errno) {
        case EAGAIN:
#if EWOULDBLOCK != EAGAIN
        case EWOULDBLOCK:
#endif
            return std::nullopt;
        case EINTR:
        case ECONNABORTED: // the client gave up before we accepted it: not our problem
        case EPROTO:
            continue;
        case EMFILE:
        case ENFILE:
            if (!drop_one_pending_connection()) {
                return std::nullopt; // nobody was waiting after all
            }
            continue;
        default:
            throw_errno("accept");
        }
    }
}

bool TcpListener::drop_one_pending_connection() {
    std::fputs("accept: out of file descriptors; closing one waiting connection\n", stderr);
    if (spare_) {
        spare_.reset();
        Fd dropped(::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC)); // closed at once
        bool nobody_waiting = !dropped && is_would_block(errno);
        spare_ = open_spare_fd();
        if (nobody_waiting) {
            return false;
        }
    }
    if (!spare_) {
        // Another thread took the freed descriptor. There is nothing to close for now, so
        // back off instead of spinning on EMFILE (what nginx and hyper do too).
        ::usleep(10'000);
        spare_ = open_spare_fd();
    }
    return true;
}

void TcpListener::set_nonblocking() {
    ::set_nonblocking(fd_.get());
}

std::uint16_t TcpListener::port() const {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&addr), &len) < 0) {
        throw_errno("getsockname");
    }
    return ntohs(addr.sin_port);
}

// One system call, as Rust's std does it on Linux (fcntl would take two: F_GETFL, F_SETFL).
// Servers call this once per accepted connection.
void set_nonblocking(int fd) {
    int on = 1;
    if (::ioctl(fd, FIONBIO, &on) < 0) {
        throw_errno("ioctl(FIONBIO)");
    }
}

void ignore_sigpipe() {
    std::signal(SIGPIPE, SIG_IGN);
}
