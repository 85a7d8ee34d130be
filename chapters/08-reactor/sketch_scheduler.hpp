// SketchScheduler: the stage 06 sketch, now driven by wakers.
//
// Each task still has an id, an fd chosen at spawn, that the scheduler watches with its own
// epoll set. What changed is who decides that a task is polled: its Waker. spawn() builds
// one Waker per task; calling it adds the task's id to the set of woken ids, and each turn
// polls the woken tasks. An epoll event on an id is now just one more reason to call that
// task's waker, so anything that holds a copy of it (the future itself, another thread) can
// get the task polled too.
//
// Simplifications: a task still watches only its one fd, for reading; one thread runs the
// loop. Limit: a wake from another thread only adds the id to the set; if the loop is asleep
// in epoll_wait, nothing tells it, and the task waits for some fd event. Stage 08's reactor
// brings a notifier that can end the sleep; stage 10's Scheduler uses it.
#pragma once

#include "error.hpp"
#include "fd.hpp"
#include "future.hpp"
#include "waker.hpp"

#include <sys/epoll.h>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <unordered_set>
#include <utility>

class SketchScheduler {
public:
    SketchScheduler() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
        if (!epoll_) {
            throw_errno("epoll_create1");
        }
    }

    // Takes ownership of `future` and polls it once to get it started. If it is not done
    // yet, keeps it under `id` and asks epoll to report `id` once it is readable.
    template <Future F>
        requires std::same_as<typename F::Output, Unit>
    void spawn(int id, F future) {
        // The callback owns what it uses: a shared_ptr to the woken set and the id, by value.
        // It never points at the scheduler, which a waker may outlive.
        Waker waker([woken = woken_, id] { woken->add(id); });
        auto task = std::make_unique<TaskFor<F>>(std::move(future), std::move(waker));
        if (task->poll()) {
            return; // done on its first poll: nothing to wait for
        }
        epoll_event event{};
        event.events = EPOLLIN | EPOLLRDHUP;
        event.data.fd = id;
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, id, &event) < 0) {
            throw_errno("epoll_ctl(ADD)");
        }
        tasks_.emplace(id, std::move(task));
    }

    // One turn of the loop: if no task is woken, waits up to `timeout_ms` (-1: no limit) for
    // epoll and wakes the task of each reported id; then polls every woken task once.
    // Returns how many it polled.
    std::size_t turn(int timeout_ms) {
        if (woken_->empty()) {
            epoll_event events[64];
            int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
            if (n < 0 && errno != EINTR) { // EINTR: a signal arrived; not an error (stage 08)
                throw_errno("epoll_wait");
            }
            for (int i = 0; i < n; ++i) {
                if (auto task = tasks_.find(events[i].data.fd); task != tasks_.end()) {
                    task->second->waker.wake();
                }
            }
        }
        std::size_t polled = 0;
        for (int id : woken_->take()) {
            auto task = tasks_.find(id);
            if (task == tasks_.end()) {
                continue; // woken after it finished: nothing left to poll
            }
            ++polled;
            if (task->second->poll()) {
                // Deregister first: destroying the future closes fd `id`.
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, id, nullptr);
                tasks_.erase(task);
            }
        }
        return polled;
    }

    // Turns until every task is done.
    void run() {
        while (!tasks_.empty()) {
            turn(-1);
        }
    }

    std::size_t tasks() const { return tasks_.size(); }

private:
    // The ids of the woken tasks. Wakers may run on any thread, hence the mutex. A set: a
    // task woken twice before its next poll is polled once.
    //
    // Simplification: ids are fd numbers. A stale waker of a finished task whose fd number
    // was reused wakes the new task: a spurious poll, harmless but wasted. Stage 09 queues
    // tasks themselves, not ids.
    struct Woken {
        void add(int id) {
            std::lock_guard lock(mutex);
            ids.insert(id);
        }
        bool empty() {
            std::lock_guard lock(mutex);
            return ids.empty();
        }
        std::unordered_set<int> take() {
            std::lock_guard lock(mutex);
            return std::exchange(ids, {});
        }

        std::mutex mutex;
        std::unordered_set<int> ids;
    };

    // Type erasure. Futures of different types must live in one map, so spawn() wraps each
    // in a TaskFor<F>, which implements this small virtual interface. This is the one place
    // that pays for a virtual call; inside a future everything stays statically typed.
    struct AnyTask {
        explicit AnyTask(Waker w) : waker(std::move(w)) {}
        virtual ~AnyTask() = default;
        virtual bool poll() = 0; // true once the future is done
        Waker waker;             // built once per task, handed to every poll
    };

    template <class F>
    struct TaskFor final : AnyTask {
        TaskFor(F f, Waker w) : AnyTask(std::move(w)), future(std::move(f)) {}
        bool poll() override { return future.poll(waker).has_value(); }
        F future;
    };

    Fd epoll_;
    std::unordered_map<int, std::unique_ptr<AnyTask>> tasks_; // by id
    std::shared_ptr<Woken> woken_ = std::make_shared<Woken>();
};
