// Waker: copies share one callback; wake() is safe from many threads; the callback owns
// what it uses, so a waker may outlive the scope that made it.
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
