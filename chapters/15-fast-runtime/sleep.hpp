// sleep_for: a future that is ready once a duration has passed: the grace period's timer.
//
// The article's timer is spawn_blocking(|| thread::sleep(30 s)): a thread that sleeps. When
// the requests in flight finish first, select drops the timer's future, but nothing can wake
// a sleeping thread. Rust's process::exit ends it; a C++ translation that owns the thread
// (std::jthread joins in its destructor) would wait out the whole 30 s before exiting.
//
// Ours is a timerfd: a file descriptor the kernel makes readable when the time is up. It is
// registered with REACTOR like a socket, so the timer costs no thread, its wake comes through
// epoll_wait on the runtime's own thread, and destroying the future cancels it: the
// Registration is removed and the Fd closed, and nothing is left running. Production
// runtimes keep timers in the reactor too (tokio's timer wheel, libuv's heap), with one
// epoll_wait timeout for the nearest deadline instead of one fd per timer.
#pragma once

#include "fd.hpp"
#include "future.hpp"
#include "registration.hpp"
#include "waker.hpp"

#include <chrono>
#include <optional>

class Sleep {
public:
    using Output = Unit;

    // Starts the clock now (like the article's timer, which starts when it is created).
    // Throws std::system_error if no timerfd can be created.
    explicit Sleep(std::chrono::nanoseconds duration);

    std::optional<Unit> poll(const Waker& waker);

private:
    Fd timer_;
    std::optional<Registration> registration_; // after timer_: removed before it is closed
    bool done_ = false;
};

inline Sleep sleep_for(std::chrono::nanoseconds duration) { return Sleep(duration); }
