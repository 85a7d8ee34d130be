#include "scheduler.hpp"

#include <cstdio>
#include <exception>
#include <stdexcept>

Scheduler SCHEDULER;

namespace {

// The life of a task, in the low bits of its header's word. Wakers on any thread and run()
// change it with compare-and-swap, and agree that way on who queues the task:
//   idle      -> scheduled   a wake: that waker pushes the task on a run queue
//   scheduled -> running     run() pops it and polls it
//   running   -> notified    a wake during the poll: run() queues it again afterwards
//   running   -> idle        the poll said "not yet" and nobody woke it meanwhile
//   notified  -> scheduled   run() puts it at the back of the queue (never re-polls inline)
//   running or notified -> done   the poll finished it (or threw); done is final
// A wake while scheduled or notified changes nothing: the task will be polled anyway, so
// any number of wakes before a poll make one poll.
enum State : std::uint64_t { idle, scheduled, running, notified, done };

constexpr std::uint64_t state_bits = 0b111;
constexpr std::uint64_t one_reference = 0b1000; // the count sits above the state's bits

State state_of(std::uint64_t word) { return static_cast<State>(word & state_bits); }
std::uint64_t with_state(std::uint64_t word, State state) { return (word & ~state_bits) | state; }

// The default (sequentially consistent) ordering keeps the reasoning simple, as in stage 14.
// Every wake writes the word, even when it finds the task scheduled or notified already,
// and poll() takes the task with a read-modify-write too. So the poll that follows a wake
// reads what that wake wrote, and sees whatever the waker's thread did before it woke the
// task. tokio uses acquire/release for the same pairs.
//
// Moves the state from whatever `next` accepts to what it returns, keeping the references.
// `next` returns std::nullopt to leave the word alone. Returns the state it found.
template <class Next>
State transition(std::atomic<std::uint64_t>& word, Next next) {
    std::uint64_t seen = word.load();
    for (;;) {
        std::optional<State> to = next(state_of(seen));
        if (!to) {
            return state_of(seen);
        }
        if (word.compare_exchange_weak(seen, with_state(seen, *to))) {
            return state_of(seen);
        }
    }
}

// The waker handed to a poll borrows the task's own reference instead of counting one:
// Rust's `waker_ref`. A union member's destructor does not run, so it never drops it. A
// future that keeps the waker copies it, and the copy counts.
union BorrowedWaker {
    BorrowedWaker(void* task, const WakerVTable* vtable) : waker(task, vtable) {}
    ~BorrowedWaker() {}
    Waker waker;
};

// The Scheduler whose run() this thread is in, if any: a wake from that thread needs no lock.
thread_local const void* scheduler_running_here = nullptr;

} // namespace

// ---- The task's waker: its address and these three functions. ----------------------------

const WakerVTable Scheduler::task_waker_vtable{
    [](void* task) {
        // relaxed: a copy is made from a live copy, which keeps the task alive meanwhile.
        static_cast<TaskHeader*>(task)->word.fetch_add(one_reference, std::memory_order_relaxed);
    },
    [](void* task) {
        auto* header = static_cast<TaskHeader*>(task);
        header->scheduler.wake(header);
    },
    [](void* task) { release(static_cast<TaskHeader*>(task)); },
};

void Scheduler::release(TaskHeader* task) {
    // The last reference frees the block. Until the task is done the task holds one itself
    // (see spawn_task), so this runs only once the future is gone, on whichever thread dropped
    // the last waker: it frees memory, and destroys nothing of the future's.
    if ((task->word.fetch_sub(one_reference) & ~state_bits) == one_reference) {
        delete task;
    }
}

// ---- Spawning and waking. ----------------------------------------------------------------

void Scheduler::spawn_task(TaskHeader* task) {
    // One reference, the task's own, dropped by finish(); a new task starts scheduled: it is
    // polled once to start it.
    task->word.store(one_reference | State::scheduled);
    ++live_;
    schedule(task);
}

void Scheduler::wake(TaskHeader* task) {
    State was = transition(task->word, [](State state) -> std::optional<State> {
        switch (state) {
        case State::idle:
            return State::scheduled;
        case State::running:
            return State::notified;
        case State::done:
            return std::nullopt; // final: a finished task is never queued again
        default:
            return state; // scheduled or notified: polled anyway; written all the same
        }
    });
    if (was == State::idle) {
        schedule(task);
    }
}

void Scheduler::schedule(TaskHeader* task) {
    if (scheduler_running_here == this) {
        // A wake from a poll, or from the reactor inside run()'s wait(): run() looks at the
        // local queue right after either, so no lock and no notification.
        local_.push_back(task);
        return;
    }
    std::shared_ptr<Notifier> notifier;
    {
        std::lock_guard lock(mutex_);
        injected_.push_back(task);
        has_injected_.store(true);
        // run() is asleep in epoll_wait (or about to be) and only its reactor's notifier can
        // end that: notify once (the first wake clears the flag). See sleep_if_idle().
        if (sleeping_.exchange(false)) {
            notifier = notifier_;
        }
    }
    if (notifier) {
        notifier->notify(); // outside the lock: it is a system call
    }
}

// ---- Polling. ----------------------------------------------------------------------------

void Scheduler::poll(TaskHeader* task) {
    // scheduled -> running, with a read-modify-write (see transition()).
    task->word.fetch_add(State::running - State::scheduled);
    // A fresh budget for this poll (see coop in scheduler.hpp), and none once it is over.
    struct Budget {
        Budget() { coop::budget = coop::budget_per_poll; }
        ~Budget() { coop::budget = coop::unlimited; }
    } budget;
    BorrowedWaker waker(task, &task_waker_vtable);
    bool finished = false;
    try {
        finished = task->poll(waker.waker);
    } catch (const std::exception& error) {
        // tokio catches a panicking task the same way and keeps the runtime going.
        std::fprintf(stderr, "task failed: %s\n", error.what());
        finished = true;
    } catch (...) {
        std::fprintf(stderr, "task failed: unknown exception\n");
        finished = true;
    }
    if (finished) {
        finish(task);
        return;
    }
    State was = transition(task->word, [](State state) -> std::optional<State> {
        return state == State::running ? State::idle : State::scheduled; // notified: queue again
    });
    if (was == State::notified) {
        // Woken during its own poll. Queue it at the back; polling it again right here would
        // let one task run forever, or recurse into code that holds a lock.
        schedule(task);
    }
}

void Scheduler::finish(TaskHeader* task) {
    transition(task->word, [](State) { return std::optional(State::done); }); // wakes are ignored now
    // Destroy the future now, on this thread: what it owns (fds, registrations, other tasks'
    // wakers) is released at once. Then drop the task's own reference: the block goes with
    // the last copy of its waker.
    task->drop_future();
    --live_;
    release(task);
}

// ---- run(). ------------------------------------------------------------------------------

void Scheduler::run() {
    {
        std::lock_guard lock(mutex_);
        if (running_) {
            throw std::logic_error("Scheduler::run: already running");
        }
        running_ = true;
        notifier_ = REACTOR.notifier(); // captured here: wakers on other threads use it
    }
    scheduler_running_here = this;
    struct Stopped {
        Scheduler& scheduler;
        ~Stopped() {
            scheduler_running_here = nullptr;
            std::lock_guard lock(scheduler.mutex_);
            scheduler.running_ = false;
            scheduler.sleeping_.store(false);
            scheduler.notifier_.reset();
        }
    } stopped{*this};

    std::size_t polls_since_io_check = 0;
    for (;;) {
        if (live_ == 0) {
            return; // no task left (and so none queued): the program can go on
        }
        if (has_injected_.load()) { // a hint: a task injected after this is seen below
            std::lock_guard lock(mutex_);
            local_.append(injected_);
            has_injected_.store(false);
        }
        for (std::size_t turn = local_.size(); turn > 0; --turn) { // later wakes: next turn
            poll(local_.pop_front());
            // Tasks waiting for I/O get their turn too: after this many polls, even in the
            // middle of a turn, look at the reactor without waiting (tokio counts the same way).
            if (++polls_since_io_check == polls_between_io_checks) {
                REACTOR.wait(0);
                polls_since_io_check = 0;
            }
        }
        if (live_ == 0) {
            return;
        }
        if (local_.empty() && sleep_if_idle()) {
            polls_since_io_check = 0;
        }
    }
}

bool Scheduler::sleep_if_idle() {
    // No lock: two sequentially consistent atomics, written in opposite orders. We write
    // `sleeping_`, then read `has_injected_`; a waker on another thread writes
    // `has_injected_`, then exchanges `sleeping_`. One of the two must see the other's write:
    // either we see the injected task and do not sleep, or the waker sees us asleep and
    // notifies (both may happen: then the notification is spare, and the next wait returns
    // at once). Stage 14 made the same decision under the mutex, twice per sleep.
    sleeping_.store(true);
    if (has_injected_.load()) {
        sleeping_.store(false);
        return false;
    }
    // Nothing runnable: sleep until an fd is ready, a timer is due, or a wake notifies us.
    REACTOR.wait(-1);
    sleeping_.store(false);
    return true;
}

// ---- TaskList. ---------------------------------------------------------------------------

void Scheduler::TaskList::push_back(TaskHeader* task) {
    task->next = nullptr;
    (tail_ != nullptr ? tail_->next : head_) = task;
    tail_ = task;
    ++size_;
}

Scheduler::TaskHeader* Scheduler::TaskList::pop_front() {
    TaskHeader* task = head_;
    head_ = task->next;
    if (head_ == nullptr) {
        tail_ = nullptr;
    }
    --size_;
    return task;
}

void Scheduler::TaskList::append(TaskList& other) {
    if (other.empty()) {
        return;
    }
    (tail_ != nullptr ? tail_->next : head_) = other.head_;
    tail_ = other.tail_;
    size_ += std::exchange(other.size_, 0);
    other.head_ = other.tail_ = nullptr;
}
