// Reactor: the one place that talks to epoll, and the keeper of timers. It owns the epoll fd,
// one IoState per registered fd (its readiness, and the wakers of the tasks waiting to read
// and to write), and the timers, ordered by deadline. wait() sleeps in epoll_wait, no longer
// than until the nearest deadline, then wakes the wakers of the directions that became ready
// and of the timers that are due. It never polls a future: waking only marks a task
// runnable, and the scheduler (stage 09) does the polling.
//
// One reactor per thread: the article's `thread_local! { static REACTOR: Reactor }` is
// `thread_local Reactor REACTOR` below. Futures register their fds and timers with the
// REACTOR of the thread that polls them, and the scheduler waits on the same one. Because it
// is per thread, another thread can never reach this reactor by writing `REACTOR` (it would
// get its own): to end a wait() from another thread, use the Notifier from notifier(), a
// handle that may be copied anywhere. Everything else here runs on the reactor's own thread,
// so nothing in it takes a lock.
//
// Registrations are edge-triggered (EPOLLET), made once per socket, for reading (and for
// writing once a write would block: see Interest). An fd is reported when it becomes ready,
// not for as long as it is ready, so an idle connection costs one event, not one per wait().
// Each event sets the readiness bits it reports and wakes only the direction that became
// ready: a task waiting to read is not woken because the socket became writable. The bits
// are what a future looks at first (tokio's ScheduledIo does the same): not ready, it waits
// without a system call; ready, it makes the call, and on "would block" it clears the bit,
// because only a new edge will set it again.
#pragma once

#include "fd.hpp"
#include "waker.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <vector>

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

// Which way a task waits on a socket: to read (or accept), or to write.
enum class Direction { read, write };

// What a registration asks epoll for, at first. A socket is writable nearly all the time, so
// asking for EPOLLOUT makes epoll report it at once, an event that ends an epoll_wait and wakes
// nobody when the task waits to read. Async<T> asks for reads only, and for writes only once
// a write would block (Reactor::watch_writes): our server's writes nearly never do.
enum class Interest { read, read_and_write };

// IoState: one registered fd, as the reactor sees it (tokio's ScheduledIo). Its address is
// the epoll event's data.ptr, so an event finds it without a lookup. The reactor owns it;
// a Registration (registration.hpp) points at it for as long as the fd is registered.
class IoState {
public:
    // Not watched, the write direction is taken as ready: the first write tells.
    IoState(int fd, Interest interest)
        : fd_(fd), writes_watched_(interest == Interest::read_and_write),
          writable_(!writes_watched_) {}

    int fd() const { return fd_; }
    bool writes_watched() const { return writes_watched_; }

    // What the last events said, until a "would block" said otherwise.
    bool ready(Direction direction) const { return ready_bit(direction); }
    // Once the peer has closed (or the socket failed), reads never block again: the read
    // direction stays ready, and no edge would come to set it again.
    void clear_ready(Direction direction) {
        ready_bit(direction) = direction == Direction::read && read_closed_;
    }

    // Makes the next event for `direction` wake `waker`. A waker that wakes the same task as
    // the stored one is not stored again (the Scheduler gives a task one waker for life).
    void wake_when_ready(Direction direction, const Waker& waker) {
        std::optional<Waker>& slot = direction == Direction::read ? reader_ : writer_;
        if (!slot || !slot->will_wake(waker)) {
            slot = waker;
        }
    }

private:
    friend class Reactor;
    bool& ready_bit(Direction d) { return d == Direction::read ? readable_ : writable_; }
    bool ready_bit(Direction d) const { return d == Direction::read ? readable_ : writable_; }

    int fd_;
    IoState* prev_ = nullptr; // the reactor's list of registrations
    IoState* next_ = nullptr;
    bool writes_watched_;   // EPOLLOUT is in the interest
    bool read_closed_ = false; // EPOLLRDHUP, EPOLLHUP or EPOLLERR seen: for good
    bool readable_ = false; // a fresh registration knows nothing yet: its first event tells
    bool writable_;
    std::optional<Waker> reader_;
    std::optional<Waker> writer_;
};

class Reactor {
public:
    using Clock = std::chrono::steady_clock;

    // A timer's name: its deadline, then a number that makes it unique and keeps timers with
    // the same deadline in the order they were added.
    struct TimerKey {
        Clock::time_point deadline;
        std::uint64_t id;
        auto operator<=>(const TimerKey&) const = default;
    };

    Reactor();
    ~Reactor();
    Reactor(const Reactor&) = delete;
    Reactor& operator=(const Reactor&) = delete;

    // Registers `fd`, edge-triggered, for `interest`, and returns its IoState, which lives
    // until remove(). The fd must not be registered already (EEXIST throws): one registration
    // per socket, made when its owner is created.
    IoState& add(int fd, Interest interest = Interest::read_and_write);

    // Adds the write direction to a registration made for reads (EPOLL_CTL_MOD), after a
    // write would block. MOD looks at the fd's readiness again: if it became writable
    // meanwhile, the event is reported at the next wait(), so no edge is lost.
    void watch_writes(IoState& state);

    // Forgets the registration: takes its fd out of the epoll set and drops its wakers. Call
    // it before closing the fd; an fd closed already (EBADF) leaves nothing to undo.
    void remove(IoState& state) noexcept;

    // Calls `waker` once `deadline` has passed (from the first wait() that returns after it).
    // The key cancels it; a timer that has fired is forgotten by the reactor.
    TimerKey add_timer(Clock::time_point deadline, Waker waker);

    // Makes a waiting timer wake `waker` (kept as it is if it wakes the same task already).
    // False if the timer is not waiting any more (it fired, or was cancelled). The waker is
    // kept here, not in the future, so that a future never holds a reference to its own task.
    bool update_timer(const TimerKey& key, const Waker& waker);

    // Cancels a timer: its waker is never called. A timer that fired already (or a key that
    // was cancelled before) is nothing to cancel: no error, nothing dangles.
    void remove_timer(const TimerKey& key) noexcept;

    // Blocks until a registered fd is ready, a timer is due, notify() is called, a signal
    // arrives, or `timeout_ms` passes (-1: no limit; 0: just look), then wakes the wakers of
    // the ready directions and of the due timers.
    void wait(int timeout_ms = -1);

    // The time as the reactor last read it, once per wait() (or now, if it has not read it
    // since the last epoll_wait returned). Code that runs between two waits and only needs a
    // deadline (IdleTimer, for every request on a kept connection) uses it instead of
    // reading the clock itself: a loop iteration reads it once, however many requests it
    // serves. nginx caches its time the same way. The time is early by at most what the
    // iteration has taken so far.
    Clock::time_point now();

    // How many fds are registered (the notifier's eventfd is not counted), and how many
    // timers are waiting.
    std::size_t registrations() const { return registrations_; }
    std::size_t timers() const { return timers_.size(); }

    // The handle another thread uses to end this reactor's wait().
    std::shared_ptr<Notifier> notifier() const { return notifier_; }

private:
    int timeout_for(int timeout_ms); // shortened to the nearest deadline

    Fd epoll_;
    std::shared_ptr<Notifier> notifier_;
    // Owned here, found by address: an event carries the address, remove() gets it back.
    // Linked through the IoStates themselves, so adding and removing one allocates nothing
    // more and looks nothing up; the list is for the destructor, which drops their wakers.
    IoState* states_ = nullptr;
    std::size_t registrations_ = 0;
    std::vector<Waker> woken_; // wait()'s list of wakers to call, kept for its capacity
    // Ordered by deadline: the first is the next to fire (libuv keeps a heap; tokio a wheel).
    std::map<TimerKey, Waker> timers_;
    std::uint64_t next_timer_id_ = 0;
    std::optional<Clock::time_point> now_; // read since the last epoll_wait returned
};

// This thread's reactor (the article's `thread_local! REACTOR`), created on first use.
extern thread_local Reactor REACTOR;
