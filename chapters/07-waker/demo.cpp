// The demo: a task woken by its waker, and the waker's limit. Run it: build/chapters/07-waker/demo
//
// A task on the SketchScheduler waits for a silent client and for a deadline that a timer
// thread keeps: on its first poll it leaves a copy of its waker with the timer. Stage 06's
// sketch could poll a task only for an event on its fd; now whoever holds the waker can get it
// polled. But the wake comes while the loop sleeps in epoll_wait, and nothing ends that sleep.
#include "connection.hpp"
#include "error.hpp"
#include "future.hpp"
#include "net.hpp"
#include "sketch_scheduler.hpp"
#include "waker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <mutex>
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

// What the task and the timer thread share: the task leaves a copy of its waker here, and the
// timer thread calls it once the deadline has passed.
struct Deadline {
    std::mutex mutex;
    std::optional<Waker> waker;
    bool passed = false;
    int polls = 0;
};

// The task: stage 05's Connection as a Future (advance() has poll()'s shape), with a deadline.
// It looks at the deadline first; once it has passed, it gives up: it ends, closing the socket.
struct Served {
    using Output = Unit;
    Connection connection;
    std::shared_ptr<Deadline> deadline;

    std::optional<Unit> poll(const Waker& waker) {
        std::lock_guard lock(deadline->mutex);
        ++deadline->polls;
        if (deadline->passed) {
            return Unit{};
        }
        deadline->waker = waker; // the article's waker.clone(): the timer thread will call it
        return connection.advance() ? std::optional(Unit{}) : std::nullopt;
    }
};
static_assert(Future<Served>);

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

double ms(Clock::duration d) {
    return std::chrono::duration<double, std::milli>(d).count();
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1) { // --help, or a mistake: say what this is
        bool help = std::string_view(argv[1]) == "--help";
        std::fputs("usage: demo [--help]\n" STAGE ": a task on the SketchScheduler, woken by a "
                   "timer thread that holds its waker\n",
                   help ? stdout : stderr);
        return help ? 0 : 2;
    }
    ignore_sigpipe();
    TcpListener listener = TcpListener::bind(0); // a free port on 127.0.0.1
    std::printf(STAGE " demo: a task waits for a silent client and a 100 ms deadline kept by a "
                      "timer thread\n");
    SketchScheduler sketch;
    TcpStream client = connect_to(listener.port());
    TcpStream stream = *listener.accept();
    int id = stream.fd(); // the task's id: the fd that epoll reports
    auto deadline = std::make_shared<Deadline>();
    sketch.spawn(id, Served{Connection(std::move(stream), true), deadline});
    std::printf("  its first poll left a copy of its waker with the timer thread, and said \"not "
                "yet\"\n");

    Clock::time_point start = Clock::now(), woken;
    std::thread timer([&, loop = ::gettid()] {
        std::this_thread::sleep_until(start + 100ms);
        wait_until_asleep_in_epoll_wait(loop); // the wake must come while the loop sleeps
        std::lock_guard lock(deadline->mutex);
        deadline->passed = true;
        woken = Clock::now();
        deadline->waker->wake();
    });
    std::size_t polled = sketch.turn(500); // nothing will happen on the task's fd
    Clock::duration took = Clock::now() - start;
    timer.join();
    std::printf("  the timer thread called the waker at %.0f ms, while the loop slept in "
                "epoll_wait(500)\n",
                ms(woken - start));
    std::printf("  turn(500) polled %zu task, with no event on its fd: it gave up, on poll %d\n",
                polled, deadline->polls);
    std::printf("  limit: that was at %.0f ms: %s\n", ms(took),
                took >= 500ms ? "nothing ended epoll_wait's sleep before its timeout"
                              : "the wake ended epoll_wait's sleep");
}
