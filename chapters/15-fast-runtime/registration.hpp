// Registration: keeps an fd registered with this thread's REACTOR for as long as it lives,
// and is the way to its IoState: the readiness bits and the wakers of each direction.
//
// A future that waits on an fd holds one, declared after the member that owns the fd:
// members are destroyed in reverse order, so the registration is removed first, then the fd
// is closed. However the future ends (finished, failed with an exception, finished early on
// an error path, or destroyed unfinished), the fd leaves the epoll set and the reactor drops
// the wakers, which are references to the task. The article's Handler removes its fd by hand
// on the happy path only; every early return leaks the registration (and the task with it).
//
// Two ways to use it. Async<T> (async_net.hpp) makes one with the fd alone, when the socket
// is wrapped, and asks poll_ready() before every call. A hand-written future that only needs
// "wake me when anything happens" (stage 14's `REACTOR.add(fd, waker)`) gives the waker at
// once: it is woken for either direction.
//
// REACTOR is per thread: create and destroy a Registration on the same thread (a future is
// polled and destroyed on the thread that runs the scheduler).
#pragma once

#include "reactor.hpp"
#include "waker.hpp"

#include <utility>

class Registration {
public:
    explicit Registration(int fd, Interest interest = Interest::read)
        : state_(&REACTOR.add(fd, interest)) {}
    Registration(int fd, const Waker& waker) : Registration(fd, Interest::read_and_write) {
        state_->wake_when_ready(Direction::read, waker);
        state_->wake_when_ready(Direction::write, waker);
    }
    ~Registration() { reset(); }

    Registration(Registration&& other) noexcept : state_(std::exchange(other.state_, nullptr)) {}
    Registration& operator=(Registration&& other) noexcept {
        if (this != &other) {
            reset();
            state_ = std::exchange(other.state_, nullptr);
        }
        return *this;
    }
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;

    int fd() const { return state_ ? state_->fd() : -1; }

    // True if the last event said `direction` is ready (and no "would block" said otherwise
    // since). If not, `waker` is kept for the next event of that direction: the caller may
    // return "not yet" without trying the system call.
    bool poll_ready(Direction direction, const Waker& waker) {
        if (state_->ready(direction)) {
            return true;
        }
        state_->wake_when_ready(direction, waker);
        return false;
    }

    // The caller knows that `direction` is not ready any more (a short read): clears the bit.
    void drained(Direction direction) { state_->clear_ready(direction); }

    // After a "would block": the readiness was stale. Clears it and keeps `waker` for the
    // next edge, which the kernel reports only once the fd is ready again.
    void would_block(Direction direction, const Waker& waker) {
        state_->clear_ready(direction);
        state_->wake_when_ready(direction, waker);
        if (direction == Direction::write && !state_->writes_watched()) {
            REACTOR.watch_writes(*state_); // the first write that blocks: watch writes from now on
        }
    }

private:
    void reset() noexcept {
        if (state_) {
            REACTOR.remove(*std::exchange(state_, nullptr));
        }
    }

    IoState* state_; // owned by REACTOR, until reset()
};
