// Scheduler: runs tasks. A task is a spawned future whose output is Unit; the scheduler polls
// it when it is runnable, and a task becomes runnable again only when its Waker is called.
//
// Stage 14's design and guarantees, made as cheap as tokio's current-thread scheduler:
//   - One allocation per task. A task is one block, a TaskHeader followed by the future
//     itself (TaskCell<F>): no shared_ptr, no separate future, no std::function. The header
//     holds the task's state and its reference count in one atomic word; its virtual
//     functions are the task's table of functions, one per future type.
//   - Its waker is two words, the task's address and a static table (waker.hpp): copying
//     one increments the count in the header, and never allocates.
//   - Two run queues. A wake on run()'s own thread (from a poll, or from the reactor inside
//     run()'s wait) pushes the task on the local queue, which only that thread touches: no
//     lock. A wake from another thread pushes it on the injection queue, under a mutex, and
//     writes the reactor's eventfd only if run() is asleep; the first such wake clears the
//     flag, so several in a row write it once. The queues are lists threaded through the
//     tasks' headers: queueing a task allocates nothing.
//   - Each task has a state (idle, scheduled, running, notified, done): a task is queued at
//     most once, a wake during its poll is kept for after the poll, and a finished task is
//     never polled again. Its future is destroyed as soon as it finishes.
//   - Fairness: each turn polls only the tasks queued when it began, and after at most
//     polls_between_io_checks polls, counted one by one even in the middle of a turn, run()
//     looks at the reactor for ready fds, so tasks that keep waking themselves cannot starve
//     I/O. A task the reactor wakes then waits behind the tasks queued before it.
//   - A cooperative budget (coop, below): a task whose sockets are always ready yields after
//     coop::budget_per_poll operations instead of keeping the thread.
//   - An exception thrown by a task's poll ends that task only (reported on stderr).
//   - run() returns when no task is left.
//
// Thread safety: spawn() and every waker may be called from any thread, at any time. run()
// polls on the thread that calls it. Futures are moved to that thread (so they must be safe
// to move across threads: Rust's `Send`), polled and destroyed there. One run() at a time.
//
// Lifetime: a task's waker points at its scheduler, so a Scheduler must outlive every copy of
// its tasks' wakers (SCHEDULER, a global, does). A task holds a reference to itself until it
// finishes, as stage 14's did through its waker: a task still pending when the program ends
// is never destroyed. A finished task's block is freed with the last copy of its waker.
#pragma once

#include "future.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>

class Scheduler {
public:
    Scheduler() = default;
    Scheduler(const Scheduler&) = delete;
    Scheduler& operator=(const Scheduler&) = delete;

    // Takes ownership of `future` and queues it as a new task; run() will poll it. Like
    // spawning a thread, the caller gets nothing back: tasks return Unit, so no handle is
    // needed to collect a result. The one allocation: the task's block, future inside.
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(F future) {
        spawn_task(new TaskCell<F>(*this, std::move(future)));
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
    std::size_t live_tasks() const { return live_.load(); }

private:
    // The start of every task, whatever its future's type. Its virtual functions are the
    // task's table of functions (a C++ vtable is tokio's task vtable); everything else the
    // scheduler needs is here, so run queues and wakers see only TaskHeader*.
    struct TaskHeader {
        explicit TaskHeader(Scheduler& owner) : scheduler(owner) {}
        virtual ~TaskHeader() = default;
        virtual bool poll(const Waker& waker) = 0; // true once the future is done
        virtual void drop_future() noexcept = 0;   // destroys the future, keeps the block

        // The state (the low bits, State) and the reference count (the rest, in units of
        // one_reference), in one word, so one compare-and-swap can move the state while
        // wakers on other threads copy and drop references (scheduler.cpp).
        std::atomic<std::uint64_t> word;
        TaskHeader* next = nullptr; // the run queue's link, while the task is queued
        Scheduler& scheduler;
    };

    template <class F>
    struct TaskCell final : TaskHeader {
        TaskCell(Scheduler& owner, F f) : TaskHeader(owner), future(std::move(f)) {}
        bool poll(const Waker& waker) override { return future->poll(waker).has_value(); }
        void drop_future() noexcept override { future.reset(); }
        std::optional<F> future; // reset the moment the task is done
    };

    // A FIFO of tasks, linked through their headers: pushing and popping allocate nothing.
    class TaskList {
    public:
        bool empty() const { return head_ == nullptr; }
        std::size_t size() const { return size_; }
        void push_back(TaskHeader* task);
        TaskHeader* pop_front();
        void append(TaskList& other); // moves all of `other`'s tasks to the back of this one

    private:
        TaskHeader* head_ = nullptr;
        TaskHeader* tail_ = nullptr;
        std::size_t size_ = 0;
    };

    static const WakerVTable task_waker_vtable; // clone, wake, drop of a task's waker
    static void release(TaskHeader* task);      // drops one reference; frees the last

    void spawn_task(TaskHeader* task);
    void wake(TaskHeader* task);
    void schedule(TaskHeader* task);
    void poll(TaskHeader* task);
    void finish(TaskHeader* task);
    bool sleep_if_idle(); // false if a task was injected meanwhile

    TaskList local_;               // run()'s thread only, no lock
    std::atomic<std::size_t> live_ = 0; // spawned and not finished

    std::atomic<bool> has_injected_ = false; // injected_ is not empty (written under the mutex)
    std::atomic<bool> sleeping_ = false;     // run() is (about to be) blocked in wait(-1)

    mutable std::mutex mutex_;     // guards everything below
    TaskList injected_;            // tasks woken or spawned from other threads
    bool running_ = false;         // run() is in progress
    std::shared_ptr<Notifier> notifier_; // that thread's reactor's notifier
};

// coop: a cooperative budget, tokio's (tokio::task::coop). While the Scheduler polls a task,
// `budget` holds what is left of the task's 128 ready operations for this poll; the futures
// of Async<T> spend one per operation that succeeds, and once it is spent they say "not yet"
// (and wake their task) even when their socket is ready. So a task whose sockets always
// have data yields after 128 operations instead of keeping the thread until it ends. Other
// futures (poll_fn, a test's own) spend nothing, as in tokio, where only its own resources
// are budgeted. Outside a task's poll (a future polled by hand) the budget is unlimited.
namespace coop {
inline constexpr int budget_per_poll = 128;
inline constexpr int unlimited = -1;
inline thread_local int budget = unlimited; // set by Scheduler::poll for each poll of a task

// False once this poll of the task has used up its budget: the caller should say "not yet".
inline bool has_budget() { return budget != 0; }
// One operation done.
inline void spend() {
    if (budget > 0) {
        --budget;
    }
}
} // namespace coop

// The scheduler (the article's `static SCHEDULER`). A global, so that futures can spawn
// tasks onto it from inside poll() without being handed a scheduler, and so that it outlives
// every waker that points at it. Tests share it too, so each test must leave it empty: every
// task it spawns finished by the time the test ends.
extern Scheduler SCHEDULER;
