// Waker: a cheap, copyable, thread-safe "poll this task again" callback.
//
// The article's `struct Waker(Arc<dyn Fn() + Send + Sync>)`. A scheduler builds one per
// task and hands it to every poll(); a future that cannot finish yet keeps a copy wherever
// the news will arrive (a reactor, another thread, a timer) and returns "not yet". Whoever
// holds the copy calls wake() when the task may make progress.
//
// Two words, as in Rust's std::task::Waker: a pointer to the data (for the scheduler, the
// task itself) and a pointer to a static table of the functions that know what the data is
// (Rust's RawWakerVTable). The table counts the copies: copying a waker calls `clone`,
// destroying it calls `drop`, and the scheduler keeps that count inside the task, so a
// task's waker is made, copied and destroyed without any allocation (scheduler.cpp).
// Stage 14's waker wrapped a std::function in a std::shared_ptr: one allocation per task
// for the callback, one for the shared count.
//
// A waker can still be made from any function (tests, threads of our own): that one
// allocates the function once, with its count, and every copy shares it.
//
// Thread safety: wake() may be called from any thread, by many threads at once, for as long
// as any copy exists (Rust's Send + Sync). The table's functions must allow that; making the
// wake itself safe to run concurrently is the job of whoever writes them (the scheduler).
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <utility>

// The functions every waker of one kind shares, called with the waker's data.
struct WakerVTable {
    void (*clone)(void* data); // one copy more: count it
    void (*wake)(void* data);  // poll the task again (the copy stays valid)
    void (*drop)(void* data);  // one copy fewer
};

class Waker {
public:
    // A waker over `data`, which `vtable` knows how to wake and count. It takes over one
    // reference that the caller already counted.
    Waker(void* data, const WakerVTable* vtable) noexcept : data_(data), vtable_(vtable) {}

    // A waker that calls `wake`: allocates it once, shared by every copy.
    explicit Waker(std::function<void()> wake);

    Waker(const Waker& other) noexcept : data_(other.data_), vtable_(other.vtable_) {
        vtable_->clone(data_);
    }
    Waker(Waker&& other) noexcept
        : data_(other.data_), vtable_(std::exchange(other.vtable_, nullptr)) {}
    Waker& operator=(Waker other) noexcept { // a copy or a move, then a swap
        std::swap(data_, other.data_);
        std::swap(vtable_, other.vtable_);
        return *this;
    }
    ~Waker() {
        if (vtable_ != nullptr) { // not moved from
            vtable_->drop(data_);
        }
    }

    // Asks for the task to be polled again. Cheap; never polls anything itself.
    void wake() const { vtable_->wake(data_); }

    // True if both wake the same task (one is a copy of the other), like Rust's will_wake:
    // a future that stored a waker can skip replacing it with an equivalent one.
    bool will_wake(const Waker& other) const {
        return data_ == other.data_ && vtable_ == other.vtable_;
    }

private:
    void* data_;
    const WakerVTable* vtable_;
};

namespace detail {
// The data of a waker made from a function: the function and the count of its copies.
struct SharedWake {
    std::atomic<std::size_t> copies{1};
    std::function<void()> wake;
};

inline constexpr WakerVTable shared_wake_vtable{
    [](void* data) { static_cast<SharedWake*>(data)->copies.fetch_add(1, std::memory_order_relaxed); },
    [](void* data) { static_cast<SharedWake*>(data)->wake(); },
    [](void* data) {
        auto* shared = static_cast<SharedWake*>(data);
        // acq_rel: the last copy sees every other copy's use of it before deleting it.
        if (shared->copies.fetch_sub(1, std::memory_order_acq_rel) == 1) {
            delete shared;
        }
    },
};
} // namespace detail

inline Waker::Waker(std::function<void()> wake)
    : Waker(new detail::SharedWake{{1}, std::move(wake)}, &detail::shared_wake_vtable) {}
