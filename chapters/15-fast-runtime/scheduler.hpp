// Scheduler: runs tasks. A task is a spawned future whose output is Unit; the scheduler polls
// it when it is runnable, and a task becomes runnable again only when its Waker is called.
//
// The seed's design, with its holes closed:
//   - Tasks are shared and reference-counted (std::shared_ptr<Task>, the article's
//     Arc<Mutex<dyn Future>>): the scheduler does not own a task. The runnable queue refers
//     to it while it waits to be polled, and so does every copy of its waker, wherever a
//     future stored one (the reactor, another thread).
//   - The queue (a std::deque under a std::mutex) holds only runnable tasks. spawn() pushes a
//     new task; a task's waker pushes it back. run() pops and polls; when nothing is
//     runnable it sleeps in this thread's REACTOR until some fd is ready or a wake arrives.
//   - Each task has a state (idle, scheduled, running, notified, done): a task is queued at
//     most once, a wake during its poll is kept for after the poll, and a finished task is
//     never polled again. Its future is destroyed as soon as it finishes.
//   - A wake from another thread while run() sleeps in epoll_wait ends the sleep, through the
//     Notifier of the sleeping thread's reactor.
//   - Fairness: each turn polls only the tasks queued when it began, and after at most
//     polls_between_io_checks polls, counted one by one even in the middle of a turn, run()
//     looks at the reactor for ready fds, so tasks that keep waking themselves cannot starve
//     I/O. A task the reactor wakes then waits behind the tasks queued before it.
//   - An exception thrown by a task's poll ends that task only (reported on stderr).
//   - run() returns when no task is left.
//
// Thread safety: spawn() and every waker may be called from any thread, at any time. run()
// polls on the thread that calls it. Futures are moved to that thread (so they must be safe
// to move across threads: Rust's `Send`), polled and destroyed there. One run() at a time.
//
// Lifetime: a task's waker points at its scheduler, so a Scheduler must outlive every copy of
// its tasks' wakers (SCHEDULER, a global, does). A task still pending when the program ends
// is never destroyed: only finishing breaks its task -> waker -> task cycle.
#pragma once

#include "future.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <concepts>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <utility>

class Scheduler {
public:
    Scheduler() = default;
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Takes ownership of `future` and queues it as a new task; run() will poll it. Like
    // spawning a thread, the caller gets nothing back: tasks return Unit, so no handle is
    // needed to collect a result.
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(F future) {
        spawn_erased(std::make_unique<ErasedFuture<F>>(std::move(future)));
    }

    // Polls runnable tasks, and sleeps in this thread's REACTOR when there are none, until
    // every task spawned so far (or while it runs) has finished. Throws std::logic_error if
    // run() is already running (for instance when a task calls it).
    void run();

    // While tasks stay runnable, run() looks at the reactor (epoll_wait with timeout 0) each
    // time it has polled this many tasks since its last look, not after every poll or turn:
    // a look is a system call, and a busy server would pay it for every small batch of
    // tasks. tokio's current-thread scheduler uses the same number (its event_interval).
    static constexpr std::size_t polls_between_io_checks = 61;

    // Tasks spawned and not finished yet.
    std::size_t live_tasks() const;

private:
    // Type erasure: the queue holds tasks of every future type, so each future is wrapped in
    // an ErasedFuture<F> behind this small virtual interface. poll() is the one virtual call
    // per poll; the future's own code stays statically typed.
    struct AnyFuture {
        virtual ~AnyFuture() = default;
        virtual bool poll(const Waker& waker) = 0; // true once the future is done
    };

    template <class F>
    struct ErasedFuture final : AnyFuture {
        explicit ErasedFuture(F f) : future(std::move(f)) {}
        bool poll(const Waker& waker) override { return future.poll(waker).has_value(); }
        F future;
    };

    class Task; // scheduler.cpp

    void spawn_erased(std::unique_ptr<AnyFuture> future);
    void wake(const std::shared_ptr<Task>& task);
    void schedule(std::shared_ptr<Task> task);
    void poll(const std::shared_ptr<Task>& task);
    void finish(Task& task);

    mutable std::mutex mutex_;                  // guards everything below
    std::deque<std::shared_ptr<Task>> runnable_; // only scheduled tasks, each at most once
    std::size_t live_ = 0;                       // spawned and not finished
    bool running_ = false;                       // run() is in progress
    bool sleeping_ = false;                      // run() is (about to be) blocked in wait(-1)
    std::thread::id runner_;                     // the thread in run()
    std::shared_ptr<Notifier> notifier_;         // that thread's reactor's notifier
};

// The scheduler (the article's `static SCHEDULER`). A global, so that futures can spawn
// tasks onto it from inside poll() without being handed a scheduler, and so that it outlives
// every waker that points at it. Tests share it too, so each test must leave it empty: every
// task it spawns finished by the time the test ends.
extern Scheduler SCHEDULER;
