// The demo: stage 05's Connection, driven as a Future. Run it: build/chapters/06-futures/demo
//
// A client sends one request in three pieces. The same Connection code serves it twice: driven
// by "poll until ready", the simplest loop a Future allows, which asks again and again because
// nothing tells it when to; then spawned on the SketchScheduler under its socket's fd, which
// polls it only when epoll reports that fd. Last, the sketch's limit: a task that also waits
// for a timer is not polled when the timer fires.
#include "connection.hpp"
#include "error.hpp"
#include "future.hpp"
#include "net.hpp"
#include "sketch_scheduler.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The adapter. Connection::advance has poll()'s shape already ("done", or "not yet, call me
// again"), so making it a Future is a rename, and a count. (connection.hpp is stage 05's.)
struct Served {
    using Output = Unit;
    Connection connection;
    int* polls;

    std::optional<Unit> poll() {
        ++*polls;
        return connection.advance() ? std::optional(Unit{}) : std::nullopt;
    }
};
static_assert(Future<Served>);

// The simplest driver. It works for any Future, but it cannot know when polling again could
// help, so it never stops asking: stage 04's busy loop, in general form.
template <Future F>
void poll_until_ready(F& future) {
    while (!future.poll()) {
    }
}

// A task that waits for two things: its client, and a deadline (a timerfd). It looks at the
// timer first, and once the deadline has passed it gives up: it ends, which closes the socket.
struct WithDeadline {
    using Output = Unit;
    Served served;
    Fd timer;

    std::optional<Unit> poll() {
        std::uint64_t expirations;
        if (::read(timer.get(), &expirations, sizeof expirations) > 0) {
            return Unit{};
        }
        return served.poll();
    }
};

// The client's side: a request in three pieces; the answer's first line.
constexpr std::string_view pieces[] = {"GET / HTTP/1.1\r\n", "Host: demo\r\n", "\r\n"};

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

} // namespace

int main(int argc, char** argv) {
    if (argc > 1) { // --help, or a mistake: say what this is
        bool help = std::string_view(argv[1]) == "--help";
        std::fputs("usage: demo [--help]\n" STAGE ": stage 05's Connection, polled as a Future "
                   "until ready, then by the SketchScheduler\n",
                   help ? stdout : stderr);
        return help ? 0 : 2;
    }
    ignore_sigpipe();
    TcpListener listener = TcpListener::bind(0); // a free port on 127.0.0.1
    std::printf(STAGE " demo: a client sends its request in 3 pieces\n");

    // A client thread that takes 50 ms before each piece, while this thread polls and polls.
    int polls = 0;
    std::string answer;
    std::thread client([&] {
        TcpStream stream = connect_to(listener.port());
        for (std::string_view piece : pieces) {
            std::this_thread::sleep_for(50ms);
            stream.write_all(piece);
        }
        answer = first_line(stream);
    });
    Served spun{Connection(*listener.accept(), true), &polls};
    poll_until_ready(spun);
    client.join();
    std::printf("  poll until ready, 50 ms between pieces: %s after %d polls (it spins)\n",
                answer.c_str(), polls);

    // This thread plays the client between the sketch's turns: a piece, then a turn(-1), which
    // sleeps in epoll_wait until the task's fd is reported.
    polls = 0;
    SketchScheduler sketch;
    TcpStream client_end = connect_to(listener.port());
    TcpStream stream = *listener.accept();
    int id = stream.fd(); // the task's id: the fd that epoll reports
    sketch.spawn(id, Served{Connection(std::move(stream), true), &polls});
    for (std::string_view piece : pieces) {
        client_end.write_all(piece);
        sketch.turn(-1);
    }
    std::printf("  sketch scheduler, a turn per piece: %s after %d polls (1 at spawn, 1 per epoll "
                "report)\n",
                first_line(client_end).c_str(), polls);

    std::printf("limit: a task waits for a silent client and a 100 ms timer, spawned under its "
                "socket's fd\n");
    client_end = connect_to(listener.port());
    stream = *listener.accept();
    id = stream.fd();
    WithDeadline task{{Connection(std::move(stream), true), &polls},
                      Fd(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC))};
    itimerspec in_100ms{{}, {0, 100'000'000}};
    ::timerfd_settime(task.timer.get(), 0, &in_100ms, nullptr);
    sketch.spawn(id, std::move(task));
    std::printf("  turn(300): %zu tasks polled, though the timer fired at 100 ms\n",
                sketch.turn(300));
    ::shutdown(client_end.fd(), SHUT_WR); // the client hangs up: an event on the task's id
    std::size_t polled = sketch.turn(-1);
    std::printf("  the client hangs up: %zu task polled, and only now does it give up; the "
                "client got %s\n",
                polled, first_line(client_end).c_str());
}
