#include "idle_timer.hpp"

#include <utility>

IdleTimer::IdleTimer(std::chrono::milliseconds idle)
    : idle_(idle), deadline_(REACTOR.now() + idle) {}

void IdleTimer::cancel() noexcept {
    if (timer_) {
        REACTOR.remove_timer(*std::exchange(timer_, std::nullopt)); // nothing if it fired
    }
}

std::optional<Unit> IdleTimer::poll(const Waker& waker) {
    Clock::time_point now = REACTOR.now();
    if (now >= deadline_) {
        cancel();
        return Unit{}; // idle all along
    }
    // The timer in the reactor is due at the deadline noted when it went in. If that has
    // passed, it fired (or fires at the next wait) while the connection was busy: put it back
    // for the deadline restart() moved to. Otherwise it is still waiting: leave it alone.
    if (timer_ && timer_->deadline <= now) {
        cancel();
    }
    if (!timer_ || !REACTOR.update_timer(*timer_, waker)) {
        timer_ = REACTOR.add_timer(deadline_, waker);
    }
    return std::nullopt;
}
