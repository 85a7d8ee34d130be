// Scheduler: what the article's design does, and each of its holes, one test each.
//
// Tests named "hole: ..." show a hole of the article's scheduler. Stage 09 runs them as
// expected failures, each in a process of its own (meson.build, which lists them in the order
// stage 10 closes them); stage 10 closes the holes, and there they pass. Every other test
// passes in both. Each test has a Scheduler of its own and runs it through a Scenario
// (scenario.hpp), since the article's run() never returns; the one that checks that run()
// returns guards it with FailAfter instead.
#include "future.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scenario.hpp"
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
#include <cstdint>
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

// Every test leaves this thread's REACTOR as it found it: nothing registered.
struct LeavesReactorEmpty {
    ~LeavesReactorEmpty() { CHECK(REACTOR.registrations() == 0); }
};

// What a test sees of a task from outside. Only run()'s thread touches it.
struct Counts {
    int polls = 0;
    int polls_after_done = 0;
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
    void clear() { // drop the waker, and with it the reference to its task
        std::lock_guard lock(mutex);
        waker.reset();
    }
};

// WaitForRaise: leaves its waker in `stash` and is done once the stash is raised.
struct WaitForRaise {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    Lifetime life;

    std::optional<Unit> poll(const Waker& waker) {
        ++life.counts->polls;
        if (stash->raised) {
            life.counts->done = true;
            return Unit{};
        }
        stash->keep(waker);
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("spawn() only queues a task; run() polls it until it is done") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto counts = std::make_shared<Counts>();
    scenario.spawn(ReadyAfter{3, Lifetime(counts)});
    CHECK(counts->polls == 0); // spawn only queues it

    CHECK(scenario.run());
    CHECK(counts->polls == 3);
    CHECK(counts->done);
}

namespace {
// Record: appends its name to a shared log on each poll; done after `polls` polls.
struct Record {
    using Output = Unit;
    std::shared_ptr<std::string> log;
    char name;
    int polls;
    std::optional<Unit> poll(const Waker& waker) {
        log->push_back(name);
        if (--polls == 0) {
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};
} // namespace

TEST_CASE("runnable tasks take turns, in the order they were queued") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto log = std::make_shared<std::string>();
    scenario.spawn(Record{log, 'a', 3});
    scenario.spawn(Record{log, 'b', 2});
    scenario.spawn(Record{log, 'c', 1});
    CHECK(scenario.run());
    CHECK(*log == "abcaba"); // a woken task goes to the back of the queue
}

namespace {
// Spawner: spawns `children` ReadyAfter tasks from inside its poll, then is done.
struct Spawner {
    using Output = Unit;
    Scenario* scenario;
    std::vector<std::shared_ptr<Counts>> children;
    std::optional<Unit> poll(const Waker&) {
        for (auto& counts : children) {
            scenario->spawn(ReadyAfter{2, Lifetime(counts)});
        }
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task may spawn tasks, and they run too") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    std::vector<std::shared_ptr<Counts>> children{std::make_shared<Counts>(), std::make_shared<Counts>()};
    scenario.spawn(Spawner{&scenario, children});
    CHECK(scenario.run());
    for (auto& counts : children) {
        CHECK(counts->done);
    }
}

namespace {
// ReadByte: waits, through the reactor, for one byte on `from`; drops its registration as
// soon as it has it.
struct ReadByte {
    using Output = Unit;
    Fd from;
    std::optional<Registration> registration; // after `from`: removed before it is closed
    char* got;
    std::optional<Unit> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(from.get(), waker);
        }
        if (::recv(from.get(), got, 1, MSG_DONTWAIT) == 1) {
            registration.reset();
            return Unit{};
        }
        return std::nullopt; // edge-triggered: this was "would block", so a new edge will come
    }
};

// SendByte: sends `byte` on `to`, then is done.
struct SendByte {
    using Output = Unit;
    Fd to;
    char byte;
    std::optional<Unit> poll(const Waker&) {
        ::send(to.get(), &byte, 1, MSG_NOSIGNAL);
        return Unit{};
    }
};
} // namespace

TEST_CASE("a task waiting for an fd is polled again when the reactor finds it ready") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto [reader, writer] = socket_pair();
    char got = 0;
    scenario.spawn(ReadByte{std::move(reader), {}, &got});
    scenario.spawn(SendByte{std::move(writer), 'R'});
    CHECK(scenario.run());
    CHECK(got == 'R');
}

namespace {
// YieldChecked: wakes itself during its poll, `times` times, checking that wake() never
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
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto counts = std::make_shared<Counts>();
    bool nested = false;
    scenario.spawn(YieldChecked{3, Lifetime(counts), false, &nested});
    CHECK(scenario.run());
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
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto lock = std::make_shared<std::mutex>();
    scenario.spawn(LockedPending{stash, lock});
    scenario.spawn(WakeUnderLock{stash, lock});
    CHECK(scenario.run());
    stash->clear();
}

TEST_CASE("a signal that interrupts run()'s sleep is not an error: run() sleeps again") {
    static std::atomic<int> signals_handled{0}; // lock-free, so safe in a signal handler
    LeavesReactorEmpty check;
    struct sigaction action{};
    action.sa_handler = [](int) { signals_handled.fetch_add(1); };
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0; // no SA_RESTART
    struct sigaction previous{};
    REQUIRE(::sigaction(SIGUSR1, &action, &previous) == 0);
    signals_handled = 0;

    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto [reader, writer] = socket_pair();
    char got = 0;
    scenario.spawn(ReadByte{std::move(reader), {}, &got});

    pid_t runner = ::gettid();
    pthread_t runner_thread = ::pthread_self();
    std::thread other([runner, runner_thread, writer = std::move(writer)] {
        if (!testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            return;
        }
        ::pthread_kill(runner_thread, SIGUSR1);
        // A signal handler can only set a flag: look at it again and again, with a deadline.
        testing::eventually([] { return signals_handled != 0; }, 10s);
        // Back asleep after the interruption: then wake the task through its fd.
        if (testing::wait_until_blocked_in_epoll_wait(runner, 10s)) {
            testing::write_all(writer, "S");
        }
    });
    bool in_time = false;
    CHECK_NOTHROW(in_time = scenario.run());
    other.join();
    CHECK(in_time);
    CHECK(signals_handled == 1);
    CHECK(got == 'S');
    ::sigaction(SIGUSR1, &previous, nullptr);
}

namespace {
// Board: where 1000 tasks publish their wakers and 8 threads record their progress.
struct Board {
    explicit Board(int tasks_, int target_)
        : tasks(tasks_), wakers(tasks_), progress(tasks_), published(tasks_), target(target_) {}
    int tasks;
    std::vector<std::optional<Waker>> wakers; // written once per task before `published`
    std::vector<std::atomic<int>> progress;
    std::latch published;
    int target;
    std::atomic<int> finished{0};
    std::atomic<int> overlapping_polls{0};
};

// Hammered: publishes its waker on its first poll; done once its progress reaches the target.
struct Hammered {
    using Output = Unit;
    std::shared_ptr<Board> board;
    int index;
    std::shared_ptr<std::atomic<bool>> in_poll = std::make_shared<std::atomic<bool>>(false);
    bool first = true;
    bool done = false;

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
            if (!done) {
                done = true;
                ++board->finished;
            }
            result = Unit{};
        }
        in_poll->store(false);
        return result;
    }
};

// KeepBusy: wakes itself until every Hammered task has finished, so that run() never sleeps
// while the threads wake them (a wake from another thread during that sleep is another
// matter: see the holes below).
struct KeepBusy {
    using Output = Unit;
    std::shared_ptr<Board> board;
    std::optional<Unit> poll(const Waker& waker) {
        if (board->finished == board->tasks) {
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};
} // namespace

TEST_CASE("8 threads waking 1000 tasks concurrently: every task finishes, polls never overlap") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    constexpr int tasks = 1000;
    constexpr int threads = 8;
    constexpr int rounds = 50;
    auto board = std::make_shared<Board>(tasks, threads * rounds);
    for (int i = 0; i < tasks; ++i) {
        scenario.spawn(Hammered{board, i});
    }
    scenario.spawn(KeepBusy{board});
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
    CHECK(scenario.run(60s));
    for (std::thread& thread : wakers) {
        thread.join();
    }
    CHECK(board->finished == tasks);
    CHECK(board->overlapping_polls == 0);
    for (auto& waker : board->wakers) {
        waker.reset();
    }
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
} // namespace

TEST_CASE("limit: a poll that blocks the thread stalls every other task") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto [reader, writer] = socket_pair(); // blocking sockets
    Fd watchdog_writer(::dup(writer.get()));
    char got = 0;
    scenario.spawn(BlockingRead{std::move(reader), &got});
    scenario.spawn(SendByte{std::move(writer), 'B'});
    {
        testing::Watchdog watchdog(std::move(watchdog_writer), 300ms);
        CHECK(scenario.run());
    }
    // The task that would have sent 'B' never ran while BlockingRead waited: only the
    // watchdog's '!' ended the wait. Stage 13's spawn_blocking moves such work to a thread.
    CHECK(got == '!');
}

// ---- The holes. Each test's name says which. --------------------------------------------

TEST_CASE("hole: run() returns once no task is left") {
    Scheduler scheduler;
    auto counts = std::make_shared<Counts>();
    scheduler.spawn(ReadyAfter{2, Lifetime(counts)});
    {
        FailAfter guard(3s, "hole: run() did not return when its last task was done");
        scheduler.run(); // the article's run() loops forever, asleep in the reactor
    }
    CHECK(counts->done);
}

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

TEST_CASE("hole: an exception from a poll ends that task only") {
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto thrower = std::make_shared<Counts>();
    auto other = std::make_shared<Counts>();
    std::string reported;
    {
        CaptureStderr capture;
        scenario.spawn(ReadyAfter{5, Lifetime(other)});
        scheduler.spawn(ThrowOnSecondPoll{Lifetime(thrower)}); // not tracked: the run waits for `other`
        CHECK_NOTHROW(scenario.run()); // in the article, the exception leaves run()
        reported = capture.text();
    }
    CHECK(reported == "task failed: boom\n");
    CHECK(thrower->polls == 2);
    CHECK(thrower->destroyed == 1);
    CHECK(other->polls == 5);
}

namespace {
struct RunsTheScheduler {
    using Output = Unit;
    Scheduler* scheduler;
    std::optional<Unit> poll(const Waker&) {
        scheduler->run(); // a nested run() would never return: it must fail instead
        return Unit{};
    }
};
} // namespace

TEST_CASE("hole: run() called from inside a task fails fast instead of hanging") {
    Scheduler scheduler;
    Scenario scenario(scheduler);
    std::string reported;
    {
        CaptureStderr capture;
        scenario.spawn(RunsTheScheduler{&scheduler});
        scenario.run(3s); // in the article, the nested run() runs everything, never returning
        reported = capture.text();
    }
    CHECK(reported == "task failed: Scheduler::run: already running\n");
}

TEST_CASE("hole: a wake from another thread while run() sleeps in epoll_wait is seen at once") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scenario.spawn(WaitForRaise{stash, Lifetime(counts)});

    pid_t runner = ::gettid();
    std::atomic<bool> saw_sleep{false};
    std::thread other([stash, runner, &saw_sleep] {
        saw_sleep = testing::wait_until_blocked_in_epoll_wait(runner, 10s);
        stash->raise(); // the article's waker only pushes the task: run() sleeps on
    });
    bool in_time = scenario.run(5s); // only the deadline's timer ends a sleep that nothing ended
    other.join();
    REQUIRE(saw_sleep);
    CHECK_MESSAGE(in_time, "the woken task ran only when the 5 s deadline ended run()'s sleep");
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

TEST_CASE("hole: a task spawned from another thread while run() sleeps is run at once") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scenario.spawn(WaitForRaise{stash, Lifetime(counts)});

    pid_t runner = ::gettid();
    std::atomic<bool> saw_sleep{false};
    std::thread other([&scenario, stash, runner, &saw_sleep] {
        saw_sleep = testing::wait_until_blocked_in_epoll_wait(runner, 10s);
        scenario.spawn(Raise{stash}); // the article's spawn only pushes it, too
    });
    bool in_time = scenario.run(5s);
    other.join();
    REQUIRE(saw_sleep);
    CHECK_MESSAGE(in_time, "the spawned task ran only when the 5 s deadline ended run()'s sleep");
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

TEST_CASE("hole: a task woken 1000 times before its next poll is polled once") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scenario.spawn(PendingOnce{stash, Lifetime(counts)});
    scenario.spawn(WakeTimes{stash, 1000});
    CHECK(scenario.run());
    scenario.run(); // whatever is still queued
    stash->clear();
    CHECK(counts->polls == 2); // the first poll, and one for all 1000 wakes
}

namespace {
// DoneAtOnce: leaves its waker in the stash and is done on its first poll; counts the polls
// that come after that.
struct DoneAtOnce {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    Lifetime life;
    std::optional<Unit> poll(const Waker& waker) {
        if (life.counts->done) {
            ++life.counts->polls_after_done; // a bug in the scheduler; for most futures, UB
        }
        ++life.counts->polls;
        life.counts->done = true;
        stash->keep(waker);
        return Unit{};
    }
};
} // namespace

TEST_CASE("hole: a task woken after it finished is never polled again") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scenario.spawn(DoneAtOnce{stash, Lifetime(counts)});
    CHECK(scenario.run());

    for (int i = 0; i < 3; ++i) {
        stash->wake();
    }
    std::thread([stash] {
        for (int i = 0; i < 3; ++i) {
            stash->wake();
        }
    }).join();
    scenario.run(); // polls what those wakes queued, if anything
    stash->clear();
    CHECK(counts->polls_after_done == 0);
}

TEST_CASE("hole: a finished task's future is destroyed at once though a copy of its waker lives on") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scenario.spawn(DoneAtOnce{stash, Lifetime(counts)});
    CHECK(scenario.run());
    // Destroyed when it finished, on run()'s thread: what it owned is released at once.
    CHECK(counts->destroyed == 1);
    CHECK(counts->destroyed_on == std::this_thread::get_id());
    stash->clear(); // in the article, only this frees it: the task -> waker -> task cycle ends
    CHECK(counts->destroyed == 1);
}

namespace {
// PingPair: owns both ends of a socket pair. Registers `mine`; either ends at once (early,
// like the article's Handler on an unexpected EOF) or sends itself a byte and waits for it.
// It never removes its registration by hand: its Registration does, when it is destroyed.
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

TEST_CASE("hole: 400 tasks that register fds and finish leave no fd and no registration behind") {
    std::size_t registrations_before = REACTOR.registrations(); // first: REACTOR opens two fds
    int fds_before = testing::open_fd_count(::getpid());
    for (int batch = 0; batch < 4; ++batch) {
        Scheduler scheduler;
        Scenario scenario(scheduler);
        for (int i = 0; i < 100; ++i) {
            auto [peer, mine] = socket_pair();
            scenario.spawn(PingPair{std::move(peer), std::move(mine), {}, i % 2 == 0});
        }
        CHECK(scenario.run());
    }
    // In the article, each finished future stays alive: the reactor keeps its waker, which
    // keeps its task, which keeps the future and so its fds and its registration.
    CHECK(testing::open_fd_count(::getpid()) == fds_before);
    CHECK(REACTOR.registrations() == registrations_before);
}

namespace {
// The fairness race: one task waits for 4 bytes on a socket, self-waking tasks keep the
// queue busy, and the first of them sends the 4 bytes on its first poll.
struct Race {
    int polls = 0;       // polls of every task so far
    int written_at = -1; // the poll count when the bytes were sent
    int woken_at = -1;   // ... when the reactor woke the reading task
    int read_at = -1;    // ... when the reading task had them
    int spinner_polls = 0;
    bool starved = false;
};

// Spinner: wakes itself on every poll (a busy task that yields) until the reader is done.
// Gives up once all the tasks together have been polled 200,000 times.
struct Spinner {
    using Output = Unit;
    std::shared_ptr<Race> race;
    Fd to_reader; // only the first spinner has it
    std::optional<Unit> poll(const Waker& waker) {
        ++race->polls;
        ++race->spinner_polls;
        if (to_reader) {
            testing::write_all(to_reader, "ping");
            race->written_at = race->polls;
            to_reader.reset();
        }
        if (race->read_at >= 0) {
            return Unit{};
        }
        if (race->polls > 200'000) {
            race->starved = true;
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};

// ReadPing: waits, through the reactor, for 4 bytes on `from`. It registers a waker of its
// own that notes when the reactor called it, then wakes the task.
struct ReadPing {
    using Output = Unit;
    std::shared_ptr<Race> race;
    Fd from;
    std::optional<Registration> registration;
    std::optional<Unit> poll(const Waker& waker) {
        ++race->polls;
        if (!registration) {
            registration.emplace(from.get(), Waker([race = race, waker] {
                if (race->written_at >= 0 && race->woken_at < 0) {
                    race->woken_at = race->polls;
                }
                waker.wake();
            }));
        }
        char buffer[4];
        if (::recv(from.get(), buffer, sizeof buffer, MSG_DONTWAIT) == 4) {
            race->read_at = race->polls;
            registration.reset();
            return Unit{};
        }
        return std::nullopt; // edge-triggered: this was "would block", so a new edge will come
    }
};

// How many polls the scheduler may make before it looks at the reactor while tasks stay
// runnable: tokio's event_interval, and stage 10's Scheduler::polls_between_io_checks.
constexpr int polls_between_io_checks = 61;
} // namespace

TEST_CASE("hole: a task that keeps waking itself does not starve a task waiting for I/O") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto [client, server] = socket_pair();
    auto race = std::make_shared<Race>();
    scenario.spawn(ReadPing{race, std::move(server), {}});
    scenario.spawn(Spinner{race, std::move(client)});
    CHECK(scenario.run());
    CHECK_FALSE(race->starved);
    // Polls 1 to 3 are the reader's, the spinner's first (which sends the bytes) and the
    // Scenario's Stopper's. The 61st poll (the spinner's 59th) is followed by a look at the
    // reactor, which queues the reader behind the spinner; the spinner is polled once more,
    // then the reader reads, then the spinner sees it and ends: 61 polls of the spinner in
    // all. (docs/10 quotes this figure.)
    CHECK(race->spinner_polls == 61);
}

TEST_CASE("hole: with 1000 self-waking tasks the reactor is looked at within 61 polls") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto [client, server] = socket_pair();
    auto race = std::make_shared<Race>();
    constexpr int spinners = 1000;
    scenario.spawn(ReadPing{race, std::move(server), {}});
    scenario.spawn(Spinner{race, std::move(client)});
    for (int i = 1; i < spinners; ++i) {
        scenario.spawn(Spinner{race, Fd()});
    }
    CHECK(scenario.run());
    CHECK_FALSE(race->starved);
    REQUIRE(race->woken_at >= 0);
    // The reactor is looked at after at most 61 polls, even in the middle of a turn. Counting
    // whole turns instead would make the reader wait for the other 999 tasks first.
    CHECK(race->woken_at - race->written_at <= polls_between_io_checks);
    // Then the woken reader waits its turn behind the tasks queued before it: at most all of
    // them, once.
    CHECK(race->read_at - race->written_at <= polls_between_io_checks + spinners + 1);
}

// ---- Stage 15: one allocation per task, two run queues. ------------------------------------

namespace {

} // namespace

// The allocations made on this thread: test_task.cpp replaces the global operator new of the
// test binary to count them.
extern thread_local long allocations;

namespace {

// CopiesItsWaker: done on its first poll, after copying its waker `copies` times.
struct CopiesItsWaker {
    using Output = Unit;
    int copies;
    bool* all_equal;

    std::optional<Unit> poll(const Waker& waker) {
        std::vector<std::optional<Waker>> kept(static_cast<std::size_t>(copies)); // allocated once
        long before = allocations;
        for (std::optional<Waker>& copy : kept) {
            copy.emplace(waker);
        }
        *all_equal = allocations == before && kept.back()->will_wake(waker);
        return Unit{};
    }
};

// The value of this thread's reactor's eventfd: how many notify() writes since the last read
// (and resets it to zero). The reactor never reads it itself (reactor.cpp).
std::uint64_t notifications() {
    std::uint64_t count = 0;
    return ::read(REACTOR.notifier()->fd(), &count, sizeof count) == sizeof count ? count : 0;
}

} // namespace

TEST_CASE("a spawned task is one allocation, and its waker's copies allocate nothing") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    (void)REACTOR.registrations(); // this thread's reactor exists before we count
    bool all_equal = false;

    long before = allocations;
    scheduler.spawn(CopiesItsWaker{1000, &all_equal});
    CHECK(allocations - before == 1); // the task: header and future in one block

    scheduler.run(); // the only task is done on its first poll: run() returns
    CHECK(all_equal); // 1,000 copies of the waker, no allocation, each the same task's
    CHECK(scheduler.live_tasks() == 0);
}

TEST_CASE("wakes from run()'s own thread go to its local queue and never write the eventfd") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    notifications(); // start from zero
    auto counts = std::make_shared<Counts>();
    scheduler.spawn(ReadyAfter{1000, Lifetime(counts)}); // wakes itself 999 times
    scheduler.run();
    CHECK(counts->polls == 1000);
    CHECK(notifications() == 0);
}

TEST_CASE("wakes from another thread write the eventfd at most once per sleep of run()") {
    LeavesReactorEmpty check;
    Scheduler scheduler;
    notifications();
    auto stash = std::make_shared<Stash>();
    auto counts = std::make_shared<Counts>();
    scheduler.spawn(WaitForRaise{stash, Lifetime(counts)});
    pid_t runner = ::gettid();
    bool was_asleep = false;
    std::thread waker([&] {
        was_asleep = testing::wait_until_blocked_in_epoll_wait(runner, 10s);
        for (int i = 0; i < 1000; ++i) {
            stash->wake(); // each finds the task idle or scheduled; only a sleeping run() is notified
        }
        stash->raise();
    });
    scheduler.run();
    waker.join();
    std::uint64_t written = notifications();
    REQUIRE(was_asleep);
    CHECK(counts->done);
    CHECK(written >= 1);  // run() was asleep when the first wake came
    CHECK(written <= static_cast<std::uint64_t>(counts->polls)); // a write ends one sleep; a poll follows each
}
