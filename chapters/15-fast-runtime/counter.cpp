#include "counter.hpp"

#include <stdexcept>

void Counter::increment() { ++count_; }

void Counter::decrement() {
    std::size_t count = count_.load();
    do { // a compare-and-swap loop, so that a decrement below zero changes nothing
        if (count == 0) {
            throw std::logic_error("Counter::decrement below zero");
        }
    } while (!count_.compare_exchange_weak(count, count - 1));
    if (count != 1) {
        return; // not the last one
    }
    std::optional<Waker> waiting;
    {
        std::lock_guard lock(mutex_); // we were the last one: the waiter may go on
        waiting = std::move(waker_);
        waker_.reset();
    }
    if (waiting) {
        waiting->wake(); // outside the lock: wake may take the scheduler's
    }
}

std::size_t Counter::count() const { return count_.load(); }
