// ScanScheduler: the seed's first idea, kept to be measured against Scheduler.
//
// Every task sits in one list with a "woken" flag next to it; each turn scans the whole list
// and polls the tasks whose flag is set. It works, but finding the few runnable tasks costs
// a pass over all of them, idle or not: with 10,000 tasks waiting for clients, every turn
// looks at 10,000 flags. Scheduler keeps a queue of the runnable tasks instead
// (bench/scan_vs_queue.cpp measures both).
//
// Simplifications: one thread; wakes must come from run()'s own thread (a task, or a reactor
// waker inside wait()); it is not a global; and unlike the article's run(), it returns once
// every task is done, so that the benchmark can measure it.
#pragma once

#include "future.hpp"
#include "reactor.hpp"
#include "waker.hpp"

#include <atomic>
#include <concepts>
#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

class ScanScheduler {
public:
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(F future) {
        auto woken = std::make_shared<std::atomic<bool>>(true); // polled once to start it
        Waker waker([woken] { woken->store(true); });
        tasks_.push_back(std::make_unique<Entry>(
            std::make_unique<ErasedFuture<F>>(std::move(future)), std::move(woken), std::move(waker)));
    }

    // Scans and polls until every task is done, sleeping in this thread's REACTOR after a
    // scan that found nothing woken.
    void run() {
        while (!tasks_.empty()) {
            bool polled = false;
            for (std::size_t i = 0; i < tasks_.size();) {
                Entry& task = *tasks_[i]; // stable: a task spawned during the poll is appended
                if (task.woken->exchange(false)) {
                    polled = true;
                    if (task.future->poll(task.waker)) {
                        std::swap(tasks_[i], tasks_.back()); // done: the last one takes its place
                        tasks_.pop_back();                   // (and is looked at next)
                        continue;
                    }
                }
                ++i;
            }
            if (!polled) {
                REACTOR.wait(-1);
            }
        }
    }

    std::size_t tasks() const { return tasks_.size(); }

private:
    struct AnyFuture {
        virtual ~AnyFuture() = default;
        virtual bool poll(const Waker& waker) = 0; // true once the future is done
    };

    template <class F>
    struct ErasedFuture final : AnyFuture {
        explicit ErasedFuture(F f) : future(std::move(f)) {}
        bool poll(const Waker& waker) override { return future.poll(waker).has_value(); }
        F future;
    };

    struct Entry {
        Entry(std::unique_ptr<AnyFuture> f, std::shared_ptr<std::atomic<bool>> w, Waker k)
            : future(std::move(f)), woken(std::move(w)), waker(std::move(k)) {}
        std::unique_ptr<AnyFuture> future;
        std::shared_ptr<std::atomic<bool>> woken; // shared with the waker, which may outlive the entry
        Waker waker;
    };

    std::vector<std::unique_ptr<Entry>> tasks_;
};
