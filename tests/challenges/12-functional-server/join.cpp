// join: run two futures at once, and finish when both have, with both outputs
//
// The challenge: write the combinator, next to chain in chain.hpp (or in poll_fn.hpp):
//
//     template <Future A, Future B>
//     Join<A, B> join(A a, B b);   // Join<A, B>::Output is
//                                  // std::pair<typename A::Output, typename B::Output>
//
// Each poll of the join polls every side that has not finished yet, with the join's waker
// (either side may leave it somewhere: whichever news comes wakes the task, and the join
// polls again). A side that finishes is destroyed at once, its output kept, and is never
// polled again; the join is ready in the poll where the second side finishes. Fused like
// chain: after its output, "not yet" forever, polling nothing. Outputs may be move-only.
// (The article's runtime has no join; futures::join and tokio::join! do this.)
#include "chain.hpp"
#include "future.hpp"
#include "poll_fn.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "socket_pair.hpp"
#include "tests/scenario.hpp" // the stage's FailAfter
#include "steps.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

using namespace std::chrono_literals;

namespace {

template <class A, class B>
using Joined = decltype(join(std::declval<A>(), std::declval<B>()));

// True if join(a, b) exists (found next to these types or in the stage's headers) and makes
// a future of both outputs.
template <class A, class B>
concept Joinable = requires { typename Joined<A, B>; } && Future<Joined<A, B>> &&
    std::same_as<typename Joined<A, B>::Output,
                 std::pair<typename A::Output, typename B::Output>>;

const std::string missing = "there is no join(a, b) in chain.hpp or poll_fn.hpp that returns a "
                            "future of std::pair<A::Output, B::Output>";

template <class T>
void polls_both_until_each_is_done() {
    const Waker waker([] {});
    Log log;
    std::vector<Waker> wakers;
    auto future = join(Step<T>("a", 2, 1, &log, &wakers), Step<std::string>("b", 0, "two", &log, &wakers));
    CHECK_FALSE(future.poll(waker));
    CHECK_FALSE(future.poll(waker));
    auto output = future.poll(waker);
    INFO("each poll should poll every side not finished yet; a finished side is destroyed at "
         "once and never polled again");
    CHECK(joined(log) == "poll a, poll b, ~b, poll a, poll a, ~a");
    REQUIRE(output.has_value());
    CHECK(output->first == 1);
    CHECK(output->second == "two");
    INFO("both sides should be polled with the join's own waker");
    REQUIRE(wakers.size() == 4);
    for (const Waker& got : wakers) {
        CHECK(got.will_wake(waker));
    }
}

template <class T>
void finishes_whichever_side_is_last() {
    const Waker waker([] {});
    Log log;
    auto future = join(Step<T>("a", 0, 1, &log), Step<T>("b", 1, 2, &log));
    CHECK_FALSE(future.poll(waker));
    auto output = future.poll(waker);
    INFO("the left side finishing first: only the right one is polled after that");
    CHECK(joined(log) == "poll a, ~a, poll b, poll b, ~b");
    REQUIRE(output.has_value());
    CHECK(*output == std::pair<int, int>(1, 2));

    INFO("a finished join should poll nothing and say \"not yet\"");
    CHECK_FALSE(future.poll(waker));
    CHECK(joined(log) == "poll a, ~a, poll b, poll b, ~b");
}

template <class T>
void passes_move_only_outputs() {
    const Waker waker([] {});
    Log log;
    auto future = join(Step<T>("a", 1, std::make_unique<int>(1), &log),
                       Step<T>("b", 0, std::make_unique<int>(2), &log));
    CHECK_FALSE(future.poll(waker));
    auto output = future.poll(waker);
    REQUIRE(output.has_value());
    REQUIRE(output->first != nullptr);
    REQUIRE(output->second != nullptr);
    CHECK(*output->first == 1);
    CHECK(*output->second == 2);
}

// Waits until `fd` is readable, then reads one byte: registers with REACTOR on its first
// poll, and the reactor wakes the task when the byte comes.
auto read_byte(std::shared_ptr<Fd> fd) {
    return poll_fn([fd, registration = std::optional<Registration>()](
                       const Waker& waker) mutable -> std::optional<char> {
        if (!registration) {
            registration.emplace(fd->get(), waker);
        }
        char byte = 0;
        if (::recv(fd->get(), &byte, 1, MSG_DONTWAIT) == 1) {
            registration.reset();
            return byte;
        }
        return std::nullopt;
    });
}

template <class T>
void runs_on_the_scheduler() {
    // The left side waits for a byte that only the right side sends, on its first poll: the
    // join must poll both, and poll the left again when the reactor wakes the task.
    auto [left_end, right_end] = testing::socket_pair();
    auto left = std::make_shared<Fd>(std::move(left_end));
    auto right = std::make_shared<Fd>(std::move(right_end));
    auto send_byte = poll_fn([right](const Waker&) -> std::optional<T> {
        testing::write_all(*right, "!");
        return 42;
    });
    auto got = std::make_shared<std::optional<std::pair<char, T>>>();
    SCHEDULER.spawn(chain(join(read_byte(left), std::move(send_byte)), [got](auto both) {
        *got = std::move(both);
        return poll_fn([](const Waker&) -> std::optional<Unit> { return Unit{}; });
    }));
    {
        FailAfter guard(5s, "run() did not return: the join was never ready (was the left side "
                            "polled again when the reactor woke the task?)");
        SCHEDULER.run();
    }
    REQUIRE(got->has_value());
    CHECK((*got)->first == '!');
    CHECK((*got)->second == 42);
    CHECK(SCHEDULER.live_tasks() == 0);
    CHECK(REACTOR.registrations() == 0);
}

} // namespace

TEST_CASE("join polls both sides until each is done, and outputs both") {
    if constexpr (Joinable<Step<int>, Step<std::string>>) {
        polls_both_until_each_is_done<int>();
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("join finishes with whichever side finishes last, then polls nothing") {
    if constexpr (Joinable<Step<int>, Step<int>>) {
        finishes_whichever_side_is_last<int>();
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("join passes move-only outputs") {
    if constexpr (Joinable<Step<std::unique_ptr<int>>, Step<std::unique_ptr<int>>>) {
        passes_move_only_outputs<std::unique_ptr<int>>();
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("a join on SCHEDULER: one side wakes the other through the reactor") {
    if constexpr (Joinable<Step<char>, Step<int>>) {
        runs_on_the_scheduler<int>();
    } else {
        FAIL_CHECK(missing);
    }
}
