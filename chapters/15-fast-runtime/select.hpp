// select: run two futures at once; the first to finish wins, and the other is dropped.
//
// The article's
//
//     fn select<L, R>(left: L, right: R) -> Select<L, R>
//     enum Either<L, R> { Left(L), Right(R) }
//
// The graceful server uses it twice: "accept until Ctrl-C" is select(accept loop, ctrl_c()),
// and "wait for the requests in flight, but not forever (nor past a second Ctrl-C)" is
// select(wait_for_zero, select(grace timer, ctrl_c())).
#pragma once

#include "future.hpp"
#include "waker.hpp"

#include <cstddef>
#include <optional>
#include <utility>
#include <variant>

// Either: a value of type L or of type R, and which one it is. std::variant<L, R> indexed by
// position, so it works when L and R are the same type (select of two Unit futures).
template <class L, class R>
class Either {
public:
    static Either from_left(L value) { return Either(std::in_place_index<0>, std::move(value)); }
    static Either from_right(R value) { return Either(std::in_place_index<1>, std::move(value)); }

    bool is_left() const noexcept { return value_.index() == 0; }
    bool is_right() const noexcept { return value_.index() == 1; }

    // The value, if it is on that side; std::bad_variant_access otherwise.
    L& left() & { return std::get<0>(value_); }
    const L& left() const& { return std::get<0>(value_); }
    L&& left() && { return std::get<0>(std::move(value_)); }
    R& right() & { return std::get<1>(value_); }
    const R& right() const& { return std::get<1>(value_); }
    R&& right() && { return std::get<1>(std::move(value_)); }

private:
    template <std::size_t I, class T>
    Either(std::in_place_index_t<I> side, T&& value) : value_(side, std::forward<T>(value)) {}

    std::variant<L, R> value_;
};

// Select: the future select returns. Each poll polls left, then right, with the same waker
// (both may leave it somewhere: whichever news comes first wakes the task). When one is
// ready, both futures are destroyed at once, the loser unfinished: its destructor releases
// what it held (a listener is closed, a registration removed, a timer cancelled). In Rust,
// dropping a future is how it is cancelled; in C++ it is destroying it, and RAII members
// make that clean.
//
// Left goes first: if both could finish in the same poll, left wins, and a left that is
// always ready would keep right from ever being polled. (tokio's select! picks a random
// branch first for that reason.) Fused like chain: after its output, "not yet" forever.
template <Future L, Future R>
class Select {
public:
    using Output = Either<typename L::Output, typename R::Output>;

    Select(L left, R right) : left_(std::move(left)), right_(std::move(right)) {}

    std::optional<Output> poll(const Waker& waker) {
        if (terminated()) {
            return std::nullopt;
        }
        if (std::optional<typename L::Output> output = left_->poll(waker)) {
            finish();
            return Output::from_left(std::move(*output));
        }
        if (std::optional<typename R::Output> output = right_->poll(waker)) {
            finish();
            return Output::from_right(std::move(*output));
        }
        return std::nullopt;
    }

    bool terminated() const { return !left_; }

private:
    void finish() {
        left_.reset();
        right_.reset();
    }

    std::optional<L> left_;
    std::optional<R> right_;
};

template <Future L, Future R>
Select<L, R> select(L left, R right) {
    return Select<L, R>(std::move(left), std::move(right));
}
