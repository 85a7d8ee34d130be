// poll_fn: a future made from a function. The function is the future's poll: it gets the
// waker and returns std::optional<T>, a value when done, std::nullopt for "not yet".
//
// The article's
//
//     fn poll_fn<F, T>(f: F) -> impl Future<Output = T> where F: FnMut(Waker) -> Option<T>
//
// Instead of a named struct with a hand-written poll (stage 11's Handler), a lambda: its
// captures are the future's state, and its body is the step it takes on each poll. Writing
// `mutable` lets the body change its captures between polls (Rust's FnMut).
//
// Ownership, which Rust's borrow checker enforced for the article and C++ leaves to us: a
// PollFn owns its function, and the function must own everything it touches. Capture by
// value, or by std::shared_ptr when several futures share something (the article's Arc).
// Never capture a local by reference: the future is polled later, by the scheduler, long
// after the function that built it has returned (see docs/12-functional-server.md).
#pragma once

#include "future.hpp"
#include "waker.hpp"

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>

namespace detail {
template <class T>
struct optional_value {}; // only std::optional<T> has a `type`
template <class T>
struct optional_value<std::optional<T>> {
    using type = T;
};
} // namespace detail

// What poll_fn accepts: a function callable (again and again) with the waker, returning a
// std::optional of something.
template <class F>
concept PollFunction = std::invocable<F&, const Waker&> &&
    requires { typename detail::optional_value<std::invoke_result_t<F&, const Waker&>>::type; };

// The future poll_fn returns. Fused: once its function has returned a value, the function is
// destroyed (releasing what it captured, at once) and every later poll returns std::nullopt
// without calling anything. A poll after "done" is a bug in the caller (our scheduler never
// does it), but here it is a harmless one instead of undefined behaviour.
template <PollFunction F>
class PollFn {
public:
    using Output = typename detail::optional_value<std::invoke_result_t<F&, const Waker&>>::type;

    explicit PollFn(F f) : f_(std::move(f)) {}

    std::optional<Output> poll(const Waker& waker) {
        if (!f_) {
            return std::nullopt; // finished already
        }
        std::optional<Output> output = std::invoke(*f_, waker);
        if (output) {
            f_.reset();
        }
        return output;
    }

    // True once the function returned its value (Rust's FusedFuture::is_terminated).
    bool terminated() const { return !f_; }

private:
    std::optional<F> f_;
};

template <class F>
    requires PollFunction<std::decay_t<F>>
PollFn<std::decay_t<F>> poll_fn(F&& f) {
    return PollFn<std::decay_t<F>>(std::forward<F>(f));
}
