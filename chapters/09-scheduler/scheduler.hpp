// Scheduler: runs tasks. A task is a spawned future whose output is Unit; the scheduler polls
// it when it is runnable, and a task becomes runnable again only when its Waker is called.
//
// The seed's design, as the article wrote it:
//   - Tasks are shared and reference-counted (std::shared_ptr<Task>, the article's
//     Arc<Mutex<dyn Future>>): the scheduler does not own a task. The runnable queue refers
//     to it while it waits to be polled, and so does every copy of its waker, wherever a
//     future stored one (the reactor, another thread).
//   - The queue (a std::deque under a std::mutex) holds only runnable tasks. spawn() pushes a
//     new task; a task's waker pushes it back. run() pops and polls; when nothing is
//     runnable it sleeps in this thread's REACTOR until some fd is ready.
//   - Every poll gets a waker made for it, and takes the task's mutex.
//
// Its holes, each shown by a test named "hole: ..." (stage 10 closes them):
//   - every wake pushes the task again: a task woken twice is polled twice, and a task woken
//     after it finished is polled after it finished;
//   - a wake from another thread only pushes onto the queue: if run() is asleep in
//     epoll_wait, nothing ends the sleep;
//   - an exception thrown by a poll leaves run() with it, and stops every task;
//   - a finished future is not destroyed while a copy of its waker lives: the task -> future
//     -> stored waker -> task cycle keeps it, and whatever it owns (fds, registrations);
//   - run() can be called from inside a task, and never returns at all;
//   - a task that always wakes itself keeps the queue non-empty, so run() never looks at the
//     reactor, and tasks waiting for I/O starve.
//
// Thread safety: spawn() and every waker may be called from any thread, at any time. run()
// polls on the thread that calls it. Futures are moved to that thread (so they must be safe
// to move across threads: Rust's `Send`), polled and destroyed there.
#pragma once

#include "future.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <concepts>
#include <deque>
#include <memory>
#include <mutex>
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

    // Polls runnable tasks, and sleeps in this thread's REACTOR when there are none, forever:
    // it never returns. An exception thrown by a poll leaves it (as the article's panic
    // unwinds through run()).
    void run();

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
    void schedule(std::shared_ptr<Task> task);

    std::mutex mutex_;                           // guards runnable_
    std::deque<std::shared_ptr<Task>> runnable_; // a task is here once per wake
};

// The scheduler (the article's `static SCHEDULER`). A global, so that futures can spawn
// tasks onto it from inside poll() without being handed a scheduler, and so that it outlives
// every waker that points at it.
extern Scheduler SCHEDULER;
