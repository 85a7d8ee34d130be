// ThreadPool on its own: plain jobs, no sockets. Jobs wait at a std::latch (a one-shot gate)
// and report to a Concurrency counter, so the tests order events without sleeping.
#include "thread_pool.hpp"

#include "server_process.hpp"

#include <doctest/doctest.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <latch>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;

namespace {

// Counts the jobs running right now and the most that ever ran at once. The test thread can
// wait, with a deadline, until a given number are running.
class Concurrency {
  public:
    void enter() {
        std::lock_guard lock(mutex_);
        ++running_;
        most_ = std::max(most_, running_);
        changed_.notify_all();
    }
    void leave() {
        std::lock_guard lock(mutex_);
        --running_;
        ++finished_;
        changed_.notify_all();
    }
    bool wait_until_running(std::size_t n, std::chrono::milliseconds timeout) {
        std::unique_lock lock(mutex_);
        return changed_.wait_for(lock, timeout, [&] { return running_ == n; });
    }
    std::size_t most() {
        std::lock_guard lock(mutex_);
        return most_;
    }
    std::size_t finished() {
        std::lock_guard lock(mutex_);
        return finished_;
    }

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    std::size_t running_ = 0;
    std::size_t most_ = 0;
    std::size_t finished_ = 0;
};

int threads_of_this_process() {
    return testing::thread_count(::getpid());
}

} // namespace

TEST_CASE("every job handed to the pool runs, on one of its workers, never on the caller") {
    std::mutex mutex;
    std::set<std::thread::id> threads;
    int ran = 0;
    {
        ThreadPool pool(kWorkers);
        for (int i = 0; i < 100; ++i) {
            pool.execute([&] {
                std::lock_guard lock(mutex);
                threads.insert(std::this_thread::get_id());
                ++ran;
            });
        }
    } // the destructor returns once every job has run
    CHECK(ran == 100);
    CHECK(threads.size() <= kWorkers);
    CHECK(threads.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("a job may own move-only state, as a connection's job owns its TcpStream") {
    std::atomic<int> seen = 0;
    {
        ThreadPool pool(1);
        pool.execute([value = std::make_unique<int>(42), &seen] { seen = *value; });
    }
    CHECK(seen == 42);
}

TEST_CASE("at most kWorkers jobs run at once; the others wait in the queue, not on new threads") {
    const int threads_before = threads_of_this_process();
    Concurrency jobs;
    std::latch gate(1);
    constexpr std::size_t total = 3 * kWorkers;
    {
        ThreadPool pool(kWorkers);
        for (std::size_t i = 0; i < total; ++i) {
            pool.execute([&] {
                jobs.enter();
                gate.wait();
                jobs.leave();
            });
        }
        // Each worker is now inside a job that waits at the gate...
        CHECK(jobs.wait_until_running(kWorkers, 5s));
        // ...so the other jobs stay queued, and the pool started no thread for them.
        CHECK(pool.queued() == total - kWorkers);
        CHECK(threads_of_this_process() == threads_before + static_cast<int>(kWorkers));
        gate.count_down(); // (even if a CHECK failed: the destructor waits for the jobs)
    }
    CHECK(jobs.finished() == total);
    CHECK(jobs.most() == kWorkers);
}

TEST_CASE("the destructor lets the running job and every queued job finish, then joins") {
    std::latch started(1);
    std::latch gate(1);
    std::atomic<int> finished = 0;
    {
        ThreadPool pool(1);
        pool.execute([&] {
            started.count_down();
            gate.wait();
            ++finished;
        });
        pool.execute([&] { ++finished; });
        started.wait();
        CHECK(pool.queued() == 1); // the first job runs, the second waits for the only worker
        gate.count_down();         // the first job may still be running as the destructor starts
    }
    CHECK(finished == 2);
}

TEST_CASE("a job that throws does not take its worker down: the next job still runs") {
    // One worker, so if the exception ended it nobody would run the second job. (Had the
    // exception escaped the worker's thread, std::terminate would end this whole test
    // program.) The pool reports the failure on stderr: "thread pool: a job failed: ...".
    std::atomic<bool> ran = false;
    {
        ThreadPool pool(1);
        pool.execute([] { throw std::runtime_error("a job that fails on purpose"); });
        pool.execute([&] { ran = true; });
    }
    CHECK(ran);
}
