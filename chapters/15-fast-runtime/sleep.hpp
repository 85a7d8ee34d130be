// sleep_for: a future that is ready once a duration has passed: the grace period's timer.
//
// The article's timer is spawn_blocking(|| thread::sleep(30 s)): a thread that sleeps. When
// the requests in flight finish first, select drops the timer's future, but nothing can wake
// a sleeping thread. Rust's process::exit ends it; a C++ translation that owns the thread
// (std::jthread joins in its destructor) would wait out the whole 30 s before exiting.
//
// Ours is a timer in the reactor: a deadline and the task's waker in REACTOR's ordered list
// of timers. epoll_wait sleeps no longer than until the nearest deadline, and the reactor
// wakes the timers that are due after it returns, so a timer costs no thread, no fd and no
// system call (stage 14's was a timerfd: create, arm, register, deregister, close). Destroying
// the future cancels it: its entry leaves the list, and nothing is left to fire. tokio keeps
// its timers in a hierarchical wheel, libuv in a binary heap; ours is a std::map, the
// simplest ordered container that also cancels in O(log n).
#pragma once

#include "future.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <chrono>
#include <optional>

class Sleep {
public:
    using Output = Unit;
    using Clock = Reactor::Clock;

    // Starts the clock now (like the article's timer, which starts when it is created).
    explicit Sleep(std::chrono::nanoseconds duration);
    ~Sleep() { cancel(); }

    Sleep(Sleep&& other) noexcept;
    Sleep& operator=(Sleep&&) = delete;
    Sleep(const Sleep&) = delete;
    Sleep& operator=(const Sleep&) = delete;

    std::optional<Unit> poll(const Waker& waker);

private:
    void cancel() noexcept;

    Clock::time_point deadline_;
    std::optional<Reactor::TimerKey> timer_; // in REACTOR, with the waker, once polled
    bool done_ = false;
};

inline Sleep sleep_for(std::chrono::nanoseconds duration) { return Sleep(duration); }
