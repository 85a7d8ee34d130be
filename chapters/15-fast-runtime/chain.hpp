// chain: run one future, then build the next from its output, and run that.
//
// The article's `future1.chain(transition)`:
//
//     enum Chain<T1, F, T2> { First { future1: T1, transition: Option<F> }, Second { future2: T2 } }
//
// becomes chain(future1, transition). The enum is a std::variant with one more state, Done.
// Each poll polls future1 until it is ready; then the transition is called, once, with
// future1's output, and what it returns is the second future, polled from then on (in the
// same poll: a step that finishes at once does not cost a trip through the scheduler). The
// chain's output is the second future's. Chains nest: chain(chain(a, f), g) is three steps.
//
// Ownership: the chain owns both futures and the transition. Like poll_fn's function, the
// transition must own what it captures (by value or std::shared_ptr): it runs on some later
// poll, not when the chain is built. Outputs are moved from step to step, so move-only
// values (a listener, a std::unique_ptr) pass through. An output must not point into the
// future that produced it: that future is destroyed before the next step starts.
#pragma once

#include "future.hpp"
#include "waker.hpp"

#include <concepts>
#include <functional>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>

// What chain accepts as a transition: called once, with the first future's output (an
// rvalue), it returns the second future.
template <class T, class Input>
concept Transition = std::invocable<T&&, Input&&> && Future<std::invoke_result_t<T&&, Input&&>>;

template <Future Future1, Transition<typename Future1::Output> T>
class Chain {
public:
    using Future2 = std::invoke_result_t<T&&, typename Future1::Output&&>;
    using Output = typename Future2::Output;

    Chain(Future1 future1, T transition)
        : state_(std::in_place_type<First>, First{std::move(future1), std::move(transition)}) {}
    // What the defaulted move constructor would do, written out: for deeply nested chains
    // GCC 12 reports a false -Wmaybe-uninitialized inside std::variant's own move (the
    // family of GCC bug 80635).
    Chain(Chain&& other) : state_(moved(std::move(other.state_))) {}

    std::optional<Output> poll(const Waker& waker) {
        if (auto* first = std::get_if<First>(&state_)) {
            // The same waker reaches the inner future: it is the task's, and only the task
            // can be woken.
            std::optional<typename Future1::Output> output1 = first->future1.poll(waker);
            if (!output1) {
                return std::nullopt;
            }
            T transition = std::move(first->transition);
            // Destroy the first future before the second one exists, so whatever it held (a
            // registration, a buffer) is released first. The article's `*self = Second {..}`
            // drops it afterwards, which would let the old step's destructor (a Rust `Drop`
            // just as well) undo something the new step just set up (a registration of the
            // same fd, say). The article's futures hold no such guard; ours do.
            state_.template emplace<Done>();
            // Called exactly once. If it throws, the chain stays Done and the exception goes
            // to whoever polled (the scheduler ends the task).
            state_.template emplace<Second>(
                Second{std::invoke(std::move(transition), std::move(*output1))});
        }
        if (auto* second = std::get_if<Second>(&state_)) {
            std::optional<Output> output = second->future2.poll(waker);
            if (output) {
                state_.template emplace<Done>(); // fused: the second future is released too
            }
            return output;
        }
        return std::nullopt; // Done: polled after it finished (a caller's bug, made harmless)
    }

    // True once the chain has produced its output.
    bool terminated() const { return std::holds_alternative<Done>(state_); }

private:
    struct First {
        Future1 future1;
        T transition;
    };
    struct Second {
        Future2 future2;
    };
    struct Done {};
    using State = std::variant<First, Second, Done>;

    static State moved(State&& from) {
        if (auto* first = std::get_if<First>(&from)) {
            return State(std::in_place_type<First>, std::move(*first));
        }
        if (auto* second = std::get_if<Second>(&from)) {
            return State(std::in_place_type<Second>, std::move(*second));
        }
        return State(std::in_place_type<Done>);
    }

    State state_;
};

template <Future Future1, class T>
    requires Transition<std::decay_t<T>, typename Future1::Output>
Chain<Future1, std::decay_t<T>> chain(Future1 future1, T&& transition) {
    return Chain<Future1, std::decay_t<T>>(std::move(future1), std::forward<T>(transition));
}
