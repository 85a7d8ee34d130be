// SketchScheduler: the article's first sketch of a scheduler, made runnable.
//
// Each task is tied, when it is spawned, to one file descriptor: its id. The scheduler polls
// the task once, registers the id with its own epoll set, and from then on polls the task
// again only when epoll reports that id. Nobody scans every task: epoll says which one can
// make progress. The scheduler owns the tasks; each task's future usually owns fd `id`.
//
// Simplification: a task waits on exactly one fd, chosen at spawn, and only for reading
// (level-triggered EPOLLIN, explained in stage 08); one thread only. Stage 07 gives futures a
// waker, stage 08 lets any future register any fd (the reactor), and stage 09 replaces this
// sketch with the Scheduler.
#pragma once

#include "error.hpp"
#include "fd.hpp"
#include "future.hpp"

#include <sys/epoll.h>

#include <cerrno>
#include <concepts>
#include <cstddef>
#include <memory>
#include <unordered_map>
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
        auto task = std::make_unique<TaskFor<F>>(std::move(future));
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

    // One turn of the loop: waits up to `timeout_ms` (-1: no limit) for epoll to report ids,
    // then polls the task of each reported id, and only those. Returns how many it polled.
    std::size_t turn(int timeout_ms) {
        epoll_event events[64];
        int n = ::epoll_wait(epoll_.get(), events, 64, timeout_ms);
        if (n < 0) {
            if (errno == EINTR) {
                return 0; // a signal arrived: not an error (stage 08 explains)
            }
            throw_errno("epoll_wait");
        }
        std::size_t polled = 0;
        for (int i = 0; i < n; ++i) {
            auto task = tasks_.find(events[i].data.fd);
            if (task == tasks_.end()) {
                continue;
            }
            ++polled;
            if (task->second->poll()) {
                // Deregister first: destroying the future closes fd `id`.
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, task->first, nullptr);
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
    // Type erasure. Futures of different types must live in one map, so spawn() wraps each
    // in a TaskFor<F>, which implements this small virtual interface. This is the one place
    // that pays for a virtual call; inside a future everything stays statically typed.
    struct AnyTask {
        virtual ~AnyTask() = default;
        virtual bool poll() = 0; // true once the future is done
    };

    template <class F>
    struct TaskFor final : AnyTask {
        explicit TaskFor(F f) : future(std::move(f)) {}
        bool poll() override { return future.poll().has_value(); }
        F future;
    };

    Fd epoll_;
    std::unordered_map<int, std::unique_ptr<AnyTask>> tasks_; // by id
};
