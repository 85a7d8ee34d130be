// Scenario: spawns a test's tasks on a Scheduler, runs it until they have all finished, and
// says whether they did before a deadline.
//
// A Scenario adds one task of its own, the Stopper. Every task spawned through the scenario
// wakes the Stopper when it finishes, and so does a timer at the deadline. Once every task
// has finished, or the deadline has passed, the Stopper finishes too, and run() returns when
// no task is left. (Stage 09's run() never returned: there the Stopper had to throw.)
//
// FailAfter guards a call that may never return at all: past its limit it prints why and
// ends the test process with a failure.
#pragma once

#include "fd.hpp"
#include "future.hpp"
#include "registration.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <sys/timerfd.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>

class Scenario {
public:
    explicit Scenario(Scheduler& scheduler) : scheduler_(scheduler) {}

    // Spawns `future` as a task the scenario waits for. From any thread, at any time, from
    // inside a task too.
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(F future) {
        ++state_->pending;
        scheduler_.spawn(Tracked<F>{std::move(future), state_});
    }

    // Runs the scheduler until every task has finished. True if every task spawned through
    // spawn() had finished by `deadline`.
    bool run(std::chrono::milliseconds deadline = std::chrono::seconds(10)) {
        bool in_time = false;
        scheduler_.spawn(Stopper{state_, start_timer(deadline), {}, &in_time});
        scheduler_.run();
        return in_time;
    }

private:
    // What the tracked tasks and the Stopper share.
    struct State {
        std::atomic<int> pending{0}; // tracked tasks not finished yet
        std::mutex mutex;
        std::optional<Waker> stopper; // the Stopper's waker, while it waits

        void finished() {
            --pending;
            std::lock_guard lock(mutex);
            if (stopper) {
                stopper->wake();
            }
        }
    };

    // A tracked task: the test's future, which tells the Stopper when it has finished.
    template <class F>
    struct Tracked {
        using Output = Unit;
        F future;
        std::shared_ptr<State> state;
        bool finished = false;

        std::optional<Unit> poll(const Waker& waker) {
            std::optional<Unit> result;
            try {
                result = future.poll(waker);
            } catch (...) {
                result = Unit{}; // a task that throws has finished too
                end();
                throw;
            }
            if (result) {
                end();
            }
            return result;
        }

        void end() {
            if (!finished) {
                finished = true;
                state->finished();
            }
        }
    };

    struct Stopper {
        using Output = Unit;
        std::shared_ptr<State> state;
        Fd timer;
        std::optional<Registration> registration; // after `timer`: removed before it is closed
        bool* in_time;

        std::optional<Unit> poll(const Waker& waker) {
            if (!registration) {
                registration.emplace(timer.get(), waker);
                std::lock_guard lock(state->mutex);
                state->stopper = waker;
            }
            std::uint64_t expirations = 0;
            bool expired = ::read(timer.get(), &expirations, sizeof expirations) > 0;
            if (state->pending > 0 && !expired) {
                return std::nullopt;
            }
            *in_time = !expired;
            // Leave nothing behind: no registration, no stored waker (each holds this task).
            registration.reset();
            std::lock_guard lock(state->mutex);
            state->stopper.reset();
            return Unit{};
        }
    };

    static Fd start_timer(std::chrono::milliseconds deadline) {
        Fd timer(::timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC));
        if (!timer) {
            throw std::runtime_error("timerfd_create failed");
        }
        itimerspec when{};
        when.it_value.tv_sec = deadline.count() / 1000;
        when.it_value.tv_nsec = (deadline.count() % 1000) * 1'000'000;
        ::timerfd_settime(timer.get(), 0, &when, nullptr);
        return timer;
    }

    Scheduler& scheduler_;
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

// FailAfter: if the scope it guards has not ended within `limit`, prints `why` and ends the
// process with exit status 1. For a call that may never return and that nothing interrupts.
class FailAfter {
public:
    FailAfter(std::chrono::milliseconds limit, std::string why)
        : watcher_([this, limit, why = std::move(why)] {
              std::unique_lock lock(mutex_);
              if (!cv_.wait_for(lock, limit, [this] { return ended_; })) {
                  std::fprintf(stderr, "%s (after %lld ms)\n", why.c_str(),
                               static_cast<long long>(limit.count()));
                  std::fflush(stderr);
                  std::_Exit(1);
              }
          }) {}
    ~FailAfter() {
        {
            std::lock_guard lock(mutex_);
            ended_ = true;
        }
        cv_.notify_one();
        watcher_.join();
    }
    FailAfter(const FailAfter&) = delete;
    FailAfter& operator=(const FailAfter&) = delete;

private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool ended_ = false;
    std::thread watcher_; // last: it starts once the members it uses exist
};
