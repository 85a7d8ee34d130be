// chain: one future, then the next built from its output. No sockets: small futures that
// record what happens to them. Most of these futures live only inside the test body, so
// they may point at the test's locals; the ownership tests at the end build chains that
// outlive the scope that made them, which is how the server uses them.
#include "chain.hpp"
#include "future.hpp"
#include "poll_fn.hpp"
#include "reactor.hpp"
#include "scheduler.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace {

const Waker noop_waker([] {});

// What happened, in order, as short words.
using Log = std::vector<std::string>;

// Step: says "not yet" `pending` times, then outputs `value`. Records its polls and its
// destruction in `log` under its name.
struct Step {
    using Output = int;
    std::string name;
    int pending;
    int value;
    Log* log;
    bool moved_from = false;

    Step(std::string n, int p, int v, Log* l) : name(std::move(n)), pending(p), value(v), log(l) {}
    Step(Step&& other) noexcept
        : name(std::move(other.name)), pending(other.pending), value(other.value), log(other.log) {
        other.moved_from = true;
    }
    ~Step() {
        if (!moved_from) {
            log->push_back("~" + name);
        }
    }

    std::optional<int> poll(const Waker&) {
        log->push_back("poll " + name);
        if (pending-- > 0) {
            return std::nullopt;
        }
        return value;
    }
};

// KeepsWaker: never ready; keeps the waker of each poll, as a future waiting for news does.
struct KeepsWaker {
    using Output = int;
    std::vector<Waker>* kept;
    std::optional<int> poll(const Waker& waker) {
        kept->push_back(waker);
        return std::nullopt;
    }
};

} // namespace

TEST_CASE("chain polls the first future until it is ready, then only the second") {
    Log log;
    auto future = chain(Step("a", 1, 1, &log), [&log](int) { return Step("b", 1, 2, &log); });
    CHECK_FALSE(future.poll(noop_waker));
    CHECK_FALSE(future.poll(noop_waker)); // a is ready; b is built and polled at once
    CHECK(future.poll(noop_waker) == 2);
    CHECK(log == Log{"poll a", "poll a", "~a", "poll b", "poll b", "~b"});
}

TEST_CASE("the transition runs once, with the first future's output, after the first future is gone") {
    Log log;
    int transitions = 0;
    auto future = chain(Step("a", 0, 20, &log), [&](int output) {
        ++transitions;
        log.push_back("transition " + std::to_string(output));
        return Step("b", 2, output + 1, &log);
    });
    std::optional<int> output;
    while (!(output = future.poll(noop_waker))) {
    }
    CHECK(output == 21);
    CHECK(transitions == 1);
    // a is destroyed before the transition runs: what it held is released before the next
    // step starts.
    CHECK(log == Log{"poll a", "~a", "transition 20", "poll b", "poll b", "poll b", "~b"});
}

TEST_CASE("the waker chain is polled with reaches the inner future, in either step") {
    std::vector<Waker> kept;
    Waker waker([] {});

    auto waiting_first = chain(KeepsWaker{&kept}, [](int) { return KeepsWaker{nullptr}; });
    waiting_first.poll(waker);
    REQUIRE(kept.size() == 1);
    CHECK(kept.back().will_wake(waker));

    auto waiting_second =
        chain(poll_fn([](const Waker&) { return std::optional(1); }), [&kept](int) { return KeepsWaker{&kept}; });
    waiting_second.poll(waker);
    REQUIRE(kept.size() == 2);
    CHECK(kept.back().will_wake(waker));
}

TEST_CASE("move-only outputs pass from step to step and out of the chain") {
    auto future = chain(poll_fn([](const Waker&) { return std::optional(std::make_unique<int>(5)); }),
                        [](std::unique_ptr<int> five) {
                            return poll_fn([five = std::move(five)](const Waker&) mutable {
                                *five *= 2;
                                return std::optional(std::move(five));
                            });
                        });
    std::optional<std::unique_ptr<int>> output = future.poll(noop_waker);
    REQUIRE(output);
    REQUIRE(*output);
    CHECK(**output == 10);
}

TEST_CASE("a finished chain polls nothing and builds nothing again") {
    Log log;
    int transitions = 0;
    auto future = chain(Step("a", 0, 1, &log), [&](int) {
        ++transitions;
        return Step("b", 0, 2, &log);
    });
    CHECK_FALSE(future.terminated());
    CHECK(future.poll(noop_waker) == 2);
    CHECK(future.terminated());
    CHECK(log == Log{"poll a", "~a", "poll b", "~b"}); // b released once it finished

    CHECK_FALSE(future.poll(noop_waker)); // a caller's bug, made harmless: "not yet"
    CHECK(transitions == 1);
    CHECK(log.size() == 4);
}

TEST_CASE("chains nest: three steps run in order, each output feeding the next") {
    Log log;
    auto two = chain(Step("a", 1, 1, &log), [&log](int a) { return Step("b", 1, a + 1, &log); });
    auto three = chain(std::move(two), [&log](int b) { return Step("c", 1, b * 10, &log); });
    std::optional<int> output;
    int polls = 0;
    while (!(output = three.poll(noop_waker))) {
        ++polls;
    }
    CHECK(output == 20);
    CHECK(polls == 3);
    CHECK(log == Log{"poll a", "poll a", "~a", "poll b", "poll b", "~b", "poll c", "poll c", "~c"});
}

TEST_CASE("an exception from the transition reaches the poller, and the chain is finished") {
    Log log;
    auto future = chain(Step("a", 0, 1, &log), [](int) -> Step { throw std::runtime_error("no"); });
    CHECK_THROWS_AS(future.poll(noop_waker), std::runtime_error);
    CHECK(future.terminated());
    CHECK_FALSE(future.poll(noop_waker));
    CHECK(log == Log{"poll a", "~a"});
}

// ---- Ownership: futures outlive the scope that built them. ------------------------------

namespace {

// Builds a two-step chain the way the server does: everything the steps use is captured by
// value or by std::shared_ptr, so the chain owns it. `greeting` and `polls` are locals of
// this function, which returns long before the chain is polled. (Capturing them with [&]
// compiles just as well, and reads freed stack memory on the first poll: AddressSanitizer
// reports stack-buffer-overflow, or stack-use-after-return with
// ASAN_OPTIONS=detect_stack_use_after_return=1. See docs/12-functional-server.md.)
auto make_greeting_chain(std::shared_ptr<int> polls) {
    std::string greeting = "hello";
    auto name = std::make_unique<std::string>("world"); // move-only state, moved into the chain
    return chain(poll_fn([greeting, polls](const Waker& waker) mutable -> std::optional<std::string> {
                     if (++*polls < 2) {
                         waker.wake(); // "not yet", and poll me again soon
                         return std::nullopt;
                     }
                     return greeting;
                 }),
                 [name = std::move(name), polls](std::string first) {
                     return poll_fn([text = first + ", " + *name, polls](const Waker&) {
                         ++*polls;
                         return std::optional(text);
                     });
                 });
}

} // namespace

TEST_CASE("a chain whose lambdas own their captures can be polled after its builder returned") {
    auto polls = std::make_shared<int>(0);
    auto future = make_greeting_chain(polls); // the builder's locals are gone from here on
    std::optional<std::string> output;
    while (!(output = future.poll(noop_waker))) {
    }
    CHECK(output == "hello, world");
    CHECK(*polls == 3);
}

TEST_CASE("a chain built in a scope that has ended runs to completion on SCHEDULER") {
    auto polls = std::make_shared<int>(0);
    auto result = std::make_shared<std::string>();
    {
        // Spawned from a scope that ends before run(): the task owns the chain, and the chain
        // owns everything it touches, `punctuation` included (a local of this scope, copied
        // into the lambda; captured by reference it would be gone by the time it is read).
        std::string punctuation = "!";
        SCHEDULER.spawn(chain(make_greeting_chain(polls), [result, punctuation](std::string text) {
            return poll_fn([result, text = text + punctuation](const Waker&) -> std::optional<Unit> {
                *result = text;
                return Unit{};
            });
        }));
    }
    SCHEDULER.run();
    CHECK(*result == "hello, world!");
    CHECK(SCHEDULER.live_tasks() == 0);
    CHECK(REACTOR.registrations() == 0);
}
