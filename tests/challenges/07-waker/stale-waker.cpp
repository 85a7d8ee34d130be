// A stale waker: the waker of a finished task never polls the task that took its fd number
//
// The challenge: a waker means "poll THIS task again", but the sketch's wakers only carry
// the task's id, an fd number. Once a task is done its fd is closed, the kernel hands the
// same number to the next socket, and a task spawned on it inherits every stray copy of the
// old task's waker: a wake meant for a task that no longer exists polls a stranger. Make a
// waker name its own task in SketchScheduler (sketch_scheduler.hpp), so that a stale one
// polls nothing, while wakes and epoll events for the live task work as before.
#include "future.hpp"
#include "sketch_scheduler.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <memory>
#include <optional>
#include <utility>

using testing::socket_pair;

namespace {

// KeepWaker: leaves a copy of its waker in `*kept`; done on the poll after `*finish` is set.
// It owns fd `own`, its id in the scheduler.
struct KeepWaker {
    using Output = Unit;
    Fd own;
    std::shared_ptr<std::optional<Waker>> kept;
    std::shared_ptr<bool> finish;
    std::shared_ptr<int> polls;

    std::optional<Unit> poll(const Waker& waker) {
        ++*polls;
        if (*finish) {
            return Unit{};
        }
        *kept = waker;
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("a waker kept after its task finished polls nothing, even when its fd number is reused") {
    SketchScheduler scheduler;

    // The first task: it keeps a copy of its waker, then finishes, which closes its fd.
    auto old_waker = std::make_shared<std::optional<Waker>>();
    auto old_finish = std::make_shared<bool>(false);
    auto old_polls = std::make_shared<int>(0);
    int number;
    {
        auto [client, own] = socket_pair();
        number = own.get();
        scheduler.spawn(number, KeepWaker{std::move(own), old_waker, old_finish, old_polls});
    }
    REQUIRE(old_waker->has_value());
    *old_finish = true;
    old_waker->value().wake();
    REQUIRE(scheduler.turn(0) == 1);
    REQUIRE(scheduler.tasks() == 0); // done: its fd is closed, the number is free

    // The second task gets the same fd number: the lowest free one usually is, and dup2
    // makes sure of it.
    auto [client, fresh] = socket_pair();
    Fd own;
    if (fresh.get() == number) {
        own = std::move(fresh);
    } else {
        REQUIRE(client.get() != number);
        REQUIRE(::dup2(fresh.get(), number) == number);
        own = Fd(number);
        fresh.reset();
    }
    auto new_waker = std::make_shared<std::optional<Waker>>();
    auto new_finish = std::make_shared<bool>(false);
    auto new_polls = std::make_shared<int>(0);
    scheduler.spawn(number, KeepWaker{std::move(own), new_waker, new_finish, new_polls});
    REQUIRE(*new_polls == 1);
    scheduler.turn(0); // whatever a fresh registration reports; then nothing is pending

    int polls_before = *new_polls;
    old_waker->value().wake(); // the stale waker
    std::size_t polled = scheduler.turn(0);
    int stale_polls = *new_polls - polls_before;
    CHECK_MESSAGE(polled == 0, "the waker of a task that had finished made the scheduler poll "
                               "the task that now has its fd number ("
                                   << stale_polls << " poll(s) of the new task)");
    CHECK(*old_polls == 2);

    // The new task's own waker still works, and so does its fd.
    int polls = *new_polls;
    new_waker->value().wake();
    CHECK(scheduler.turn(0) == 1);
    CHECK(*new_polls == polls + 1);
    *new_finish = true;
    testing::write_all(client, "x");
    for (int turns = 0; turns < 50 && scheduler.tasks() > 0; ++turns) {
        scheduler.turn(100); // the byte is there: one turn should do, 5 s at most
    }
    CHECK(*new_polls == polls + 2);
    CHECK(scheduler.tasks() == 0);
}
