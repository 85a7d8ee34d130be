// map: a future whose output is a function of another future's output
//
// The challenge: write the combinator, next to chain in chain.hpp (or in poll_fn.hpp):
//
//     template <Future F, class M>
//     Map<F, M> map(F future, M function);   // Map<F, M>::Output is
//                                            // std::invoke_result_t<M&&, typename F::Output&&>
//
// Each poll polls the future with the map's waker. In the poll where it is ready, the future
// is destroyed, then the function is called, once, with its output (an rvalue), and the map
// is ready with what the function returned; the function is destroyed right after, releasing
// what it captured. Fused like chain: after its output, "not yet" forever, polling nothing.
// The function and the outputs may be move-only. chain can do this already, with a
// transition that returns a future that is ready at once; map says it in one word and has no
// second future to build.
#include "chain.hpp"
#include "future.hpp"
#include "poll_fn.hpp"
#include "steps.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <concepts>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace {

template <class F, class M>
using Mapped = decltype(map(std::declval<F>(), std::declval<M>()));

// True if map(future, function) exists (found next to these types or in the stage's
// headers) and makes a future of what the function returns.
template <class F, class M>
concept Mappable = requires { typename Mapped<F, M>; } && Future<Mapped<F, M>> &&
    std::same_as<typename Mapped<F, M>::Output,
                 std::invoke_result_t<M&&, typename F::Output&&>>;

const std::string missing = "there is no map(future, function) in chain.hpp or poll_fn.hpp that "
                            "returns a future of the function's result";

// A function that logs its call and its destruction, and makes a string of an int.
struct Describe {
    Log* log;
    std::shared_ptr<int> captured; // its use_count shows when the function is destroyed
    bool moved_from = false;

    Describe(Log* l, std::shared_ptr<int> c) : log(l), captured(std::move(c)) {}
    Describe(Describe&& other) noexcept
        : log(other.log), captured(std::move(other.captured)) {
        other.moved_from = true;
    }
    ~Describe() {
        if (!moved_from) {
            log->push_back("~describe");
        }
    }
    std::string operator()(int value) {
        log->push_back("call " + std::to_string(value));
        return "got " + std::to_string(value);
    }
};

template <class F>
void maps_the_output() {
    const Waker waker([] {});
    Log log;
    std::vector<Waker> wakers;
    auto captured = std::make_shared<int>(0);
    auto mapped = map(F("a", 2, 7, &log, &wakers), Describe(&log, captured));
    CHECK_FALSE(mapped.poll(waker));
    CHECK_FALSE(mapped.poll(waker));
    std::optional<std::string> output = mapped.poll(waker);
    INFO("map should poll the future until it is ready, then destroy it, call the function "
         "once with its output, and destroy the function");
    CHECK(joined(log) == "poll a, poll a, poll a, ~a, call 7, ~describe");
    CHECK(output == std::optional<std::string>("got 7"));
    INFO("what the function captured should be released once it has run");
    CHECK(captured.use_count() == 1);
    INFO("the future should be polled with the map's own waker");
    REQUIRE(wakers.size() == 3);
    for (const Waker& got : wakers) {
        CHECK(got.will_wake(waker));
    }

    INFO("a finished map should poll nothing and call nothing, and say \"not yet\"");
    CHECK_FALSE(mapped.poll(waker));
    CHECK(joined(log) == "poll a, poll a, poll a, ~a, call 7, ~describe");
}

template <class F>
void passes_move_only_values() {
    const Waker waker([] {});
    Log log;
    auto owned = std::make_unique<int>(10);
    auto mapped = map(F("a", 1, std::make_unique<int>(1), &log), [owned = std::move(owned)](std::unique_ptr<int> value) {
        return std::make_unique<int>(*value + *owned);
    });
    CHECK_FALSE(mapped.poll(waker));
    auto output = mapped.poll(waker);
    REQUIRE(output.has_value());
    REQUIRE(*output != nullptr);
    CHECK(**output == 11);
}

template <class F>
void nests() {
    const Waker waker([] {});
    Log log;
    auto twice = map(map(F("a", 0, 21, &log), [](int value) { return value * 2; }),
                     [](int value) { return std::to_string(value); });
    auto both = chain(std::move(twice), [](std::string text) {
        return poll_fn([text](const Waker&) -> std::optional<std::string> { return text + "!"; });
    });
    CHECK(both.poll(waker) == std::optional<std::string>("42!"));
}

} // namespace

TEST_CASE("map polls its future until it is ready, then calls the function once with the output") {
    using F = Step<int>;
    if constexpr (Mappable<F, Describe>) {
        maps_the_output<F>();
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("map passes move-only outputs, to and from a move-only function") {
    using F = Step<std::unique_ptr<int>>;
    auto function = [owned = std::make_unique<int>(0)](std::unique_ptr<int> v) { return v; };
    if constexpr (Mappable<F, decltype(function)>) {
        passes_move_only_values<F>();
    } else {
        FAIL_CHECK(missing);
    }
}

TEST_CASE("maps nest, and chain with the other combinators") {
    using F = Step<int>;
    auto function = [](int value) { return value * 2; };
    if constexpr (Mappable<F, decltype(function)>) {
        nests<F>();
    } else {
        FAIL_CHECK(missing);
    }
}
