#include "scheduler.hpp"

Scheduler SCHEDULER;

// Task: one spawned future, behind a mutex (the article's Arc<Mutex<dyn Future>>). Shared:
// the runnable queue and every copy of its waker hold a std::shared_ptr<Task>, and the task
// lives while any of them does.
//
// The mutex is not really needed, since only run()'s thread polls. The article says so, and
// keeps it because Rust needs it to share the task between threads without `unsafe`.
class Scheduler::Task {
public:
    std::mutex mutex; // held during each poll
    std::unique_ptr<AnyFuture> future;
};

void Scheduler::spawn_erased(std::unique_ptr<AnyFuture> future) {
    auto task = std::make_shared<Task>();
    task->future = std::move(future);
    schedule(std::move(task));
}

void Scheduler::schedule(std::shared_ptr<Task> task) {
    std::lock_guard lock(mutex_);
    runnable_.push_back(std::move(task));
}

void Scheduler::run() {
    for (;;) {
        for (;;) {
            // Pop a runnable task off the queue (the lock is held for the pop only).
            std::shared_ptr<Task> task;
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
            Waker waker([this, task] { schedule(task); });

            // Poll it, under the task's mutex. Whether it finished is not looked at.
            std::lock_guard task_lock(task->mutex);
            task->future->poll(waker);
        }

        // No runnable task: block in epoll until something becomes ready.
        REACTOR.wait();
    }
}
