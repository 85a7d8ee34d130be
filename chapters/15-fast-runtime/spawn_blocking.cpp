#include "spawn_blocking.hpp"

namespace detail {

void complete(BlockingState& state, std::exception_ptr error) noexcept {
    std::lock_guard lock(state.mutex);
    state.done = true;
    state.error = std::move(error);
    if (state.waker) {
        // Woken under the lock, on purpose: a future being destroyed waits for this lock to
        // take its waker back, so it cannot vanish halfway through. The lock order is always
        // this state's mutex, then the scheduler's (inside wake), never the other way round:
        // the scheduler holds no lock while it polls or destroys a future.
        state.waker->wake();
        state.waker.reset();
    }
}

} // namespace detail

SpawnBlocking::~SpawnBlocking() {
    if (state_) {
        std::lock_guard lock(state_->mutex);
        state_->waker.reset();
    }
}

std::optional<Unit> SpawnBlocking::poll(const Waker& waker) {
    if (!state_) {
        return std::nullopt; // finished already: fused, like the other futures
    }
    std::exception_ptr error;
    {
        std::lock_guard lock(state_->mutex);
        if (!state_->done) {
            state_->waker = waker; // the most recent poll's waker is the one to wake
            return std::nullopt;
        }
        // Moved out, not copied: from here on only this thread owns the exception, and it is
        // freed here, not by the worker thread when that drops the state. (Both orders are
        // correct, ordered by the exception's reference count; but that count lives inside
        // libstdc++, which ThreadSanitizer cannot see into, so it would report a race.)
        error = std::move(state_->error);
    }
    state_.reset();
    if (error) {
        std::rethrow_exception(error);
    }
    return Unit{};
}
