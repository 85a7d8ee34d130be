// Reactor: registrations and their readiness per direction, edge-triggered wake-ups, removal,
// reused fd numbers, timers, the cross-thread notifier, and signals.
#include "reactor.hpp"
#include "registration.hpp"
#include "sleep.hpp"
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
#include <optional>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

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

// Every test leaves this thread's REACTOR as it found it: nothing registered, no timer.
struct LeavesReactorEmpty {
    ~LeavesReactorEmpty() {
        CHECK(REACTOR.registrations() == 0);
        CHECK(REACTOR.timers() == 0);
    }
};

} // namespace

TEST_CASE("a registered fd that becomes ready wakes its waker") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    Registration registration(reader.get(), task.waker);
    CHECK(REACTOR.registrations() == 1);

    REACTOR.wait(0);
    CHECK(task.wakes() == 0); // nothing to read yet
    write_byte(writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(task.wakes() == 1);
}

TEST_CASE("a removed fd never wakes its waker") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker task;
    std::optional<Registration> registration;
    registration.emplace(reader.get(), task.waker);
    registration.reset();
    CHECK(REACTOR.registrations() == 0);

    write_byte(writer);
    REACTOR.wait(0); // the event would be there already: writing queues it at once
    CHECK(task.wakes() == 0);
}

TEST_CASE("removing the registration of an fd that is closed already does nothing") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    std::optional<Registration> registration;
    registration.emplace(reader.get());
    reader.reset(); // closed first: the kernel dropped it from the epoll set (EBADF below)
    CHECK_NOTHROW(registration.reset());
}

TEST_CASE("a reused fd number wakes the new waker, never the stale one") {
    LeavesReactorEmpty check;
    CountingWaker stale;
    CountingWaker fresh;
    std::optional<Registration> stale_registration;
    int number;
    {
        auto [reader, writer] = pipe_pair();
        number = reader.get();
        stale_registration.emplace(number, stale.waker);
        // Closed without removing the registration, as the article's Handler does on an early
        // return: the kernel forgets it, but the reactor still holds the stale IoState.
    }
    auto [reader, writer] = pipe_pair();
    REQUIRE(reader.get() == number); // the lowest free number is reused
    {
        Registration registration(reader.get(), fresh.waker);
        CHECK(REACTOR.registrations() == 2); // the stale one stays until its owner goes

        write_byte(writer);
        REACTOR.wait(0); // the event carries the new IoState's address, not the number
        CHECK(fresh.wakes() == 1);
        CHECK(stale.wakes() == 0);
    }
    // Its DEL is by number: made now, while the number is registered by nobody, it is
    // harmless (stage 14 had the same limit; tokio's tokens carry a generation instead).
    stale_registration.reset();
}

TEST_CASE("a socket is registered once: registering it again is an error, not a new waker") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    Registration registration(server.get());
    CHECK_THROWS_AS(Registration(server.get()), std::system_error); // EEXIST
    CHECK(REACTOR.registrations() == 1);
}

TEST_CASE("a task waiting to read is not woken by the writable edge") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker task;
    Registration registration(server.get());
    CHECK_FALSE(registration.poll_ready(Direction::read, task.waker)); // nothing known yet
    REACTOR.wait(0); // a fresh socket is writable: its first event says so, and only that
    CHECK(task.wakes() == 0);
    CountingWaker writer;
    CHECK(registration.poll_ready(Direction::write, writer.waker)); // the bit is set
    CHECK(writer.wakes() == 0); // ready: nothing stored, nothing to wake

    testing::write_all(client, "x");
    REACTOR.wait(0); // the write queued the event already
    CHECK(task.wakes() == 1);
    CHECK(registration.poll_ready(Direction::read, task.waker));
}

TEST_CASE("would_block clears the bit: only a new edge sets it again, and wakes the waker") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker task;
    Registration registration(server.get());
    testing::write_all(client, "x");
    REACTOR.wait(0);
    REQUIRE(registration.poll_ready(Direction::read, task.waker));
    char byte;
    REQUIRE(::recv(server.get(), &byte, 1, MSG_DONTWAIT) == 1);
    REQUIRE(::recv(server.get(), &byte, 1, MSG_DONTWAIT) < 0); // "would block"
    registration.would_block(Direction::read, task.waker);
    CHECK_FALSE(registration.poll_ready(Direction::read, task.waker)); // no call needed
    for (int i = 0; i < 3; ++i) {
        CHECK_FALSE(registration.poll_ready(Direction::read, task.waker)); // polled again
    }
    REACTOR.wait(0);
    CHECK(task.wakes() == 0); // no epoll_ctl on a poll, so nothing re-reports old readiness

    testing::write_all(client, "y");
    REACTOR.wait(0);
    CHECK(task.wakes() == 1);
    CHECK(registration.poll_ready(Direction::read, task.waker));
}

TEST_CASE("a waiting direction's waker is replaced by another task's") {
    LeavesReactorEmpty check;
    auto [reader, writer] = pipe_pair();
    CountingWaker first;
    CountingWaker second;
    Registration registration(reader.get());
    CHECK_FALSE(registration.poll_ready(Direction::read, first.waker));
    CHECK_FALSE(registration.poll_ready(Direction::read, second.waker));
    write_byte(writer);
    REACTOR.wait(0);
    CHECK(first.wakes() == 0);
    CHECK(second.wakes() == 1);
}

TEST_CASE("the peer's close wakes a task waiting to read") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker task;
    Registration registration(server.get());
    CHECK_FALSE(registration.poll_ready(Direction::read, task.waker));
    REACTOR.wait(0); // the writable edge
    client.reset(); // EPOLLIN | EPOLLRDHUP | EPOLLHUP: the read will say 0
    REACTOR.wait(0);
    CHECK(task.wakes() == 1);
}

TEST_CASE("a connection waiting to read costs one wake-up, not one per wait") {
    LeavesReactorEmpty check;
    auto [client, server] = socket_pair();
    CountingWaker task;
    Registration registration(server.get(), task.waker); // either direction
    for (int i = 0; i < 5; ++i) {
        REACTOR.wait(20);
    }
    CHECK(task.wakes() == 1); // the first writable edge; then nothing changes
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
    Registration registration(reader.get(), task.waker);
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
    auto first_registration = std::make_shared<std::optional<Registration>>();
    auto second_registration = std::make_shared<std::optional<Registration>>();
    int second_fd = second_reader.get();
    // Its waker removes its own registration (destroying the IoState wait() found it in) and
    // registers another fd.
    Waker swap_registrations([first_registration, second_registration, second_fd,
                              waker = second.waker] {
        first_registration->reset();
        second_registration->emplace(second_fd, waker);
    });
    first_registration->emplace(first_reader.get(), swap_registrations);
    write_byte(first_writer);
    write_byte(second_writer);
    REACTOR.wait(0); // the write queued the event already
    CHECK(REACTOR.registrations() == 1);
    REACTOR.wait(0); // adding an fd that is ready already reports it at once
    CHECK(second.wakes() == 1);
    second_registration->reset();
}

TEST_CASE("a registration whose waker owns another registration can be removed") {
    LeavesReactorEmpty check;
    auto [first_reader, first_writer] = pipe_pair();
    auto [second_reader, second_writer] = pipe_pair();
    // Dropping a waker can drop the last reference to a task, and with it the task's
    // registrations: here removing `outer` drops the only owner of `inner`, from inside
    // remove().
    auto inner = std::make_shared<Registration>(second_reader.get(), Waker([] {}));
    std::optional<Registration> outer;
    outer.emplace(first_reader.get(), Waker([inner] {}));
    inner.reset();
    CHECK(REACTOR.registrations() == 2);
    outer.reset();
    CHECK(REACTOR.registrations() == 0);
}

TEST_CASE("notify() before wait() makes the next wait() return at once") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    Registration registration(watched.get(), rescued.waker);
    REACTOR.wait(0); // consume the fresh socket's writable edge
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        REACTOR.notifier()->notify();
        REACTOR.wait();
        CHECK_FALSE(watchdog.fired());
    }
}

TEST_CASE("notify() from another thread ends a wait() that is blocked") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    Registration registration(watched.get(), rescued.waker);
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
}

TEST_CASE("another thread's REACTOR is another reactor: notifying it does not end our wait") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    Registration registration(watched.get(), rescued.waker);
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
    Registration registration(watched.get(), rescued.waker);
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
    ::sigaction(SIGUSR1, &previous, nullptr);
}

TEST_CASE("timers fire in the order of their deadlines, each once, and leave the reactor") {
    LeavesReactorEmpty check;
    auto now = Reactor::Clock::now();
    auto order = std::make_shared<std::vector<int>>();
    auto note = [order](int which) { return Waker([order, which] { order->push_back(which); }); };
    REACTOR.add_timer(now + 30ms, note(3));
    REACTOR.add_timer(now + 10ms, note(1));
    REACTOR.add_timer(now + 20ms, note(2));
    REACTOR.add_timer(now + 10ms, note(11)); // the same deadline: after the one added first
    CHECK(REACTOR.timers() == 4);
    while (REACTOR.timers() > 0) {
        REACTOR.wait(-1); // each returns at the next deadline: no fd is registered
    }
    CHECK(*order == std::vector<int>{1, 11, 2, 3});
    CHECK(Reactor::Clock::now() - now >= 30ms);
}

TEST_CASE("a cancelled timer never wakes, and cancelling one that fired does nothing") {
    LeavesReactorEmpty check;
    CountingWaker cancelled;
    CountingWaker fired;
    auto now = Reactor::Clock::now();
    Reactor::TimerKey gone = REACTOR.add_timer(now, cancelled.waker);
    Reactor::TimerKey kept = REACTOR.add_timer(now, fired.waker);
    REACTOR.remove_timer(gone);
    REACTOR.wait(0); // both deadlines have passed
    CHECK(cancelled.wakes() == 0);
    CHECK(fired.wakes() == 1);
    CHECK(REACTOR.timers() == 0);
    REACTOR.remove_timer(kept); // fired already: nothing to cancel
    REACTOR.remove_timer(gone); // cancelled twice: nothing either
    REACTOR.wait(0);
    CHECK(fired.wakes() == 1);
}

TEST_CASE("wait(-1) with only a timer returns at its deadline, not before") {
    LeavesReactorEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    CountingWaker rescued;
    Registration registration(watched.get(), rescued.waker);
    REACTOR.wait(0); // consume the fresh socket's writable edge
    CountingWaker timer;
    auto start = Reactor::Clock::now();
    REACTOR.add_timer(start + 50ms, timer.waker);
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        REACTOR.wait(-1);
        CHECK_FALSE(watchdog.fired());
    }
    // Rounded up to the millisecond, the timeout never ends the wait before the deadline, so
    // the first return finds the timer due: no early return, no wait(0) spin after it.
    CHECK(Reactor::Clock::now() - start >= 50ms);
    CHECK(timer.wakes() == 1);
    CHECK(REACTOR.timers() == 0);
}

TEST_CASE("a timer's waker may add and cancel timers while wait() calls it") {
    LeavesReactorEmpty check;
    CountingWaker later;
    auto now = Reactor::Clock::now();
    auto next = std::make_shared<std::optional<Reactor::TimerKey>>();
    REACTOR.add_timer(now, Waker([next, waker = later.waker] {
        *next = REACTOR.add_timer(Reactor::Clock::now() + 1h, waker);
    }));
    REACTOR.wait(0);
    CHECK(REACTOR.timers() == 1);
    REACTOR.remove_timer(next->value());
    CHECK(REACTOR.timers() == 0);
    CHECK(later.wakes() == 0);
}

namespace {
// Owns a registration and a timer whose wakers own it back: the cycle of a task that waits
// (task -> future -> registration -> waker -> task), which only the reactor can break.
struct WaitingOwner {
    Fd reader;
    Fd writer;
    std::optional<Registration> registration; // after the fds: removed before they close
    std::optional<Sleep> sleep;
    std::shared_ptr<std::atomic<int>> destroyed;
    ~WaitingOwner() { ++*destroyed; }
};
} // namespace

TEST_CASE("a thread's REACTOR, destroyed at thread exit, drops its wakers, and what they held") {
    auto destroyed = std::make_shared<std::atomic<int>>(0);
    std::thread([destroyed] {
        auto owner = std::make_shared<WaitingOwner>();
        std::tie(owner->reader, owner->writer) = pipe_pair();
        owner->destroyed = destroyed;
        Waker waker([owner] {});
        owner->registration.emplace(owner->reader.get(), waker);
        owner->sleep.emplace(sleep_for(1h));
        CHECK_FALSE(owner->sleep->poll(waker));
        // Only the wakers in this thread's REACTOR hold it now. The reactor's destructor
        // drops them, and the owner's Registration and Sleep, destroyed with it, remove
        // themselves from that reactor while it is still consistent.
    }).join();
    CHECK(*destroyed == 1);
}

TEST_CASE("now() reads the clock once per wait(): the same time until the next wait") {
    Reactor::Clock::time_point first = REACTOR.now();
    while (Reactor::Clock::now() <= first + std::chrono::milliseconds(1)) {
        // the real clock moves on (a bounded spin: a millisecond)
    }
    CHECK(REACTOR.now() == first); // cached: no clock read between two waits
    REACTOR.wait(0);
    CHECK(REACTOR.now() > first);
}
