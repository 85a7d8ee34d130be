#include "idle_timer.hpp"

#include "error.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

IdleTimer::IdleTimer(std::chrono::milliseconds idle)
    : idle_(idle), deadline_(Clock::now() + idle),
      timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!timer_) {
        throw_errno("timerfd_create");
    }
    arm();
}

void IdleTimer::arm() {
    auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(deadline_.time_since_epoch());
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(ns.count() / 1'000'000'000);
    when.it_value.tv_nsec = static_cast<long>(ns.count() % 1'000'000'000);
    if (when.it_value.tv_sec == 0 && when.it_value.tv_nsec == 0) {
        when.it_value.tv_nsec = 1; // zero would disarm it
    }
    if (::timerfd_settime(timer_.get(), TFD_TIMER_ABSTIME, &when, nullptr) < 0) {
        throw_errno("timerfd_settime");
    }
}

std::optional<Unit> IdleTimer::poll(const Waker& waker) {
    if (!registration_) {
        // Register before looking, as Sleep does: a timer that fires in between is still
        // reported by the edge-triggered registration.
        registration_.emplace(timer_.get(), waker);
    }
    std::uint64_t expirations = 0;
    if (::read(timer_.get(), &expirations, sizeof expirations) != sizeof expirations) {
        if (!is_would_block(errno)) {
            throw_errno("read(timerfd)");
        }
        return std::nullopt; // not fired yet
    }
    if (Clock::now() >= deadline_) {
        return Unit{}; // idle all along; the timer stays disarmed (it fired)
    }
    arm(); // the connection was busy meanwhile: wait for the deadline it moved to
    return std::nullopt;
}
