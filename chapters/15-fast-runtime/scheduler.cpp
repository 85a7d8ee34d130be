#include "scheduler.hpp"

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <optional>
#include <stdexcept>

Scheduler SCHEDULER;

// Task: one spawned future, its state and its waker. Shared: the runnable queue and every
// copy of its waker hold a std::shared_ptr<Task>, and the task lives while any of them does.
//
// Its waker is built once, at spawn, and captures the task's own shared_ptr: a cycle (task ->
// waker -> task, and task -> future -> stored copies of the waker -> task). finish() breaks it
// by destroying the future and the waker the moment the task is done, so a finished task
// costs nothing but this small object, until the last stray copy of its waker is dropped.
//
// tokio packs the state, the reference count and a few more flags into one atomic word in
// the task's header, and its waker is a pointer to the task plus a static table of functions,
// so building or copying a waker never allocates and needs no std::function.
class Scheduler::Task {
public:
    // The life of a task. Wakers on any thread and run() change it with compare-and-swap, and
    // agree that way on who queues the task:
    //   idle      -> scheduled   a wake: that waker pushes the task on the queue
    //   scheduled -> running     run() pops it and polls it
    //   running   -> notified    a wake during the poll: run() queues it again afterwards
    //   running   -> idle        the poll said "not yet" and nobody woke it meanwhile
    //   notified  -> scheduled   run() puts it at the back of the queue (never re-polls inline)
    //   running or notified -> done   the poll finished it (or threw); done is final
    // A wake while scheduled or notified changes nothing: the task will be polled anyway, so
    // any number of wakes before a poll make one poll.
    enum class State : std::uint8_t { idle, scheduled, running, notified, done };

    // The default (sequentially consistent) ordering keeps the reasoning simple. Every wake
    // writes the state, even when it finds the task scheduled or notified already (it swaps
    // the state for itself), and poll() takes the task with an exchange. Both are
    // read-modify-writes, so the poll that follows a wake reads what that wake wrote, and
    // sees whatever the waker's thread did before it woke the task. A wake that only loaded
    // the state would give no such guarantee. tokio uses acquire/release for the same pairs.
    std::atomic<State> state{State::scheduled};
    std::unique_ptr<AnyFuture> future; // only run()'s thread touches it; reset when done
    std::optional<Waker> waker;        // built once, handed to every poll; reset when done
};

void Scheduler::spawn_erased(std::unique_ptr<AnyFuture> future) {
    auto task = std::make_shared<Task>();
    task->future = std::move(future);
    task->waker.emplace([this, task] { wake(task); });
    {
        std::lock_guard lock(mutex_);
        ++live_;
    }
    schedule(std::move(task)); // a new task starts scheduled: it is polled once to start it
}

void Scheduler::wake(const std::shared_ptr<Task>& task) {
    Task::State state = task->state.load();
    for (;;) {
        Task::State next;
        switch (state) {
        case Task::State::idle:
            next = Task::State::scheduled;
            break;
        case Task::State::running:
            next = Task::State::notified;
            break;
        case Task::State::done:
            return; // final: a finished task is never queued again
        default:
            next = state; // scheduled or notified: it will be polled anyway; written all the same
            break;
        }
        if (task->state.compare_exchange_weak(state, next)) {
            if (state == Task::State::idle) {
                schedule(task);
            }
            return;
        }
    }
}

void Scheduler::schedule(std::shared_ptr<Task> task) {
    std::shared_ptr<Notifier> notifier;
    {
        std::lock_guard lock(mutex_);
        runnable_.push_back(std::move(task));
        // run() is asleep in epoll_wait (or about to be) and only its reactor's notifier can
        // end that: notify once (the first wake clears the flag). Not from run()'s own thread:
        // a wake there comes from a poll or from a reactor waker inside wait(), and run()
        // looks at the queue right after either.
        if (sleeping_ && std::this_thread::get_id() != runner_) {
            sleeping_ = false;
            notifier = notifier_;
        }
    }
    if (notifier) {
        notifier->notify(); // outside the lock: it is a system call
    }
}

void Scheduler::poll(const std::shared_ptr<Task>& task) {
    task->state.exchange(Task::State::running); // an exchange, not a store: see Task::state
    bool finished = false;
    try {
        finished = task->future->poll(*task->waker);
    } catch (const std::exception& error) {
        // tokio catches a panicking task the same way and keeps the runtime going.
        std::fprintf(stderr, "task failed: %s\n", error.what());
        finished = true;
    } catch (...) {
        std::fprintf(stderr, "task failed: unknown exception\n");
        finished = true;
    }
    if (finished) {
        finish(*task);
        return;
    }
    auto expected = Task::State::running;
    if (!task->state.compare_exchange_strong(expected, Task::State::idle)) {
        // Notified: woken during its own poll. Queue it at the back; polling it again right
        // here would let one task run forever, or recurse into code that holds a lock.
        task->state.exchange(Task::State::scheduled); // reads the wake's write: see Task::state
        schedule(task);
    }
}

void Scheduler::finish(Task& task) {
    task.state.store(Task::State::done); // from now on every wake is ignored
    // Destroy the future now, on this thread: what it owns (fds, registrations, other tasks'
    // wakers) is released at once. Dropping it and the task's waker breaks the cycle.
    task.future.reset();
    task.waker.reset();
    std::lock_guard lock(mutex_);
    --live_;
}

void Scheduler::run() {
    {
        std::lock_guard lock(mutex_);
        if (running_) {
            throw std::logic_error("Scheduler::run: already running");
        }
        running_ = true;
        runner_ = std::this_thread::get_id();
        notifier_ = REACTOR.notifier(); // captured here: wakers on other threads use it
    }
    struct Stopped {
        Scheduler& scheduler;
        ~Stopped() {
            std::lock_guard lock(scheduler.mutex_);
            scheduler.running_ = false;
            scheduler.sleeping_ = false;
            scheduler.runner_ = {};
            scheduler.notifier_.reset();
        }
    } stopped{*this};

    std::size_t polls_since_io_check = 0;
    for (;;) {
        std::size_t turn;
        {
            std::lock_guard lock(mutex_);
            if (live_ == 0) {
                return; // no task left (and so none queued): the program can go on
            }
            turn = runnable_.size(); // tasks queued during this turn wait for the next one
        }
        for (; turn > 0; --turn) {
            std::shared_ptr<Task> task;
            {
                std::lock_guard lock(mutex_);
                task = std::move(runnable_.front());
                runnable_.pop_front();
            }
            poll(task);
            // Tasks waiting for I/O get their turn too: after this many polls, even in the
            // middle of a turn, look at the reactor without waiting (tokio counts the same way).
            if (++polls_since_io_check == polls_between_io_checks) {
                REACTOR.wait(0);
                polls_since_io_check = 0;
            }
        }

        bool idle;
        {
            std::lock_guard lock(mutex_);
            if (live_ == 0) {
                return;
            }
            // Decided under the same lock that wakers push under: a wake after this point
            // sees `sleeping_` and notifies, a wake before it left a task in the queue.
            idle = runnable_.empty();
            sleeping_ = idle;
        }
        if (idle) {
            // Nothing runnable: sleep until an fd is ready or a wake notifies us.
            REACTOR.wait(-1);
            polls_since_io_check = 0;
            std::lock_guard lock(mutex_);
            sleeping_ = false;
        }
    }
}

std::size_t Scheduler::live_tasks() const {
    std::lock_guard lock(mutex_);
    return live_;
}
