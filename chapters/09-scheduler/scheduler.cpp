#include "scheduler.hpp"

Scheduler SCHEDULER;

void Scheduler::run() {
    for (;;) {
        for (;;) {
            // Pop a runnable task off the queue (the lock is held for the pop only).
            SharedTask task;
            {
                std::lock_guard lock(mutex_);
                if (runnable_.empty()) {
                    break;
                }
                task = std::move(runnable_.front());
                runnable_.pop_front();
            }

            // A waker that pushes the task back onto the queue, made anew for every poll. It
            // holds a reference to the task: this is why tasks are shared. (The article's
            // waker names the global SCHEDULER; ours names the scheduler it belongs to, which
            // is the same when there is only one, and lets a test have its own.)
            Waker waker([this, task] {
                std::lock_guard lock(mutex_);
                runnable_.push_back(task);
            });

            // Poll it, under the task's mutex.
            std::lock_guard task_lock(task->mutex);
            task->poll(waker);
        }

        // No runnable task: block in epoll until something becomes ready.
        REACTOR.wait();
    }
}
