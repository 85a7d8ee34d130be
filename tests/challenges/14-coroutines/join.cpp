// join: co_await two futures at once, and get both outputs
//
// The challenge: `co_await a; co_await b;` runs a, then b. To run both at once in one task
// (Rust's `join!`), write, in select.hpp next to select,
//
//     template <Future A, Future B>
//     auto join(A a, B b);
//
// which returns a future whose Output is std::pair<typename A::Output, typename B::Output>.
// Each poll polls both futures that are not finished yet, with the same waker; a future that
// is ready keeps its output in the join and is not polled again; the join is ready once both
// are. Destroying an unfinished join destroys both futures. Then `auto [x, y] = co_await
// join(task_x(), task_y());` works in a coroutine, Tasks being futures.
#include "future.hpp"
#include "scheduler.hpp"
#include "select.hpp"
#include "sleep.hpp"
#include "task.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <memory>
#include <optional>
#include <utility>

using namespace std::chrono_literals;

// The test doubles are in the global namespace, where join is declared (like Task): a call
// with them as arguments finds it there (argument-dependent lookup), and finds nothing,
// without a compile error, while it does not exist yet.

// Gate: opened once; a GateFuture is ready once its gate is open, and keeps the waker of its
// last poll in the gate meanwhile. It also counts its polls.
struct Gate {
    bool open = false;
    std::optional<Waker> waiting;
    void open_it() {
        open = true;
        if (waiting) {
            std::exchange(waiting, std::nullopt)->wake();
        }
    }
};

struct GateFuture {
    using Output = int;
    std::shared_ptr<Gate> gate;
    int value;
    int* polls;
    GateFuture(std::shared_ptr<Gate> g, int v, int* p) : gate(std::move(g)), value(v), polls(p) {}
    std::optional<int> poll(const Waker& waker) {
        ++*polls;
        if (gate->open) {
            return value;
        }
        gate->waiting = waker;
        return std::nullopt;
    }
};

// Opens: ready on its first poll, having opened the gate.
struct Opens {
    using Output = int;
    std::shared_ptr<Gate> gate;
    int value;
    int* polls;
    Opens(std::shared_ptr<Gate> g, int v, int* p) : gate(std::move(g)), value(v), polls(p) {}
    std::optional<int> poll(const Waker&) {
        ++*polls;
        gate->open_it();
        return value;
    }
};

template <class A, class B>
concept HasJoin = requires(A a, B b) {
    { join(std::move(a), std::move(b)) } -> Future;
};

template <class A, class B>
using JoinOutput = typename decltype(join(std::declval<A>(), std::declval<B>()))::Output;

namespace {

Task<int> wait_for(std::shared_ptr<Gate> gate, int value) {
    int polls = 0;
    co_return co_await GateFuture(std::move(gate), value, &polls);
}

Task<int> open_then(std::shared_ptr<Gate> gate, int value) {
    gate->open_it();
    co_return value;
}

// A coroutine awaiting a join of two Tasks: the first waits for the gate the second opens,
// so one after the other would never finish. The 5 s timer in the outer select is the
// test's deadline.
template <class T = Task<int>>
Task<> both(std::pair<int, int>* result, bool* in_time) {
    auto gate = std::make_shared<Gate>();
    Either<std::pair<int, int>, Unit> outcome =
        co_await select(join(T(wait_for(gate, 1)), T(open_then(gate, 2))), sleep_for(5s));
    *in_time = outcome.is_left();
    if (outcome.is_left()) {
        *result = outcome.left();
    }
}

// The checks, in a template so that they compile while join does not exist.
template <class G = GateFuture, class O = Opens, class T = Task<int>>
void check_join() {
    if constexpr (!HasJoin<G, O> || !HasJoin<T, T>) {
        FAIL("there is no join(A a, B b) yet: declare it in select.hpp, in the global namespace");
    } else if constexpr (!std::same_as<JoinOutput<G, O>, std::pair<int, int>>) {
        FAIL("join(a, b)'s Output should be std::pair<A::Output, B::Output> "
             "(std::pair<int, int> for two futures of int)");
    } else {
        auto wakes = std::make_shared<std::atomic<int>>(0);
        Waker waker([wakes] { ++*wakes; });

        SUBCASE("join polls both futures, and is ready with both outputs once both are") {
            auto gate = std::make_shared<Gate>();
            int gate_polls = 0;
            int opens_polls = 0;
            auto joined = join(G(gate, 1, &gate_polls), O(gate, 2, &opens_polls));

            INFO("join's first poll should poll both futures: the gate future, which waits, and the "
                 "other one, which opens the gate");
            CHECK_FALSE(joined.poll(waker).has_value());
            CHECK(gate_polls == 1);
            REQUIRE(opens_polls == 1);
            INFO("the gate future should have been polled with join's waker, and woken by it");
            CHECK(*wakes == 1);

            std::optional<std::pair<int, int>> output = joined.poll(waker);
            INFO("the second poll: the gate is open, so both are done");
            REQUIRE(output.has_value());
            CHECK(*output == std::pair(1, 2));
            INFO("a future that is ready keeps its output and is not polled again");
            CHECK(opens_polls == 1);
        }

        SUBCASE("an unfinished join destroyed destroys both futures") {
            auto gate = std::make_shared<Gate>();
            int polls = 0;
            {
                auto joined = join(G(gate, 1, &polls), G(gate, 2, &polls));
                CHECK_FALSE(joined.poll(waker).has_value());
                gate->waiting.reset(); // the test's own copy of the waker
            }
            INFO("nothing should hold the gate once the join is gone");
            CHECK(gate.use_count() == 1);
        }

        SUBCASE("a coroutine co_awaits a join of two tasks that need each other") {
            std::pair<int, int> result{0, 0};
            bool in_time = false;
            SCHEDULER.spawn(both<T>(&result, &in_time));
            SCHEDULER.run();
            INFO("co_await join(waits for the gate, opens the gate) should finish, with both outputs");
            CHECK(in_time);
            CHECK(result == std::pair(1, 2));
        }
    }
}

} // namespace

TEST_CASE("join runs two futures at once and outputs both, and a coroutine can co_await it") {
    check_join();
}
