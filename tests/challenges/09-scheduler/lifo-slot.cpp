// A LIFO slot: a task woken by the task being polled runs next, but never starves the queue
//
// The challenge: when a task, during its poll, wakes another one (it sent it a message, it
// released something that one waits for), the woken task has work that is ready now, and
// its data is still hot in the cache. The article's queue puts it behind every runnable
// task. Give Scheduler tokio's LIFO slot: one place, besides the queue, for the task woken
// last by the task being polled on run()'s thread, which run() polls next. A wake that finds
// the slot taken moves the task in it to the back of the queue. Everything else goes to the
// back of the queue as before: a task that wakes itself, wakes from other threads or from
// the reactor, and spawn(). The price is fairness: two tasks that keep waking each other
// would take turns in the slot forever. So, as tokio does, take at most 3 tasks in a row
// from the slot, then one from the queue. The holes stay as they are.
#include "future.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include "tests/scenario.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>

namespace {

// A place where a task leaves its waker for another task.
struct Stash {
    std::optional<Waker> waker;
    bool raised = false;
};

// WaitForRaise: logs 'w', leaves its waker and waits; logs 'W' when it is done.
struct WaitForRaise {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    std::shared_ptr<std::string> log;
    std::optional<Unit> poll(const Waker& waker) {
        if (stash->raised) {
            log->push_back('W');
            return Unit{};
        }
        log->push_back('w');
        stash->waker = waker;
        return std::nullopt;
    }
};

// Raise: logs 'r', raises the stash and wakes the task waiting there; done.
struct Raise {
    using Output = Unit;
    std::shared_ptr<Stash> stash;
    std::shared_ptr<std::string> log;
    std::optional<Unit> poll(const Waker&) {
        log->push_back('r');
        stash->raised = true;
        stash->waker->wake();
        stash->waker.reset();
        return Unit{};
    }
};

// Log: logs its name; done.
struct Log {
    using Output = Unit;
    std::shared_ptr<std::string> log;
    char name;
    std::optional<Unit> poll(const Waker&) {
        log->push_back(name);
        return Unit{};
    }
};

} // namespace

TEST_CASE("a task woken by the task being polled is polled next") {
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto stash = std::make_shared<Stash>();
    auto log = std::make_shared<std::string>();
    scenario.spawn(WaitForRaise{stash, log});
    scenario.spawn(Raise{stash, log});
    scenario.spawn(Log{log, 'a'});
    scenario.spawn(Log{log, 'b'});
    CHECK(scenario.run());
    INFO("the polls, in order: " << *log << " (w: the waiting task, r: the one that wakes it, "
         "W: the woken task's next poll, a and b: tasks queued before the wake)");
    CHECK_MESSAGE(*log == "wrWab", "the task that `r` woke should be polled right after `r`, "
                                   "before the tasks that were already queued");
}

namespace {

// PingPong: two tasks that wake each other on every poll, 50 polls each.
struct Pair {
    std::optional<Waker> wakers[2];
    std::shared_ptr<std::string> log;
};

struct PingPong {
    using Output = Unit;
    std::shared_ptr<Pair> pair;
    int me; // 0 or 1
    int polls = 0;
    bool done = false;
    std::optional<Unit> poll(const Waker& waker) {
        if (done) {
            return Unit{}; // polled after its end (a hole of this stage): nothing to do
        }
        pair->log->push_back(me == 0 ? 'p' : 'q');
        if (auto& other = pair->wakers[1 - me]) {
            other->wake();
        }
        if (++polls == 50) {
            done = true;
            pair->wakers[me].reset();
            return Unit{};
        }
        pair->wakers[me] = waker;
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("two tasks that keep waking each other do not starve a task in the queue") {
    Scheduler scheduler;
    Scenario scenario(scheduler);
    auto log = std::make_shared<std::string>();
    auto pair = std::make_shared<Pair>();
    pair->log = log;
    scenario.spawn(PingPong{pair, 0});
    scenario.spawn(PingPong{pair, 1});
    scenario.spawn(Log{log, 'x'});
    CHECK(scenario.run());
    std::size_t x = log->find('x');
    INFO("the polls, in order: " << *log << " (p and q wake each other, x was queued behind them)");
    CHECK_MESSAGE(x < 10, "the task queued behind the pair waited " << x << " polls: the slot "
                          "should give way to the queue after 3 polls in a row");
}
