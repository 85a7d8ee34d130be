// The demo: SCHEDULER.run() serving a few tasks, and the seed's holes as they happen. Run it:
// build/chapters/09-scheduler/demo (stage 10 runs this same file, and closes the holes).
//
// run() gets a thread of its own and four tasks: three slow clients' connections, and one that
// waits for a job done by another thread. This thread plays the worker, then the clients. The
// job is done while run() sleeps; the clients hang up after their answer; no task is left. The
// seed's scheduler misses the wake until some fd event, polls finished tasks again, and never
// returns: the demo ends the process.
#include "connection.hpp"
#include "error.hpp"
#include "future.hpp"
#include "net.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#ifndef SYS_epoll_wait
#define SYS_epoll_wait SYS_epoll_pwait // aarch64 has only epoll_pwait
#endif

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

// What run()'s thread and this one share.
struct Shared {
    std::mutex mutex;               // guards the job's three fields
    std::optional<Waker> job_waker; // left by the task that waits for the job
    bool job_done = false;
    Clock::time_point polled;                              // that task's poll, once the job is done
    std::atomic<int> polls[3]{}, polls_once_finished[3]{}; // the connection tasks'
} shared;

// A connection task: stage 05's Connection as a Future (advance() has poll()'s shape). Its first
// poll registers the socket with REACTOR. It counts its polls, apart from those that come once it
// has finished: the seed's scheduler does not look, and a finished task can be woken again.
struct Served {
    using Output = Unit;
    Connection connection;
    int task;
    std::optional<Registration> registration;
    bool finished = false;

    std::optional<Unit> poll(const Waker& waker) {
        ++(finished ? shared.polls_once_finished : shared.polls)[task];
        if (!registration) {
            registration.emplace(connection.fd(), waker);
        }
        finished = finished || connection.advance();
        return finished ? std::optional(Unit{}) : std::nullopt;
    }
};

// A task that waits for a job done by another thread (stage 13's spawn_blocking starts such
// threads): it leaves a copy of its waker for the worker, and is done once the job is.
struct WaitForJob {
    using Output = Unit;

    std::optional<Unit> poll(const Waker& waker) {
        std::lock_guard lock(shared.mutex);
        if (!shared.job_done) {
            shared.job_waker = waker;
            return std::nullopt;
        }
        shared.polled = Clock::now();
        return Unit{};
    }
};

// Waits (2 s at most) until thread `tid` is asleep in epoll_wait: /proc/self/task/TID/syscall
// starts with the number of the system call it is blocked in (stage 07's tests read it too).
void wait_until_asleep_in_epoll_wait(pid_t tid) {
    for (int tries = 0; tries < 2000; ++tries, std::this_thread::sleep_for(1ms)) {
        long number = -1; // -1 or 0 if the file says "running"
        std::ifstream("/proc/self/task/" + std::to_string(tid) + "/syscall") >> number;
        if (number == SYS_epoll_wait || number == SYS_epoll_pwait) {
            return;
        }
    }
}

// The clients' side.
TcpStream connect_to(std::uint16_t port) {
    TcpStream stream(Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)));
    sockaddr_in address{AF_INET, htons(port), {htonl(INADDR_LOOPBACK)}, {}};
    if (::connect(stream.fd(), reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        throw_errno("connect");
    }
    return stream;
}

} // namespace

int main(int argc, char** argv) {
    if (argc > 1) { // --help, or a mistake: say what this is
        bool help = std::string_view(argv[1]) == "--help";
        std::fputs("usage: demo [--help]\n" STAGE
                   ": SCHEDULER.run() serving 3 slow clients, and a task woken by a job\n",
                   help ? stdout : stderr);
        return help ? 0 : 2;
    }
    ignore_sigpipe();
    TcpListener listener = TcpListener::bind(0); // a free port on 127.0.0.1
    std::vector<TcpStream> clients;
    for (int task = 0; task < 3; ++task) {
        clients.push_back(connect_to(listener.port()));
        SCHEDULER.spawn(Served{Connection(*listener.accept(), true), task});
    }
    SCHEDULER.spawn(WaitForJob{});
    // run() on a thread of its own. A std::promise is the standard library's one-shot channel
    // between threads (a blocking cousin of our futures): it tells which thread, and when run()
    // returns.
    std::promise<pid_t> started;
    std::promise<void> returned;
    std::thread runtime([&] {
        started.set_value(::gettid());
        SCHEDULER.run();
        returned.set_value();
    });
    pid_t run_thread = started.get_future().get();
    std::future<void> run_returned = returned.get_future();
    std::printf(STAGE " demo: SCHEDULER.run() runs 3 slow clients' tasks, and one that waits for a "
                      "job\n");

    // The worker: the job is done while run() sleeps, and wakes the task that waits for it.
    wait_until_asleep_in_epoll_wait(run_thread);
    std::unique_lock lock(shared.mutex);
    shared.job_done = true;
    Clock::time_point woken = Clock::now();
    lock.unlock();
    shared.job_waker->wake(); // the task no longer touches it: the job is done

    // The clients: 50 ms before each piece of their requests, each sent once run() sleeps.
    Clock::time_point first_piece = Clock::time_point::max();
    for (std::string_view piece : {"GET / HTTP/1.1\r\n", "Host: demo\r\n", "\r\n"}) {
        std::this_thread::sleep_for(50ms);
        wait_until_asleep_in_epoll_wait(run_thread);
        first_piece = std::min(first_piece, Clock::now());
        for (TcpStream& client : clients) {
            client.write_all(piece);
        }
    }
    int answered = 0;
    for (TcpStream& client : clients) {
        char buffer[256];
        std::string_view answer(buffer, client.read(buffer).value_or(0)); // in one segment
        answered += answer.starts_with("HTTP/1.1 200 OK");
    }
    clients.clear(); // they hang up

    bool run_has_returned = run_returned.wait_for(300ms) == std::future_status::ready;
    lock.lock();
    std::chrono::duration<double, std::milli> late = shared.polled - woken;
    std::printf("  a job done while run() slept: its task was polled %.2f ms later, %s\n",
                late.count(),
                shared.polled < first_piece ? "at once" : "when the clients' bytes woke run()");
    auto& polls = shared.polls;
    auto& again = shared.polls_once_finished;
    std::printf("  %d of 3 clients got HTTP/1.1 200 OK; their tasks were polled %d, %d, %d times\n",
                answered, polls[0].load(), polls[1].load(), polls[2].load());
    std::printf("  the clients hung up: their finished tasks were polled again %d, %d, %d times\n",
                again[0].load(), again[1].load(), again[2].load());
    if (!run_has_returned) {
        std::printf("  run() has not returned, 300 ms after its last task finished: the demo ends "
                    "the process\n");
        std::fflush(stdout);
        std::_Exit(0); // nothing else would end it: run() never returns
    }
    std::printf("  run() returned once no task was left\n");
    lock.unlock();
    runtime.join();
}
