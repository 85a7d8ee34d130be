// Scheduler: runs tasks. A task is a spawned future whose output is Unit; the scheduler polls
// it when it is runnable, and a task becomes runnable again only when its Waker is called.
//
// The article's scheduler, as the article wrote it (the seed):
//   - Tasks are shared and reference-counted: SharedTask is std::shared_ptr<Task>, the
//     article's Arc<Mutex<dyn Future<Output = ()> + Send>>. The scheduler does not own a
//     task. The runnable queue refers to it while it waits to be polled, and so does every
//     copy of its waker, wherever a future stored one (the reactor, another thread).
//   - The queue (a std::deque under a std::mutex, the article's Mutex<VecDeque<SharedTask>>)
//     holds only runnable tasks. spawn() pushes a new task; a task's waker pushes it back.
//   - run() pops a task, makes a new waker for it, and polls it under the task's own mutex.
//     When nothing is runnable it blocks in this thread's REACTOR until some fd is ready.
//
// That is all, and stage 10 shows what it leaves open, each with a test (see docs/09):
//   - run() never returns: a loop with no way out but an exception;
//   - an exception thrown by a poll leaves run() with it, and stops every task;
//   - a wake from another thread only pushes onto the queue: if run() is asleep in
//     epoll_wait, nothing ends the sleep;
//   - every wake pushes the task again: a task woken twice is queued twice, polled twice, and
//     a task woken after it finished is polled after it finished;
//   - a finished future is never destroyed while a copy of its waker lives: the task -> future
//     -> stored waker -> task cycle keeps it, and whatever it owns (fds, registrations);
//   - a task that always wakes itself keeps the queue non-empty, so run() never reaches the
//     reactor and tasks waiting for I/O starve.
//
// Thread safety: spawn() and every waker may be called from any thread (Rust's Send + Sync).
// run() polls on the thread that calls it. Futures are moved to that thread (so they must be
// safe to move across threads: Rust's `Send`), polled and destroyed there.
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

    // Takes ownership of `future` and pushes it on the queue as a new task; run() will poll
    // it. Like spawning a thread, the caller gets nothing back: tasks return Unit, so no
    // handle is needed to collect a result.
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(F future) {
        auto task = std::make_shared<FutureTask<F>>(std::move(future));
        std::lock_guard lock(mutex_);
        runnable_.push_back(std::move(task));
    }

    // Pops and polls runnable tasks; when there are none, blocks in this thread's REACTOR
    // until a registered fd is ready, then goes on. Never returns. An exception thrown by a
    // poll leaves it (the article's panic, which unwinds through run() the same way).
    void run();

private:
    // A task: a future behind a mutex (the article's Mutex<dyn Future>). The mutex is not
    // really needed, since only run()'s thread polls; the article keeps it because Rust
    // needs it to share the task between threads without `unsafe`, and so do we.
    struct Task {
        virtual ~Task() = default;
        virtual void poll(const Waker& waker) = 0; // the output, Unit or "not yet", is dropped
        std::mutex mutex;
    };

    // Type erasure: the queue holds tasks of every future type, so each future is wrapped in
    // a FutureTask<F> behind Task's small virtual interface (the article's `dyn Future`).
    template <class F>
    struct FutureTask final : Task {
        explicit FutureTask(F f) : future(std::move(f)) {}
        void poll(const Waker& waker) override { future.poll(waker); }
        F future;
    };

    using SharedTask = std::shared_ptr<Task>;

    std::mutex mutex_;
    std::deque<SharedTask> runnable_; // the tasks to poll, in order; a task may be here twice
};

// The scheduler (the article's `static SCHEDULER`). A global, so that futures can spawn
// tasks onto it from inside poll() without being handed a scheduler, and so that it outlives
// every waker that points at it.
extern Scheduler SCHEDULER;
