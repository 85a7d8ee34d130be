// Reactor: the one place that talks to epoll. It owns the epoll fd and a map from each
// registered fd to the Waker of the task waiting on it; wait() sleeps in epoll_wait and wakes
// the wakers of the fds that became ready. It never polls a future: waking only marks a task
// runnable, and the scheduler (stage 09) does the polling.
//
// One reactor per thread: the article's `thread_local! { static REACTOR: Reactor }` is
// `thread_local Reactor REACTOR` below. Futures register their fds with the REACTOR of the
// thread that polls them, and the scheduler waits on the same one. Because it is per thread,
// another thread can never reach this reactor by writing `REACTOR` (it would get its own):
// to end a wait() from another thread, use the Notifier from notifier(), a handle that may
// be copied anywhere.
//
// Registrations are edge-triggered (EPOLLET) for reading and writing at once. An fd is
// reported when it becomes ready, not for as long as it is ready, so an idle connection (a
// socket is writable nearly all the time) costs one wake-up, not one per wait(). The rule
// that comes with it, for every future: after a wake, read (or write) until the call says
// "would block"; only a new change of readiness brings a new wake. Spurious wakes happen
// (the first event of a fresh registration, a write-ready edge while waiting to read), so a
// woken future re-checks and may simply return "not yet" again.
#pragma once

#include "fd.hpp"
#include "waker.hpp"

#include <cstddef>
#include <memory>
#include <unordered_map>

// Notifier: ends a Reactor's wait() from any thread. It owns an eventfd that the reactor
// watches; notify() writes to it. Shared (std::shared_ptr) between the reactor and whoever
// may notify it, so it stays valid even if the reactor's thread is gone (writing to an
// eventfd nobody watches is harmless).
class Notifier {
public:
    Notifier();

    // Makes the reactor's wait() return: at once if it is blocked, otherwise the next time it
    // is called. Callable from any thread, any number of times.
    void notify() const noexcept;

    int fd() const { return eventfd_.get(); }

private:
    Fd eventfd_;
};

class Reactor {
public:
    Reactor();
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Calls `waker` whenever `fd` becomes readable or writable, or hangs up, until remove(fd).
    // Adding an fd that is already registered only replaces its waker.
    void add(int fd, Waker waker);

    // Forgets `fd`: takes it out of the epoll set and drops its waker. Call it before closing
    // the fd. Removing an fd that is not registered (or already closed) does nothing.
    void remove(int fd) noexcept;

    // Blocks until a registered fd is ready, notify() is called, a signal arrives, or
    // `timeout_ms` passes (-1: no limit; 0: just look), then wakes the wakers of the ready fds.
    void wait(int timeout_ms = -1);

    // How many fds are registered (the notifier's eventfd is not counted).
    std::size_t registrations() const { return wakers_.size(); }

    // The handle another thread uses to end this reactor's wait().
    std::shared_ptr<Notifier> notifier() const { return notifier_; }

private:
    Fd epoll_;
    std::shared_ptr<Notifier> notifier_;
    std::unordered_map<int, Waker> wakers_; // by fd; the article's `tasks`
};

// This thread's reactor (the article's `thread_local! REACTOR`), created on first use.
extern thread_local Reactor REACTOR;
