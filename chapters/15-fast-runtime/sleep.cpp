#include "sleep.hpp"

#include <utility>

Sleep::Sleep(std::chrono::nanoseconds duration)
    : deadline_(Clock::now() + std::chrono::duration_cast<Clock::duration>(duration)) {}

// The key is a value (a deadline and a number), not a pointer into the reactor: moving a
// Sleep moves its key, and the reactor never points back at it.
Sleep::Sleep(Sleep&& other) noexcept
    : deadline_(other.deadline_), timer_(std::exchange(other.timer_, std::nullopt)),
      done_(other.done_) {}

void Sleep::cancel() noexcept {
    if (timer_) {
        REACTOR.remove_timer(*std::exchange(timer_, std::nullopt)); // nothing if it fired
    }
}

std::optional<Unit> Sleep::poll(const Waker& waker) {
    if (done_) {
        return std::nullopt; // fused
    }
    // The clock, not the reactor, says whether the time is up: a read of the vDSO, no
    // system call. A zero (or negative) duration is ready at its first poll.
    if (Clock::now() >= deadline_) {
        done_ = true;
        cancel();
        return Unit{};
    }
    if (!timer_ || !REACTOR.update_timer(*timer_, waker)) {
        timer_ = REACTOR.add_timer(deadline_, waker);
    }
    return std::nullopt; // not yet: the reactor wakes us at the deadline
}
