#include "thread_pool.hpp"

#include <cstdio>
#include <exception>

ThreadPool::ThreadPool(std::size_t workers) {
    try {
        for (std::size_t i = 0; i < workers; ++i) {
            workers_.emplace_back([this] { work(); });
        }
    } catch (...) {
        // A std::thread destroyed while still joinable calls std::terminate, so the workers
        // already started must be stopped and joined before the exception leaves.
        stop();
        throw;
    }
}

ThreadPool::~ThreadPool() {
    stop();
}

void ThreadPool::stop() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    job_ready_.notify_all();
    for (std::thread& worker : workers_) {
        worker.join();
    }
    workers_.clear();
}

void ThreadPool::execute(Job job) {
    {
        std::lock_guard lock(mutex_);
        jobs_.push_back(std::move(job));
    }
    // Notify after unlocking, so the woken worker does not wake only to wait for the lock.
    job_ready_.notify_one();
}

std::size_t ThreadPool::queued() const {
    std::lock_guard lock(mutex_);
    return jobs_.size();
}

std::optional<Job> ThreadPool::next_job() {
    std::unique_lock lock(mutex_);
    // The predicate guards against spurious wakeups, and against a notify that came before
    // this worker started waiting: the condition is re-checked under the lock.
    job_ready_.wait(lock, [this] { return stopping_ || !jobs_.empty(); });
    if (jobs_.empty()) {
        return std::nullopt; // stopping, and nothing left to run
    }
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
}

void ThreadPool::work() {
    while (std::optional<Job> job = next_job()) {
        // The job runs without the lock, so other workers can take jobs meanwhile.
        try {
            job->run();
        } catch (const std::exception& error) {
            // An exception that escaped a worker would call std::terminate and end the whole
            // process. The pool reports it and the worker takes the next job: whoever called
            // execute() has long returned and cannot be told. (Rust's threadpool crate lets a
            // panic end its worker, then starts a new worker in its place.)
            std::fprintf(stderr, "thread pool: a job failed: %s\n", error.what());
        } catch (...) {
            std::fprintf(stderr, "thread pool: a job failed\n");
        }
    }
}
