// IdleTimer: one kept connection's idle deadline, "no byte in or out for `idle`".
//
// sleep_for (sleep.hpp) would do, but a new one per request costs a timerfd: five system
// calls (create, arm, register, deregister, close) for every request on the connection.
// IdleTimer keeps one timerfd for the connection's whole life and moves the deadline lazily:
// restart() only notes the new deadline, which costs a read of the clock (the vDSO, no
// system call). When the timerfd fires, expired() looks at the deadline: passed, the
// connection was idle; not yet, the timer is armed again for it. So a busy connection pays
// one timer wake per `idle`, not a system call per request. (nginx and the Linux kernel's
// own TCP keepalive timers defer the same way; tokio moves an entry in its timer wheel.)
#pragma once

#include "fd.hpp"
#include "future.hpp"
#include "poll_fn.hpp"
#include "registration.hpp"
#include "waker.hpp"

#include <chrono>
#include <optional>

class IdleTimer {
  public:
    using Clock = std::chrono::steady_clock; // CLOCK_MONOTONIC, the timerfd's clock

    // Starts the clock now. Throws std::system_error if no timerfd can be created.
    explicit IdleTimer(std::chrono::milliseconds idle);

    void restart() { deadline_ = Clock::now() + idle_; }

    // A future that is ready once `idle` has passed since the last restart(). It borrows the
    // timer: await it in the coroutine that owns the timer (like async_net.hpp's futures).
    auto expired() {
        return poll_fn([this](const Waker& waker) { return poll(waker); });
    }

  private:
    std::optional<Unit> poll(const Waker& waker);
    void arm(); // for deadline_, as an absolute time

    std::chrono::milliseconds idle_;
    Clock::time_point deadline_;
    Fd timer_;
    std::optional<Registration> registration_; // after timer_: removed before it is closed
};
