// spawn_blocking: run blocking work on a thread of its own; a future tells when it is done.
//
// The article's
//
//     fn spawn_blocking(work: impl FnOnce() + Send + 'static) -> impl Future<Output = ()>
//
// with its shared state `Arc<Mutex<(bool, Option<Waker>)>>`: the thread runs the work, then
// sets `done` and wakes the waker the future left there; the future, when polled, either
// sees `done` or leaves its waker. The wake comes from another thread, while the runtime is
// probably asleep in epoll_wait: the stage-10 scheduler notices and ends that sleep (its
// reactor's Notifier). The article's runtime did not, and its wake would wait for an
// unrelated socket event.
//
// Who owns what. The work is moved into the thread, which owns it. The state is shared
// (std::shared_ptr) by the thread and the future, so either may finish first. The thread is
// detached: a blocking call (sigwait, a read) cannot be interrupted, so nobody could join it
// without waiting for it. Instead, the future's destructor takes its waker back out of the
// state, under the state's lock; the thread calls the waker under that same lock. Once the
// future is gone, the thread will never wake anything: it touches only the state and its
// own work, both of which it co-owns, and nothing it does can outlive what it uses. A thread
// still blocked when the process exits simply ends with it. (tokio documents the same
// limit: a spawn_blocking task cannot be aborted, only forgotten.)
//
// Simplification: one new thread per call. tokio keeps a pool of blocking threads that
// grows on demand and lets idle ones expire.
#pragma once

#include "future.hpp"
#include "waker.hpp"

#include <concepts>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace detail {

// The article's Mutex<(bool, Option<Waker>)>, plus an exception the work may have thrown.
struct BlockingState {
    std::mutex mutex;
    bool done = false;
    std::optional<Waker> waker;
    std::exception_ptr error;
};

// Called by the thread when the work has returned (or thrown): marks the state done and
// wakes the future's task, if a future is still waiting.
void complete(BlockingState& state, std::exception_ptr error) noexcept;

} // namespace detail

// The future spawn_blocking returns: ready (Unit) once the work has returned. If the work
// threw, poll rethrows its exception, on the runtime's thread.
class SpawnBlocking {
public:
    using Output = Unit;

    explicit SpawnBlocking(std::shared_ptr<detail::BlockingState> state) : state_(std::move(state)) {}
    SpawnBlocking(SpawnBlocking&&) noexcept = default;
    SpawnBlocking& operator=(SpawnBlocking&&) = delete;
    ~SpawnBlocking(); // takes the waker back: the thread will not wake us any more

    std::optional<Unit> poll(const Waker& waker);

private:
    std::shared_ptr<detail::BlockingState> state_; // null once moved from, or once done
};

// Starts `work` on a new thread now (not at the first poll; the article's starts its thread
// at once too), and returns the future that completes when it returns. Throws std::system_error if no thread can be
// started.
template <class Work>
    requires std::invocable<Work&> && std::move_constructible<Work>
SpawnBlocking spawn_blocking(Work work) {
    auto state = std::make_shared<detail::BlockingState>();
    std::thread([state, work = std::move(work)]() mutable {
        std::exception_ptr error;
        try {
            work();
        } catch (...) {
            error = std::current_exception(); // handed to the future, not std::terminate
        }
        detail::complete(*state, std::move(error)); // the state is its only owner from now on
    }).detach();
    return SpawnBlocking(std::move(state));
}
