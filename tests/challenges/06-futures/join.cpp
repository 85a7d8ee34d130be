// join: one future that waits for two, and never polls one that is done
//
// The challenge: write, in future.hpp, the combinator
//
//     template <Future A, Future B>
//     auto join(A a, B b); // a Future whose Output is std::pair<A::Output, B::Output>
//
// The future it returns owns both. Each of its polls polls whichever of the two is not done
// yet and keeps the output of one that finishes; once both have finished it is ready, with
// both outputs. It never polls a future again once that future has returned its output (a
// finished future owes nothing more, and need not behave if asked again). Both futures and
// their outputs live inside it: no heap allocation, no virtual call, so a join of joins costs
// no more than its parts.
#include "future.hpp"

#include <doctest/doctest.h>

#include <concepts>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <optional>
#include <string>
#include <utility>

// Every allocation of this test program goes through here, so that the test can see that
// join allocates nothing.
namespace {
std::size_t allocations = 0;
}
void* operator new(std::size_t size) {
    ++allocations;
    if (void* memory = std::malloc(size == 0 ? 1 : size)) {
        return memory;
    }
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace {

// Ready on its `left`-th poll with `value`; counts its polls where the test can see them.
struct Countdown {
    using Output = int;
    int left;
    int value;
    int* polls;

    std::optional<int> poll() {
        ++*polls;
        if (--left > 0) {
            return std::nullopt;
        }
        return value;
    }
};

// The same with another Output type: a short std::string (short enough not to allocate).
struct Word {
    using Output = std::string;
    int left;
    const char* word;
    int* polls;

    std::optional<std::string> poll() {
        ++*polls;
        if (--left > 0) {
            return std::nullopt;
        }
        return std::string(word);
    }
};

// Whether future.hpp has a join(a, b) as the challenge describes. A concept over template
// parameters, so that this test compiles before join exists (the call is looked up when the
// concept is checked, and not finding it just makes the concept false).
template <class A, class B>
concept Joinable = requires(A a, B b) {
    { join(std::move(a), std::move(b)) } -> Future;
    requires std::same_as<typename decltype(join(std::move(a), std::move(b)))::Output,
                          std::pair<typename A::Output, typename B::Output>>;
};

// The checks are templates (A and B are Countdown and Word) for the same reason. Without a
// join they check nothing: the first test case says what is missing, once.
template <class A, class B>
void join_waits_for_both() {
    if constexpr (Joinable<A, B>) {
        int quick_polls = 0;
        int slow_polls = 0;
        auto both = join(A{1, 7, &quick_polls}, B{3, "hi", &slow_polls});
        CHECK(quick_polls == 0); // nothing happens until it is polled
        CHECK(slow_polls == 0);

        CHECK_FALSE(both.poll().has_value()); // the first is done, the second is not
        CHECK_FALSE(both.poll().has_value());
        auto outputs = both.poll();
        REQUIRE(outputs.has_value());
        CHECK(outputs->first == 7);
        CHECK(outputs->second == "hi");
        INFO("join polled a future that had already returned its output");
        CHECK(quick_polls == 1);
        CHECK(slow_polls == 3);
    }
}

template <class A>
void second_done_first() {
    if constexpr (Joinable<A, A>) {
        int slow_polls = 0;
        int quick_polls = 0;
        auto both = join(A{2, 1, &slow_polls}, A{1, 2, &quick_polls});
        CHECK_FALSE(both.poll().has_value());
        auto outputs = both.poll();
        REQUIRE(outputs.has_value());
        CHECK(*outputs == std::pair(1, 2));
        INFO("join polled a future that had already returned its output");
        CHECK(quick_polls == 1);
        CHECK(slow_polls == 2);
    }
}

template <class A>
void joins_nest_without_allocating() {
    if constexpr (Joinable<A, A>) {
        int polls[3] = {};
        const std::size_t before = allocations;
        auto all = join(join(A{2, 1, &polls[0]}, A{1, 2, &polls[1]}), A{3, 3, &polls[2]});
        decltype(all.poll()) outputs;
        for (int i = 0; i < 10 && !outputs; ++i) {
            outputs = all.poll();
        }
        const std::size_t allocated = allocations - before; // before doctest allocates anything
        REQUIRE(outputs.has_value());
        CHECK(outputs->first == std::pair(1, 2));
        CHECK(outputs->second == 3);
        CHECK(polls[0] == 2);
        CHECK(polls[1] == 1);
        CHECK(polls[2] == 3);
        INFO("making and polling a join of joins allocated ", allocated,
             " times: the futures and their outputs belong inside the join");
        CHECK(allocated == 0);
    }
}

} // namespace

TEST_CASE("future.hpp has join(a, b)") {
    INFO("future.hpp has no join(a, b) yet: a function template taking two Futures and "
         "returning a Future whose Output is std::pair<A::Output, B::Output>");
    CHECK(Joinable<Countdown, Word>);
}

TEST_CASE("join is ready once both futures are, with both outputs, polling neither once done") {
    join_waits_for_both<Countdown, Word>();
}

TEST_CASE("join: the second future may finish first") {
    second_done_first<Countdown>();
}

TEST_CASE("a join of joins is one future, polled in place: no allocation") {
    joins_nest_without_allocating<Countdown>();
}
