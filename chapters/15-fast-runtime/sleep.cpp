#include "sleep.hpp"

#include "error.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>

Sleep::Sleep(std::chrono::nanoseconds duration)
    : timer_(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC)) {
    if (!timer_) {
        throw_errno("timerfd_create");
    }
    // A zero it_value would disarm the timer instead of firing it: a duration of zero (or
    // less) becomes one nanosecond, "as soon as possible".
    auto ns = std::max<std::chrono::nanoseconds::rep>(duration.count(), 1);
    itimerspec when{};
    when.it_value.tv_sec = static_cast<time_t>(ns / 1'000'000'000);
    when.it_value.tv_nsec = static_cast<long>(ns % 1'000'000'000);
    if (::timerfd_settime(timer_.get(), 0, &when, nullptr) < 0) {
        throw_errno("timerfd_settime");
    }
}

std::optional<Unit> Sleep::poll(const Waker& waker) {
    if (done_) {
        return std::nullopt; // fused
    }
    if (!registration_) {
        // Register before looking: if the timer fires in between, the edge-triggered
        // registration still reports it.
        registration_.emplace(timer_.get(), waker);
    }
    std::uint64_t expirations = 0;
    if (::read(timer_.get(), &expirations, sizeof expirations) == sizeof expirations) {
        done_ = true;
        registration_.reset();
        timer_.reset();
        return Unit{};
    }
    if (!is_would_block(errno)) {
        throw_errno("read(timerfd)");
    }
    return std::nullopt; // not yet: the reactor wakes us when it is readable
}
