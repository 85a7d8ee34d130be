// The demo: a task that REACTOR wakes, for its socket or its timer. Run it:
// build/chapters/08-reactor/demo
//
// The task registers its fds itself, with its waker, and the reactor calls that waker for
// whichever becomes ready: a slow client's socket, or a 100 ms timer that stage 06's sketch
// could not watch. Nothing in this stage runs tasks, so the demo polls its one task by hand,
// and sleeps in REACTOR.wait() between polls.
#include "connection.hpp"
#include "error.hpp"
#include "future.hpp"
#include "net.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "waker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

#ifndef SYS_epoll_wait
#define SYS_epoll_wait SYS_epoll_pwait // aarch64 has only epoll_pwait
#endif

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// The task: stage 05's Connection as a Future (advance() has poll()'s shape), with a deadline
// if it has a `timer` (a timerfd). Its first poll registers its fds with REACTOR, with its
// waker. It looks at the timer first; once it has fired, it gives up: it ends, and its
// Registrations leave the reactor before its fds close (members are destroyed in reverse).
struct Served {
    using Output = Unit;
    Connection connection;
    Fd timer;
    int* polls;
    std::optional<Registration> socket_registration, timer_registration;

    std::optional<Unit> poll(const Waker& waker) {
        ++*polls;
        if (!socket_registration) {
            socket_registration.emplace(connection.fd(), waker);
            if (timer) {
                timer_registration.emplace(timer.get(), waker);
            }
        }
        std::uint64_t expirations;
        if (timer && ::read(timer.get(), &expirations, sizeof expirations) > 0) {
            return Unit{};
        }
        return connection.advance() ? std::optional(Unit{}) : std::nullopt;
    }
};
static_assert(Future<Served>);

// Nothing in this stage runs tasks, so this loop drives one future by hand: it polls it when
// its waker was called, and in between sleeps in REACTOR.wait(), which calls the wakers of the
// fds that became ready.
template <Future F>
void block_on(F future) {
    auto woken = std::make_shared<std::atomic<bool>>(true); // polled once to start it
    Waker waker([woken] { woken->store(true); });
    while (!(woken->exchange(false) && future.poll(waker))) {
        REACTOR.wait();
    }
}

// Waits (2 s at most) until thread `tid` is asleep in epoll_wait: /proc/self/task/TID/syscall
// starts with the number of the system call it is blocked in (the stage's tests read it too).
void wait_until_asleep_in_epoll_wait(pid_t tid) {
    for (int tries = 0; tries < 2000; ++tries, std::this_thread::sleep_for(1ms)) {
        long number = -1; // -1 or 0 if the file says "running"
        std::ifstream("/proc/self/task/" + std::to_string(tid) + "/syscall") >> number;
        if (number == SYS_epoll_wait || number == SYS_epoll_pwait) {
            return;
        }
    }
}

// The client's side.
TcpStream connect_to(std::uint16_t port) {
    TcpStream stream(Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    sockaddr_in address{AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}, {}};
    if (::connect(stream.fd(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        throw_errno("connect");
    }
    return stream;
}

std::string first_line(TcpStream& stream) {
    char buffer[256];
    std::string answer(buffer, stream.read(buffer).value_or(0)); // it comes in one segment
    return answer.empty() ? "nothing (closed)" : answer.substr(0, answer.find("\r\n"));
}

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1) { // --help, or a mistake: say what this is
        bool help = std::string_view(argv[1]) == "--help";
        std::fputs("usage: demo [--help]\n" STAGE ": one task, woken by REACTOR for its socket or "
                   "its timer, polled by hand\n",
                   help ? stdout : stderr);
        return help ? 0 : 2;
    }
    ignore_sigpipe();
    TcpListener listener = TcpListener::bind(0); // a free port on 127.0.0.1
    std::printf(STAGE " demo: a client sends its request in 3 pieces, each once this thread "
                      "sleeps in epoll_wait\n");
    int polls = 0;
    std::string answer;
    std::thread client([&, loop = ::gettid()] {
        TcpStream stream = connect_to(listener.port());
        for (std::string_view piece : {"GET / HTTP/1.1\r\n", "Host: demo\r\n", "\r\n"}) {
            std::this_thread::sleep_for(50ms);
            wait_until_asleep_in_epoll_wait(loop);
            stream.write_all(piece);
        }
        answer = first_line(stream);
    });
    block_on(Served{Connection(*listener.accept(), true), Fd(), &polls});
    client.join();
    std::printf("  %s after %d polls: 1 to start, 1 per piece, 1 as the new registration reports "
                "writable\n",
                answer.c_str(), polls);

    std::printf("a task waits for a silent client and a 100 ms timer, both registered with "
                "REACTOR\n");
    TcpStream silent = connect_to(listener.port());
    Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
    itimerspec in_100ms{{}, {0, 100'000'000}};
    Clock::time_point start = Clock::now();
    ::timerfd_settime(timer.get(), 0, &in_100ms, nullptr);
    polls = 0;
    block_on(Served{Connection(*listener.accept(), true), std::move(timer), &polls});
    std::printf("  the reactor woke it for its timer at %.0f ms: it gave up after %d polls; the "
                "client got %s\n",
                ms(Clock::now() - start), polls, first_line(silent).c_str());
    std::printf("limit: block_on polls this one task by hand; nothing in this stage runs woken "
                "tasks (stage 09 will)\n");
}
