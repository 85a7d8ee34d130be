// Counter: how many requests are in flight, and a future that is ready when there are none.
//
// The article's
//
//     struct Counter { state: Mutex<(usize, Option<Waker>)> }
//     fn increment(&self), fn decrement(&self), fn wait_for_zero(self: Arc<Self>) -> impl Future
//
// The server counts each connection from accept until its handler ends; on Ctrl-C it waits
// for wait_for_zero (or the grace period). A count that never comes back to zero would make
// every shutdown wait out the whole grace period, so the count is kept by Guard, an RAII
// object each handler owns: the decrement happens exactly once however the handler ends
// (finished, failed with an exception, or destroyed unfinished).
//
// Shared: the server, every Guard and every wait_for_zero future hold a std::shared_ptr to
// the Counter (the article's Arc). Thread-safe, as in the article, though our handlers all
// run on one thread. Simplification: one waiter at a time, as in the article (the waker of
// the latest wait_for_zero poll is the one woken).
//
// Stage 15: the count is an atomic, and the mutex guards only the waker. Every request
// increments and decrements, and only a decrement to zero needs the waker; stage 14 took the
// mutex for both, two lock-and-unlock pairs per request. No wake is lost: wait_for_zero
// stores its waker under the mutex before it reads the count, and a decrement to zero takes
// the mutex after it wrote the count, so either the waiter sees zero, or the decrement sees
// the waker.
#pragma once

#include "future.hpp"
#include "poll_fn.hpp"
#include "waker.hpp"

#include <atomic>
#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

class Counter {
public:
    // Guard: one unit of the count, for as long as it lives. Move-only: moving passes the
    // unit on, and only the last owner gives it back.
    class Guard {
    public:
        explicit Guard(std::shared_ptr<Counter> counter) : counter_(std::move(counter)) {
            counter_->increment();
        }
        Guard(Guard&& other) noexcept = default; // leaves `other` empty
        Guard& operator=(Guard&&) = delete;
        ~Guard() {
            if (counter_) {
                counter_->decrement();
            }
        }

    private:
        std::shared_ptr<Counter> counter_;
    };

    void increment();
    // Throws std::logic_error below zero (a decrement without its increment: a bug).
    // Reaching zero wakes the waiting wait_for_zero, if any.
    void decrement();
    std::size_t count() const;

    // A future (Output Unit) that is ready as soon as the count is zero. It shares
    // ownership of the counter, so it may outlive whoever created it.
    static auto wait_for_zero(std::shared_ptr<Counter> counter) {
        return poll_fn([counter = std::move(counter)](const Waker& waker) -> std::optional<Unit> {
            std::lock_guard lock(counter->mutex_);
            counter->waker_ = waker; // first: a decrement to zero after this will wake us
            if (counter->count_ == 0) {
                counter->waker_.reset();
                return Unit{};
            }
            return std::nullopt;
        });
    }

private:
    std::atomic<std::size_t> count_ = 0;
    std::mutex mutex_;           // guards waker_
    std::optional<Waker> waker_;
};
