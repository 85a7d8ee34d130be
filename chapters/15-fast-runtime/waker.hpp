// Waker: a cheap, copyable, thread-safe "poll this task again" callback.
//
// The article's `struct Waker(Arc<dyn Fn() + Send + Sync>)`. A scheduler builds one per
// task and hands it to every poll(); a future that cannot finish yet keeps a copy wherever
// the news will arrive (a reactor, another thread, a timer) and returns "not yet". Whoever
// holds the copy calls wake() when the task may make progress.
//
// Ownership: the callback is shared, never copied: every copy of a Waker points at the same
// immutable std::function through a std::shared_ptr (Rust's Arc), so copying costs one
// atomic increment and the callback lives as long as the last copy. The callback must own
// what it uses (capture shared_ptrs or values, never references to locals), because a copy
// may be called after the scope that made it is gone.
//
// Thread safety: wake() may be called from any thread, by many threads at once, for as long
// as any copy exists (Rust's Send + Sync). The Waker only shares the callback; making the
// callback itself safe to run concurrently is the job of whoever writes it (the scheduler).
//
// tokio's Waker is two words, a pointer to the task and a pointer to a static table of
// functions (clone, wake, wake_by_ref, drop), with the reference count inside the task:
// no allocation per waker. Ours allocates once, when the callback is wrapped.
#pragma once

#include <functional>
#include <memory>
#include <utility>

class Waker {
public:
    explicit Waker(std::function<void()> wake)
        : wake_(std::make_shared<const std::function<void()>>(std::move(wake))) {}

    // Asks for the task to be polled again. Cheap; never polls anything itself.
    void wake() const { (*wake_)(); }

    // True if both wake the same task (one is a copy of the other), like Rust's will_wake:
    // a future that stored a waker can skip replacing it with an equivalent one.
    bool will_wake(const Waker& other) const { return wake_ == other.wake_; }

private:
    std::shared_ptr<const std::function<void()>> wake_;
};
