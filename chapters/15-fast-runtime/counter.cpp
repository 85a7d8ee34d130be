#include "counter.hpp"

#include <stdexcept>

void Counter::increment() {
    std::lock_guard lock(mutex_);
    ++count_;
}

void Counter::decrement() {
    std::optional<Waker> waiting;
    {
        std::lock_guard lock(mutex_);
        if (count_ == 0) {
            throw std::logic_error("Counter::decrement below zero");
        }
        if (--count_ == 0) {
            waiting = std::move(waker_); // we were the last one: the waiter may go on
            waker_.reset();
        }
    }
    if (waiting) {
        waiting->wake(); // outside the lock: wake may take the scheduler's
    }
}

std::size_t Counter::count() const {
    std::lock_guard lock(mutex_);
    return count_;
}
