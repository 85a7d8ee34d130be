// Reactor: fds and their wakers, edge-triggered wake-ups, removal, reused fd numbers, the
// cross-thread notifier, and signals.
#include "reactor.hpp"
#include "registration.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <fcntl.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <memory>
#include <stdexcept>
#include <thread>
#include <utility>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

using testing::CountingWaker;

// A pipe: {read end, write end}.
std::pair<Fd, Fd> pipe_pair() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        throw std::runtime_error("pipe2 failed");
    }
    return {Fd(fds[0]), Fd(fds[1])};
}

void write_byte(const Fd& fd) {
    char byte = 'x';
    REQUIRE(::write(fd.get(), &byte, 1) == 1);
}

// Every test leaves this thread's REACTOR as it found it: nothing registered.
struct LeavesReactorEmpty {
    ~LeavesReactorEmpty() { CHECK(REACTOR.registrations() == 0); }
};

} // namespace

TEST_CASE("a registered fd that becomes ready wakes its waker") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    REACTOR.add(reader.get(), task.waker);
    CHECK(REACTOR.registrations() == 1);

    REACTOR.wait(0);
    CHECK(task.wakes() == 0); // nothing to read yet
    write_byte(writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(task.wakes() == 1);
    REACTOR.remove(reader.get());
}

TEST_CASE("a removed fd never wakes its waker") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    REACTOR.add(reader.get(), task.waker);
    REACTOR.remove(reader.get());
    CHECK(REACTOR.registrations() == 0);

    write_byte(writer);
    REACTOR.wait(0); // the event would be there already: writing queues it at once
    CHECK(task.wakes() == 0);
}

TEST_CASE("removing an fd that is not registered, or already closed, does nothing") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CHECK_NOTHROW(REACTOR.remove(reader.get()));
    int closed = reader.get();
    reader.reset();
    CHECK_NOTHROW(REACTOR.remove(closed));
}

TEST_CASE("a reused fd number wakes the new waker, never the stale one") {
    LeavesReactorEmpty check;
    CountingWaker stale;
    CountingWaker fresh;
    int number;
    {
        auto [reader, writer] = pipe_pair();
        number = reader.get();
        REACTOR.add(number, stale.waker);
        // Closed without remove(), as the article's Handler does on an early return: the
        // kernel forgets the registration, but the map still holds the stale waker.
    }
    auto [reader, writer] = pipe_pair();
    REQUIRE(reader.get() == number); // the lowest free number is reused
    REACTOR.add(reader.get(), fresh.waker);
    CHECK(REACTOR.registrations() == 1);

    write_byte(writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(fresh.wakes() == 1);
    CHECK(stale.wakes() == 0);
    REACTOR.remove(reader.get());
}

TEST_CASE("adding a registered fd again replaces its waker and reports nothing by itself") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker first;
    CountingWaker second;
    REACTOR.add(server.get(), first.waker);
    REACTOR.wait(0);
    CHECK(first.wakes() == 1); // a fresh socket is writable: its first edge

    REACTOR.add(server.get(), second.waker); // EEXIST: same registration, new waker
    REACTOR.wait(0);
    CHECK(second.wakes() == 0); // no new edge: re-registering on every poll cannot spin

    testing::write_all(client, "x");
    REACTOR.wait(0); // the write queued the event already
    CHECK(first.wakes() == 1);
    CHECK(second.wakes() == 1);
    REACTOR.remove(server.get());
}

TEST_CASE("a connection waiting to read costs one wake-up, not one per wait") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker task;
    REACTOR.add(server.get(), task.waker);
    for (int i = 0; i < 5; ++i) {
        REACTOR.wait(20);
    }
    CHECK(task.wakes() == 1); // the first writable edge; then nothing changes
    REACTOR.remove(server.get());
}

TEST_CASE("level-triggered (the article's registration) reports an idle connection on every wait") {
    auto [client, server] = socket_pair();
    Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
    epoll_event event{};
    event.events = EPOLLIN | EPOLLOUT; // no EPOLLET
    event.data.fd = server.get();
    REQUIRE(::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, server.get(), &event) == 0);

    int reported = 0;
    for (int i = 0; i < 1000; ++i) {
        epoll_event ready[1];
        reported += ::epoll_wait(epoll.get(), ready, 1, 0);
    }
    CHECK(reported == 1000); // writable, so "ready", every single time: a busy loop
}

TEST_CASE("edge-triggered: data left unread brings no new wake; new data does") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    REACTOR.add(reader.get(), task.waker);
    write_byte(writer);
    write_byte(writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(task.wakes() == 1);

    char byte;
    REQUIRE(::read(reader.get(), &byte, 1) == 1); // one of two bytes: not drained
    REACTOR.wait(0);
    CHECK(task.wakes() == 1); // hence the rule: read until "would block"

    write_byte(writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(task.wakes() == 2);
    REACTOR.remove(reader.get());
}

TEST_CASE("a Registration removes its fd when it is destroyed, however its owner ends") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    {
        Registration registration(reader.get(), task.waker);
        CHECK(REACTOR.registrations() == 1);
        Registration moved = std::move(registration); // a future that owns it may be moved
        CHECK(moved.fd() == reader.get());
        CHECK(REACTOR.registrations() == 1);
    } // destroyed: removed once, by the one that owned it last
    CHECK(REACTOR.registrations() == 0);
    write_byte(writer);
    REACTOR.wait(0);
    CHECK(task.wakes() == 0);
}

TEST_CASE("a waker may add and remove registrations while wait() calls it") {
    LeavesReactorEmpty check;
    auto [first_reader, first_writer] = pipe_pair();
    auto [second_reader, second_writer] = pipe_pair();
    CountingWaker second;
    int first_fd = first_reader.get();
    int second_fd = second_reader.get();
    Waker swap_registrations([first_fd, second_fd, waker = second.waker] {
        REACTOR.remove(first_fd);
        REACTOR.add(second_fd, waker);
    });
    REACTOR.add(first_fd, swap_registrations);
    write_byte(first_writer);
    write_byte(second_writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(REACTOR.registrations() == 1);
    REACTOR.wait(0); // adding an fd that is ready already reports it at once
    CHECK(second.wakes() == 1);
    REACTOR.remove(second_fd);
}

TEST_CASE("notify() before wait() makes the next wait() return at once") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    REACTOR.add(watched.get(), rescued.waker);
    REACTOR.wait(0); // consume the fresh socket's writable edge
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        REACTOR.notifier()->notify();
        REACTOR.wait();
        CHECK_FALSE(watchdog.fired());
    }
    REACTOR.remove(watched.get());
}

TEST_CASE("notify() from another thread ends a wait() that is blocked") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    REACTOR.add(watched.get(), rescued.waker);
    REACTOR.wait(0);

    pid_t waiting = ::gettid();
    std::shared_ptr<Notifier> notifier = REACTOR.notifier(); // the handle, not the reactor
    std::thread other([notifier, waiting] {
        if (testing::wait_until_blocked_in_epoll_wait(waiting, 10s)) {
            notifier->notify();
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        REACTOR.wait();
        other.join();
        CHECK_FALSE(watchdog.fired());
    }
    REACTOR.remove(watched.get());
}

TEST_CASE("another thread's REACTOR is another reactor: notifying it does not end our wait") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    REACTOR.add(watched.get(), rescued.waker);
    REACTOR.wait(0);

    pid_t waiting = ::gettid();
    Reactor* ours = &REACTOR;
    std::atomic<bool> same_reactor{true};
    std::thread other([&same_reactor, ours, waiting] {
        same_reactor = &REACTOR == ours; // thread_local: this thread gets a reactor of its own
        if (testing::wait_until_blocked_in_epoll_wait(waiting, 10s)) {
            REACTOR.notifier()->notify(); // the mistake: notifies the wrong reactor
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 300ms);
        REACTOR.wait();
        other.join();
        CHECK(watchdog.fired()); // only the watchdog's byte ended our wait
    }
    CHECK_FALSE(same_reactor);
    REACTOR.remove(watched.get());
}

namespace {
volatile std::sig_atomic_t signals_handled = 0;
void count_signal(int) { signals_handled = signals_handled + 1; }
} // namespace

TEST_CASE("a signal that interrupts wait() (EINTR) is a normal return, not an error") {
    LeavesReactorEmpty check;
    struct sigaction action{};
    action.sa_handler = count_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART (epoll_wait would not be restarted anyway)
    struct sigaction previous{};
    REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);

    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    REACTOR.add(watched.get(), rescued.waker);
    REACTOR.wait(0);

    pid_t waiting = ::gettid();
    pthread_t waiting_thread = ::pthread_self();
    std::thread other([waiting, waiting_thread] {
        if (testing::wait_until_blocked_in_epoll_wait(waiting, 10s)) {
            ::pthread_kill(waiting_thread, SIGUSR1);
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        CHECK_NOTHROW(REACTOR.wait());
        other.join();
        CHECK_FALSE(watchdog.fired());
    }
    CHECK(signals_handled == 1);
    REACTOR.remove(watched.get());
    ::sigaction(SIGUSR1, &previous, nullptr);
}
