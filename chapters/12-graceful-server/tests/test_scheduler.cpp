// Scheduler: the seed's run loop, and each hole of the seed's design closed, one test each.
// Every test leaves SCHEDULER as it found it: no live task (see LeavesRuntimeEmpty).
#include "future.hpp"
#include "leaves_runtime_empty.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "server_process.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"
#include "wakeup_probes.hpp"

#include <doctest/doctest.h>

#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <latch>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using testing::socket_pair;

namespace {

// What a test sees of a task from outside. Only run()'s thread touches it.
struct Counts {
    int polls = 0;
    int destroyed = 0;
    bool done = false;
    std::thread::id destroyed_on;
};

// Lifetime: a member that counts the destruction of the future it belongs to (the spawned
// one, not the moved-from temporaries on its way into the scheduler).
struct Lifetime {
    std::shared_ptr<Counts> counts;
    explicit Lifetime(std::shared_ptr<Counts> c) : counts(std::move(c)) {}
    Lifetime(Lifetime&& other) noexcept = default;
    ~Lifetime() {
        if (counts) {
            ++counts->destroyed;
            counts->destroyed_on = std::this_thread::get_id();
        }
    }
};

// ReadyAfter: wakes itself and says "not yet" until its n-th poll.
struct ReadyAfter {
    using Output = Unit;
    int n;
    Lifetime life;

    std::optional<Unit> poll(const Waker& waker) {
        if (++life.counts->polls >= n) {
            life.counts->done = true;
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};

// A place where a task leaves its waker, for whoever will wake it (any thread).
struct Stash {
    std::mutex mutex;
    std::optional<Waker> waker;
    std::atomic<bool> raised{false};

    void keep(const Waker& w) {
        std::lock_guard lock(mutex);
        waker = w;
    }
    void wake() {
        std::lock_guard lock(mutex);
        if (waker) {
            waker->wake();
        }
    }
    void raise() { // set the flag the task waits for, then wake it
        raised = true;
        wake();
    }
    void clear() {
        std::lock_guard lock(mutex);
        waker.reset();
    }
};

// WaitForRaise: leaves its waker in `stash` and is done once the stash is raised. It also
// registers `watched`, a socket the test's Watchdog writes to if the wake never comes.
struct WaitForRaise {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    Lifetime life;
    Fd watched;
    std::optional<Registration> registration; // after `watched`: removed before it is closed
    bool* rescued = nullptr;

    std::optional<Unit> poll(const Waker& waker) {
        ++life.counts->polls;
        if (!registration) {
            registration.emplace(watched.get(), waker);
        }
        if (stash->raised) {
            life.counts->done = true;
            char byte;
            *rescued = ::recv(watched.get(), &byte, 1, MSG_DONTWAIT) == 1; // the watchdog's byte
            return Unit{};
        }
        stash->keep(waker);
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("run() polls a spawned task until it is done, then returns") {
    LeavesRuntimeEmpty check;
    auto counts = std::make_shared<Counts>();
    SCHEDULER.spawn(ReadyAfter{3, Lifetime(counts)});
    CHECK(SCHEDULER.live_tasks() == 1);
    CHECK(counts->polls == 0); // spawn only queues it

    SCHEDULER.run();
    CHECK(counts->polls == 3);
    CHECK(counts->done);
    CHECK(counts->destroyed == 1);
}

TEST_CASE("run() returns at once when there is no task") {
    LeavesRuntimeEmpty check;
    SCHEDULER.run();
}

namespace {
// Spawner: spawns `children` ReadyAfter tasks from inside its poll, then is done.
struct Spawner {
    using Output = Unit;
    std::vector<std::shared_ptr<Counts>> children;
    std::optional<Unit> poll(const Waker&) {
        for (auto& counts : children) {
            SCHEDULER.spawn(ReadyAfter{2, Lifetime(counts)});
        }
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task may spawn tasks, and run() waits for them too") {
    LeavesRuntimeEmpty check;
    std::vector<std::shared_ptr<Counts>> children{std::make_shared<Counts>(), std::make_shared<Counts>()};
    SCHEDULER.spawn(Spawner{children});
    SCHEDULER.run();
    for (auto& counts : children) {
        CHECK(counts->done);
    }
}

// ---- Hole: run() never returned in the seed. -------------------------------------------

TEST_CASE("run() returns when the last task is done, even with fds still registered") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    REACTOR.add(server.get(), Waker([] {})); // not a task: run() does not wait for it
    auto counts = std::make_shared<Counts>();
    SCHEDULER.spawn(ReadyAfter{2, Lifetime(counts)});
    SCHEDULER.run();
    CHECK(counts->done);
    REACTOR.remove(server.get());
}

// ---- Hole: a finished task could be polled again; wakes were never coalesced. ----------

namespace {
// DoneAtOnce: leaves its waker in the stash and is done on its first poll.
struct DoneAtOnce {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    Lifetime life;
    std::optional<Unit> poll(const Waker& waker) {
        ++life.counts->polls;
        stash->keep(waker);
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task woken after it finished is never polled again, and its future is gone") {
    LeavesRuntimeEmpty check;
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    SCHEDULER.spawn(DoneAtOnce{stash, Lifetime(counts)});
    SCHEDULER.run();
    // Destroyed when it finished, on run()'s thread, though a copy of its waker lives on.
    CHECK(counts->destroyed == 1);
    CHECK(counts->destroyed_on == std::this_thread::get_id());

    for (int i = 0; i < 3; ++i) {
        stash->wake();
    }
    std::thread([stash] {
        for (int i = 0; i < 3; ++i) {
            stash->wake();
        }
    }).join();
    CHECK(SCHEDULER.live_tasks() == 0);
    SCHEDULER.run();
    CHECK(counts->polls == 1);
    stash->clear();
}

namespace {
// PendingOnce: leaves its waker in the stash and says "not yet"; done on its next poll.
struct PendingOnce {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    Lifetime life;
    std::optional<Unit> poll(const Waker& waker) {
        if (++life.counts->polls > 1) {
            return Unit{};
        }
        stash->keep(waker);
        return std::nullopt;
    }
};

// WakeTimes: wakes the stashed waker `times` times, then is done.
struct WakeTimes {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    int times;
    std::optional<Unit> poll(const Waker&) {
        for (int i = 0; i < times; ++i) {
            stash->wake();
        }
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task woken 1000 times before its next poll is polled once") {
    LeavesRuntimeEmpty check;
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    SCHEDULER.spawn(PendingOnce{stash, Lifetime(counts)});
    SCHEDULER.spawn(WakeTimes{stash, 1000});
    SCHEDULER.run();
    CHECK(counts->polls == 2); // the first poll, and one for all 1000 wakes
    stash->clear();
}

namespace {
// YieldChecked: wakes itself during its poll, `times` times, checking that wake() neither
// polls it inline (no nested poll, no poll before wake() returns).
struct YieldChecked {
    using Output = Unit;
    int times;
    Lifetime life;
    bool in_poll = false;
    bool* nested;

    std::optional<Unit> poll(const Waker& waker) {
        if (in_poll) {
            *nested = true;
        }
        in_poll = true;
        int polls = ++life.counts->polls;
        std::optional<Unit> result;
        if (polls > times) {
            result = Unit{};
        } else {
            waker.wake();
            if (life.counts->polls != polls) {
                *nested = true;
            }
        }
        in_poll = false;
        return result;
    }
};
} // namespace

TEST_CASE("a task that wakes itself during its poll is polled again after that poll") {
    LeavesRuntimeEmpty check;
    auto counts = std::make_shared<Counts>();
    bool nested = false;
    SCHEDULER.spawn(YieldChecked{3, Lifetime(counts), false, &nested});
    SCHEDULER.run();
    CHECK(counts->polls == 4); // no wake lost
    CHECK_FALSE(nested);       // and none polled it inline
}

namespace {
// LockedPending: takes `lock` in every poll; done on its second poll.
struct LockedPending {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    std::shared_ptr<std::mutex> lock;
    int polls = 0;
    std::optional<Unit> poll(const Waker& waker) {
        std::lock_guard guard(*lock);
        if (++polls > 1) {
            return Unit{};
        }
        stash->keep(waker);
        return std::nullopt;
    }
};

// WakeUnderLock: wakes the stashed waker while holding `lock`.
struct WakeUnderLock {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    std::shared_ptr<std::mutex> lock;
    std::optional<Unit> poll(const Waker&) {
        std::lock_guard guard(*lock);
        stash->wake(); // a waker that polled inline would now lock `lock` again: deadlock
        return Unit{};
    }
};
} // namespace

TEST_CASE("waking a task while holding a lock its poll takes does not deadlock") {
    LeavesRuntimeEmpty check;
    auto stash = std::make_shared<Stash>();
    auto lock = std::make_shared<std::mutex>();
    SCHEDULER.spawn(LockedPending{stash, lock});
    SCHEDULER.spawn(WakeUnderLock{stash, lock});
    SCHEDULER.run();
    stash->clear();
}

// ---- Hole: a wake from another thread did not end run()'s sleep in epoll_wait. ----------

TEST_CASE("a wake from another thread while run() sleeps in epoll_wait is seen at once") {
    LeavesRuntimeEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    bool rescued = false;
    SCHEDULER.spawn(WaitForRaise{stash, Lifetime(counts), std::move(watched), {}, &rescued});

    pid_t runner = ::gettid();
    std::thread other([stash, runner] {
        if (testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            stash->raise(); // the seed's waker only pushed the task: run() slept on
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        SCHEDULER.run();
        other.join();
        CHECK_FALSE(watchdog.fired());
    }
    CHECK(counts->done);
    CHECK_FALSE(rescued);
    stash->clear();
}

namespace {
// Raise: raises the stash (sets its flag, wakes its task), then is done.
struct Raise {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    std::optional<Unit> poll(const Waker&) {
        stash->raise();
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task spawned from another thread while run() sleeps is run at once") {
    LeavesRuntimeEmpty check;
    auto [watched, watchdog_end] = socket_pair();
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    bool rescued = false;
    SCHEDULER.spawn(WaitForRaise{stash, Lifetime(counts), std::move(watched), {}, &rescued});

    pid_t runner = ::gettid();
    std::thread other([stash, runner] {
        if (testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            SCHEDULER.spawn(Raise{stash});
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        SCHEDULER.run();
        other.join();
        CHECK_FALSE(watchdog.fired());
    }
    CHECK(counts->done);
    stash->clear();
}

// ---- Hole: EINTR from epoll_wait. --------------------------------------------------------

namespace {
std::atomic<int> signals_handled{0}; // lock-free, so safe in a signal handler
void count_signal(int) { signals_handled.fetch_add(1); }
} // namespace

TEST_CASE("a signal that interrupts run()'s sleep is not an error: run() sleeps again") {
    LeavesRuntimeEmpty check;
    struct sigaction action{};
    action.sa_handler = count_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART
    struct sigaction previous{};
    REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);
    signals_handled = 0;

    auto [watched, watchdog_end] = socket_pair();
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    bool rescued = false;
    SCHEDULER.spawn(WaitForRaise{stash, Lifetime(counts), std::move(watched), {}, &rescued});

    pid_t runner = ::gettid();
    pthread_t runner_thread = ::pthread_self();
    std::thread other([stash, runner, runner_thread] {
        if (!testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            return;
        }
        ::pthread_kill(runner_thread, SIGUSR1);
        // A signal handler can only set a flag: look at it again and again, with a deadline.
        testing::eventually([] { return signals_handled != 0; }, 10s);
        // Back asleep after the interruption: then wake the task.
        if (testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            stash->raise();
        }
    });
    {
        testing::Watchdog watchdog(std::move(watchdog_end), 10s);
        CHECK_NOTHROW(SCHEDULER.run());
        other.join();
        CHECK_FALSE(watchdog.fired());
    }
    CHECK(signals_handled == 1);
    CHECK(counts->done);
    stash->clear();
    ::sigaction(SIGUSR1, &previous, nullptr);
}

// ---- Hole: a task that always wakes itself starved the reactor. ----------------------------

namespace {
struct Race {
    bool io_done = false;
    bool starved = false;
    int spinner_polls = 0;
};

// Spinner: wakes itself on every poll (a busy task that yields) until the I/O task is done;
// on its first poll it sends the byte the I/O task waits for. Gives up after 100,000 polls.
struct Spinner {
    using Output = Unit;
    std::shared_ptr<Race> race;
    Fd to_reader;
    std::optional<Unit> poll(const Waker& waker) {
        if (++race->spinner_polls == 1) {
            testing::write_all(to_reader, "ping");
        }
        if (race->io_done) {
            return Unit{};
        }
        if (race->spinner_polls > 100'000) {
            race->starved = true;
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};

// ReadPing: waits, through the reactor, for 4 bytes on `from`.
struct ReadPing {
    using Output = Unit;
    std::shared_ptr<Race> race;
    Fd from;
    std::optional<Registration> registration;
    std::optional<Unit> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(from.get(), waker);
        }
        char buffer[4];
        if (::recv(from.get(), buffer, sizeof buffer, MSG_DONTWAIT) == 4) {
            race->io_done = true;
            return Unit{};
        }
        return std::nullopt; // edge-triggered: this was "would block", so a new edge will come
    }
};
} // namespace

TEST_CASE("a task that keeps waking itself does not starve a task waiting for I/O") {
    LeavesRuntimeEmpty check;
    auto [client, server] = socket_pair();
    auto race = std::make_shared<Race>();
    SCHEDULER.spawn(ReadPing{race, std::move(server), {}});
    SCHEDULER.spawn(Spinner{race, std::move(client)});
    SCHEDULER.run();
    CHECK(race->io_done);
    CHECK_FALSE(race->starved);
    // The reactor is looked at after at most polls_between_io_checks polls: by then the
    // reader has its byte, and one more turn polls the spinner, which sees it and ends.
    CHECK(race->spinner_polls <= Scheduler::polls_between_io_checks + 2);
}

// ---- Hole: a registration left behind when a task ends early. ----------------------------

namespace {
// PingPair: owns both ends of a socket pair. Registers `mine`; either ends at once (early,
// like the article's Handler on an unexpected EOF) or sends itself a byte and waits for it.
struct PingPair {
    using Output = Unit;
    Fd peer;
    Fd mine;
    std::optional<Registration> registration; // after `mine`: removed before it is closed
    bool early;

    std::optional<Unit> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(mine.get(), waker);
            if (early) {
                return Unit{};
            }
            testing::write_all(peer, "!");
            return std::nullopt; // the reactor reports the byte; read it on the next poll
        }
        char byte;
        if (::recv(mine.get(), &byte, 1, MSG_DONTWAIT) == 1) {
            return Unit{};
        }
        return std::nullopt;
    }
};
} // namespace

TEST_CASE("10,000 tasks that register fds and finish leave no fd and no registration behind") {
    LeavesRuntimeEmpty check;
    int fds_before = testing::open_fd_count(::getpid());
    std::size_t registrations_before = REACTOR.registrations();
    for (int batch = 0; batch < 100; ++batch) {
        for (int i = 0; i < 100; ++i) {
            auto [peer, mine] = socket_pair();
            SCHEDULER.spawn(PingPair{std::move(peer), std::move(mine), {}, i % 2 == 0});
        }
        SCHEDULER.run();
    }
    CHECK(testing::open_fd_count(::getpid()) == fds_before);
    CHECK(REACTOR.registrations() == registrations_before);
}

// ---- Hole: an exception thrown by a poll. ---------------------------------------------------

namespace {
// ThrowOnSecondPoll: wakes itself once, then throws.
struct ThrowOnSecondPoll {
    using Output = Unit;
    Lifetime life;
    std::optional<Unit> poll(const Waker& waker) {
        if (++life.counts->polls == 2) {
            throw std::runtime_error("boom");
        }
        waker.wake();
        return std::nullopt;
    }
};

// CaptureStderr: sends fd 2 to a temporary file while it lives.
class CaptureStderr {
public:
    CaptureStderr() : file_(std::tmpfile()), saved_(::dup(STDERR_FILENO)) {
        std::fflush(stderr);
        ::dup2(::fileno(file_), STDERR_FILENO);
    }
    ~CaptureStderr() {
        std::fflush(stderr);
        ::dup2(saved_, STDERR_FILENO);
        ::close(saved_);
        std::fclose(file_);
    }
    std::string text() {
        std::fflush(stderr);
        std::string out;
        std::rewind(file_);
        for (int c; (c = std::fgetc(file_)) != EOF;) {
            out.push_back(static_cast<char>(c));
        }
        return out;
    }

private:
    std::FILE* file_;
    int saved_;
};
} // namespace

TEST_CASE("an exception from a poll ends that task only: reported, destroyed, others go on") {
    LeavesRuntimeEmpty check;
    auto thrower = std::make_shared<Counts>();
    auto other = std::make_shared<Counts>();
    std::string reported;
    {
        CaptureStderr capture;
        SCHEDULER.spawn(ThrowOnSecondPoll{Lifetime(thrower)});
        SCHEDULER.spawn(ReadyAfter{5, Lifetime(other)});
        CHECK_NOTHROW(SCHEDULER.run());
        reported = capture.text();
    }
    CHECK(reported == "task failed: boom\n");
    CHECK(thrower->polls == 2);
    CHECK(thrower->destroyed == 1);
    CHECK(other->polls == 5);

    auto after = std::make_shared<Counts>(); // and the scheduler is still in working order
    SCHEDULER.spawn(ReadyAfter{2, Lifetime(after)});
    SCHEDULER.run();
    CHECK(after->done);
}

namespace {
struct RunsTheScheduler {
    using Output = Unit;
    std::optional<Unit> poll(const Waker&) {
        SCHEDULER.run(); // a nested run() would never return: it must fail instead
        return Unit{};
    }
};
} // namespace

TEST_CASE("run() called from inside a task fails fast instead of hanging") {
    LeavesRuntimeEmpty check;
    std::string reported;
    {
        CaptureStderr capture;
        SCHEDULER.spawn(RunsTheScheduler{});
        SCHEDULER.run();
        reported = capture.text();
    }
    CHECK(reported == "task failed: Scheduler::run: already running\n");
}

// ---- Thread safety. -----------------------------------------------------------------------

namespace {
// Board: where 1000 tasks publish their wakers and 8 threads record their progress.
struct Board {
    explicit Board(int tasks, int target_) : wakers(tasks), progress(tasks), published(tasks), target(target_) {}
    std::vector<std::optional<Waker>> wakers; // written once per task before `published`
    std::vector<std::atomic<int>> progress;
    std::latch published;
    int target;
    std::atomic<int> overlapping_polls{0};
};

// Hammered: publishes its waker on its first poll; done once its progress reaches the target.
struct Hammered {
    using Output = Unit;
    std::shared_ptr<Board> board;
    int index;
    std::shared_ptr<std::atomic<bool>> in_poll = std::make_shared<std::atomic<bool>>(false);
    bool first = true;

    std::optional<Unit> poll(const Waker& waker) {
        if (in_poll->exchange(true)) {
            ++board->overlapping_polls; // another poll of this task is running
        }
        std::optional<Unit> result;
        if (first) {
            first = false;
            board->wakers[static_cast<std::size_t>(index)] = waker;
            board->published.count_down();
        }
        if (board->progress[static_cast<std::size_t>(index)] >= board->target) {
            result = Unit{};
        }
        in_poll->store(false);
        return result;
    }
};
} // namespace

TEST_CASE("8 threads waking 1000 tasks concurrently: every task finishes, polls never overlap") {
    LeavesRuntimeEmpty check;
    constexpr int tasks = 1000;
    constexpr int threads = 8;
    constexpr int rounds = 50;
    auto board = std::make_shared<Board>(tasks, threads * rounds);
    for (int i = 0; i < tasks; ++i) {
        SCHEDULER.spawn(Hammered{board, i});
    }
    std::vector<std::thread> wakers;
    for (int t = 0; t < threads; ++t) {
        wakers.emplace_back([board] {
            board->published.wait();
            for (int round = 0; round < rounds; ++round) {
                for (std::size_t i = 0; i < board->wakers.size(); ++i) {
                    ++board->progress[i];
                    board->wakers[i]->wake(); // each wake is followed by a poll: the last one
                }                             // sees the target and finishes the task
            }
        });
    }
    SCHEDULER.run();
    for (std::thread& thread : wakers) {
        thread.join();
    }
    CHECK(board->overlapping_polls == 0);
    CHECK(SCHEDULER.live_tasks() == 0);
}

// ---- The stage's limit. --------------------------------------------------------------------

namespace {
// BlockingRead: reads one byte with a blocking recv() inside its poll: the whole thread,
// and so every other task, waits with it.
struct BlockingRead {
    using Output = Unit;
    Fd from;
    char* got;
    std::optional<Unit> poll(const Waker&) {
        if (::recv(from.get(), got, 1, 0) != 1) {
            *got = '?';
        }
        return Unit{};
    }
};

// SendLetter: sends `letter` on `to` (the byte BlockingRead waits for), then is done.
struct SendLetter {
    using Output = Unit;
    Fd to;
    char letter;
    std::optional<Unit> poll(const Waker&) {
        ::send(to.get(), &letter, 1, MSG_NOSIGNAL);
        return Unit{};
    }
};
} // namespace

TEST_CASE("limit: a poll that blocks the thread stalls every other task") {
    LeavesRuntimeEmpty check;
    auto [reader, writer] = socket_pair(); // blocking sockets
    Fd watchdog_writer(::dup(writer.get()));
    char got = 0;
    SCHEDULER.spawn(BlockingRead{std::move(reader), &got});
    SCHEDULER.spawn(SendLetter{std::move(writer), 'B'});
    {
        testing::Watchdog watchdog(std::move(watchdog_writer), 300ms);
        SCHEDULER.run();
    }
    // The task that would have sent 'B' never ran while BlockingRead waited: only the
    // watchdog's '!' ended the wait. Stage 12's spawn_blocking moves such work to a thread.
    CHECK(got == '!');
}
