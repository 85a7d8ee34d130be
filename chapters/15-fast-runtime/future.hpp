// Future: a value that can be asked "are you done yet?", and Unit, the output of a task that
// produces nothing.
//
// The article's `trait Future { type Output; fn poll(&mut self, waker: Waker) ->
// Option<Self::Output>; }` becomes a C++20 concept. poll() returns std::optional: a value
// means "ready, here is the output"; std::nullopt means "not yet". A future that returns
// "not yet" must first make sure that someone will call `waker.wake()` when it can make
// progress (keep a copy of the waker where that news arrives), or it is never polled again.
#pragma once

#include "waker.hpp"

#include <concepts>
#include <optional>

// Rust's `()`: the output of a future that is only run for what it does. std::optional<void>
// does not exist, so "done, nothing to report" needs a real (empty) type.
struct Unit {};

// A concept, not a virtual base class: code that takes a Future (a scheduler's spawn, a
// combinator that chains two futures) is a template, so every call of poll() is resolved at
// compile time and futures nested inside futures cost no indirection and no allocation.
// Where different futures must sit in one container (a scheduler's task list), the
// scheduler erases their types itself, once, at spawn time (see the scheduler's spawn).
//
// The waker is passed by const reference: a future that needs it later copies it (a copy
// is the article's `waker.clone()`); most polls only look at it.
template <class F>
concept Future = requires(F& f, const Waker& waker) {
    typename F::Output;
    { f.poll(waker) } -> std::same_as<std::optional<typename F::Output>>;
};
