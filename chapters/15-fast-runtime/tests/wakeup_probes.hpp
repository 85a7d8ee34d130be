// Test helpers for wake-ups that must cross threads, with readiness signals, never sleeps
// used as synchronization:
//   - CountingWaker: a Waker that counts how often it was woken, from any thread.
//   - blocked_in_epoll_wait(tid): is that thread asleep in epoll_wait with no timeout?
//   - Watchdog: makes a socket readable after a deadline, so that a loop waiting for a
//     wake-up that never comes still returns, and the test fails instead of hanging.
#pragma once

#include "eventually.hpp"
#include "fd.hpp"
#include "waker.hpp"

#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace testing {

// A Waker that counts its wakes; copies of `waker` share the count.
struct CountingWaker {
    std::shared_ptr<std::atomic<int>> count = std::make_shared<std::atomic<int>>(0);
    Waker waker{[count = count] { ++*count; }};
    int wakes() const { return *count; }
};

// True if thread `tid` of this process is inside epoll_wait (or epoll_pwait) with an
// infinite timeout. /proc/self/task/TID/syscall shows the number of the system call the
// thread is blocked in, then its arguments; the fourth argument is the timeout.
inline bool blocked_in_epoll_wait(pid_t tid) {
    std::ifstream file("/proc/self/task/" + std::to_string(tid) + "/syscall");
    long number = -1;
    std::string epfd;
    std::string events;
    std::string maxevents;
    unsigned long long timeout = 0;
    if (!(file >> number >> epfd >> events >> maxevents >> std::hex >> timeout)) {
        return false; // "running", or not in a system call
    }
#ifdef SYS_epoll_wait
    bool epoll = number == SYS_epoll_wait || number == SYS_epoll_pwait;
#else
    bool epoll = number == SYS_epoll_pwait; // aarch64 has only epoll_pwait
#endif
    return epoll && static_cast<int>(timeout) == -1;
}

// Waits (looking again and again, up to `timeout`) until thread `tid` is asleep in
// epoll_wait. Returns false if it never got there.
inline bool wait_until_blocked_in_epoll_wait(pid_t tid, std::chrono::milliseconds timeout) {
    return eventually([tid] { return blocked_in_epoll_wait(tid); }, timeout);
}

// Watchdog: after `deadline`, writes one byte to `to` (one end of a socket pair whose other
// end the test registers with the loop under test) and records that it fired. Destroying it
// first cancels it.
class Watchdog {
public:
    Watchdog(Fd to, std::chrono::milliseconds deadline)
        : to_(std::move(to)), thread_([this, deadline] { guard(deadline); }) {}
    ~Watchdog() {
        {
            std::lock_guard lock(mutex_);
            cancelled_ = true;
        }
        changed_.notify_all();
        thread_.join();
    }
    Watchdog(const Watchdog&) = delete;
    Watchdog& operator=(const Watchdog&) = delete;

    bool fired() const { return fired_; }

private:
    void guard(std::chrono::milliseconds deadline) {
        std::unique_lock lock(mutex_);
        if (!changed_.wait_for(lock, deadline, [this] { return cancelled_; })) {
            fired_ = true;
            char byte = '!';
            [[maybe_unused]] ssize_t n = ::write(to_.get(), &byte, 1);
        }
    }

    Fd to_;
    std::mutex mutex_;
    std::condition_variable changed_;
    bool cancelled_ = false;
    std::atomic<bool> fired_{false};
    std::thread thread_;
};

} // namespace testing
