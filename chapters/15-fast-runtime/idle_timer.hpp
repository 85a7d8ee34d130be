// IdleTimer: one kept connection's idle deadline, "no byte in or out for `idle`".
//
// sleep_for (sleep.hpp) would do, but a new one per request would take its timer out of the
// reactor's list and put a new one in, for every request on the connection. IdleTimer keeps
// one timer in REACTOR for the connection and moves the deadline lazily: restart() only notes
// the new deadline, from the time the reactor read once for this loop iteration. When the
// timer fires, expired() looks at the deadline: passed, the connection was idle; not yet, the
// timer goes back into the reactor for the deadline it moved to. So a busy connection pays
// one timer wake per `idle`, not a change of the reactor's list per request. (nginx and the
// Linux kernel's own TCP keepalive timers defer the same way; tokio moves an entry in its
// timer wheel.) Like Sleep, it owns no fd, and destroying it cancels its timer.
#pragma once

#include "future.hpp"
#include "poll_fn.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <chrono>
#include <optional>

class IdleTimer {
  public:
    using Clock = Reactor::Clock;

    // Starts the clock now.
    explicit IdleTimer(std::chrono::milliseconds idle);
    ~IdleTimer() { cancel(); }
    IdleTimer(const IdleTimer&) = delete;
    IdleTimer& operator=(const IdleTimer&) = delete;

    // The reactor's time of this loop iteration (Reactor::now): no clock read per request.
    void restart() { deadline_ = REACTOR.now() + idle_; }

    // A future that is ready once `idle` has passed since the last restart(). It borrows the
    // timer: await it in the coroutine that owns the timer (like async_net.hpp's futures).
    auto expired() {
        return poll_fn([this](const Waker& waker) { return poll(waker); });
    }

  private:
    std::optional<Unit> poll(const Waker& waker);
    void cancel() noexcept;

    std::chrono::milliseconds idle_;
    Clock::time_point deadline_;
    std::optional<Reactor::TimerKey> timer_; // in REACTOR, with the waker, until it fires
};
