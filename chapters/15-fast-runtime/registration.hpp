// Registration: keeps an fd registered with this thread's REACTOR for as long as it lives.
//
// A future that waits on an fd holds one, declared after the member that owns the fd:
// members are destroyed in reverse order, so the registration is removed first, then the fd
// is closed. However the future ends (finished, failed with an exception, finished early on
// an error path, or destroyed unfinished), the fd leaves the epoll set and the reactor drops
// the waker, which is a reference to the task. The article's Handler removes its fd by hand
// on the happy path only; every early return leaks the registration (and the task with it).
//
// REACTOR is per thread: create and destroy a Registration on the same thread (a future is
// polled and destroyed on the thread that runs the scheduler).
#pragma once

#include "reactor.hpp"
#include "waker.hpp"

#include <utility>

class Registration {
public:
    Registration(int fd, Waker waker) : fd_(fd) { REACTOR.add(fd, std::move(waker)); }
    ~Registration() { reset(); }

    Registration(Registration&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    Registration& operator=(Registration&& other) noexcept {
        if (this != &other) {
            reset();
            fd_ = std::exchange(other.fd_, -1);
        }
        return *this;
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

    int fd() const { return fd_; }

private:
    void reset() noexcept {
        if (fd_ >= 0) {
            REACTOR.remove(std::exchange(fd_, -1));
        }
    }

    int fd_;
};
