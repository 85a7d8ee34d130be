// Waker: copies share one callback; wake() is safe from many threads; the callback owns
// what it uses, so a waker may outlive the scope that made it. Stage 15: a waker is two
// words, data and a table of functions, and copying one never allocates.
#include "waker.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <latch>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace {

// A callable that counts how often it is copied and called.
struct Counting {
    int* copies;
    int* calls;
    Counting(int* copies_, int* calls_) : copies(copies_), calls(calls_) {}
    Counting(const Counting& other) : copies(other.copies), calls(other.calls) { ++*copies; }
    Counting(Counting&& other) noexcept = default;
    void operator()() const { ++*calls; }
};

} // namespace

TEST_CASE("copies of a waker share one callback: copying never copies it") {
    int copies = 0;
    int calls = 0;
    Waker waker(Counting(&copies, &calls));
    int copies_after_construction = copies;

    Waker first = waker;
    Waker second = first;
    std::vector<Waker> more(3, second);
    CHECK(copies == copies_after_construction);

    waker.wake();
    first.wake();
    more.back().wake();
    CHECK(calls == 3);
    CHECK(first.will_wake(waker));
    CHECK(more.front().will_wake(second));
    CHECK_FALSE(waker.will_wake(Waker(Counting(&copies, &calls))));
}

TEST_CASE("wake() from several threads at once runs the callback once per call") {
    constexpr int threads = 8;
    constexpr int wakes_per_thread = 10'000;
    auto count = std::make_shared<std::atomic<int>>(0);
    Waker waker([count] { count->fetch_add(1, std::memory_order_relaxed); });

    std::latch start(threads);
    std::vector<std::thread> wakers;
    for (int t = 0; t < threads; ++t) {
        wakers.emplace_back([&start, copy = waker] { // each thread holds its own copy
            start.arrive_and_wait();
            for (int i = 0; i < wakes_per_thread; ++i) {
                copy.wake();
            }
        });
    }
    for (std::thread& thread : wakers) {
        thread.join();
    }
    CHECK(count->load() == threads * wakes_per_thread);
}

TEST_CASE("a waker outlives the scope that made it: its callback owns what it uses") {
    std::weak_ptr<std::string> watch;
    std::optional<Waker> waker;
    {
        auto log = std::make_shared<std::string>();
        watch = log;
        waker.emplace([log] { *log += "woken;"; }); // captured by value: shared ownership
    } // the scope's `log` is gone; the callback's copy keeps the string alive

    REQUIRE_FALSE(watch.expired());
    std::thread([copy = *waker] { copy.wake(); }).join();
    waker->wake();
    CHECK(*watch.lock() == "woken;woken;");

    waker.reset(); // the last copy: the callback and what it owns are released
    CHECK(watch.expired());
}

// ---- Stage 15: two words and a table of functions. -----------------------------------------

// The allocations made on this thread (test_task.cpp counts them).
extern thread_local long allocations;

namespace {

// A table whose data is a counter of live copies and of wakes.
struct Tally {
    int copies = 1; // the reference the first Waker takes over
    int wakes = 0;
};

constexpr WakerVTable tally_vtable{
    [](void* data) { ++static_cast<Tally*>(data)->copies; },
    [](void* data) { ++static_cast<Tally*>(data)->wakes; },
    [](void* data) { --static_cast<Tally*>(data)->copies; },
};

} // namespace

TEST_CASE("a waker is its data and a table: copies call clone, destruction calls drop, no allocation") {
    static_assert(sizeof(Waker) == 2 * sizeof(void*));
    Tally tally;
    long before = allocations;
    {
        Waker waker(&tally, &tally_vtable);
        Waker copy = waker;
        std::vector<Waker> more(3, copy); // allocates the vector's storage, once
        CHECK(tally.copies == 5);
        Waker moved = std::move(copy); // a move takes the reference over: nothing counted
        CHECK(tally.copies == 5);
        more.back().wake();
        moved.wake();
        CHECK(tally.wakes == 2);
        CHECK(moved.will_wake(waker));
    }
    CHECK(tally.copies == 0); // every copy dropped its reference
    CHECK(allocations - before == 1); // the vector's, and nothing for the wakers
}

TEST_CASE("a waker made from a function allocates once, however often it is copied") {
    long before = allocations;
    Waker waker([] {}); // a captureless lambda: std::function stores it without allocating
    CHECK(allocations - before == 1);
    std::optional<Waker> copies[8];
    for (std::optional<Waker>& copy : copies) {
        copy.emplace(waker);
    }
    CHECK(allocations - before == 1);
}
