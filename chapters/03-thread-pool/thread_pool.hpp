// ThreadPool: a fixed set of worker threads that take jobs from one shared queue.
//
// The pool owns its workers and every job not yet run. Workers sleep on a condition variable
// while the queue is empty; execute() queues a job and wakes one of them. The destructor lets
// the workers finish every job already handed over, then joins them.
//
// Production pools go further: tokio and rayon give each worker its own queue and let idle
// workers steal from busy ones, so workers rarely fight over one lock; tokio's blocking pool
// grows on demand (up to 512 threads) and retires threads that sit idle.
#pragma once

#include <concepts>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

// How many workers the server's pool has. Simplification: a fixed number, chosen small so a
// test needs only this many stalled clients to occupy them all; real pools size themselves
// from std::thread::hardware_concurrency(), or grow and shrink with the load.
inline constexpr std::size_t kWorkers = 4;

// Job: a callable that runs once, owned by whoever holds the Job. It is Rust's
// `Box<dyn FnOnce() + Send>`. std::function cannot hold it: std::function insists on
// copyable callables, and a lambda that owns a TcpStream is move-only. C++23 has
// std::move_only_function for this; the workbook sticks to C++20, so here is the same type
// erasure by hand: a base class with a virtual run(), one derived class per callable type.
class Job {
  public:
    template <std::invocable F>
    Job(F f) : callable_(std::make_unique<Callable<F>>(std::move(f))) {}

    void run() { callable_->run(); }

  private:
    struct Base {
        virtual ~Base() = default;
        virtual void run() = 0;
    };
    template <typename F>
    struct Callable : Base {
        explicit Callable(F f) : function(std::move(f)) {}
        void run() override { function(); }
        F function;
    };
    std::unique_ptr<Base> callable_;
};

class ThreadPool {
  public:
    // Starts `workers` threads at once; they wait for jobs. Throws std::system_error if a
    // thread cannot be started (after stopping the ones that were).
    explicit ThreadPool(std::size_t workers);

    // Runs every job already queued, then joins the workers.
    ~ThreadPool();

    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    // Queues `job` for the next free worker, and returns at once. Simplification: the queue
    // has no bound; production pools bound it and push back on the caller (or reject the job)
    // when it is full.
    void execute(Job job);

    // How many jobs wait for a worker (for tests; tokio reports it as a runtime metric).
    std::size_t queued() const;

  private:
    void work();                   // a worker's loop
    std::optional<Job> next_job(); // blocks; nullopt when the pool stops and the queue is empty
    void stop();

    mutable std::mutex mutex_; // guards jobs_ and stopping_
    std::condition_variable job_ready_;
    std::deque<Job> jobs_;
    bool stopping_ = false;
    std::vector<std::thread> workers_;
};
