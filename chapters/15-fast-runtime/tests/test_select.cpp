// select and Either: two futures race; the first one ready wins, and the loser is destroyed.
// No sockets, no scheduler: the test polls small futures that record what happens to them.
#include "future.hpp"
#include "poll_fn.hpp"
#include "select.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

const Waker noop_waker([] {});

struct Counts {
    int polls = 0;
    int destroyed = 0;
    std::vector<Waker> wakers; // the waker of each poll
};

// Racer: says "not yet" `pending` times, then outputs `value`; counts its polls and its
// destruction (not those of the moved-from shells it leaves behind on its way in).
struct Racer {
    using Output = int;
    int pending;
    int value;
    std::shared_ptr<Counts> counts;

    Racer(int p, int v, std::shared_ptr<Counts> c) : pending(p), value(v), counts(std::move(c)) {}
    Racer(Racer&&) noexcept = default;
    ~Racer() {
        if (counts) {
            ++counts->destroyed;
        }
    }

    std::optional<int> poll(const Waker& waker) {
        ++counts->polls;
        counts->wakers.push_back(waker);
        if (pending-- > 0) {
            return std::nullopt;
        }
        return value;
    }
};

} // namespace

TEST_CASE("select polls both futures with its waker until one is ready") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(5, 1, left), Racer(5, 2, right));
    Waker waker([] {});
    CHECK_FALSE(race.poll(waker));
    CHECK_FALSE(race.poll(waker));
    CHECK(left->polls == 2);
    CHECK(right->polls == 2);
    REQUIRE(left->wakers.size() == 2);
    CHECK(left->wakers.back().will_wake(waker));
    CHECK(right->wakers.back().will_wake(waker));
}

TEST_CASE("when left is ready first, select outputs Left with its output") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(1, 10, left), Racer(3, 20, right));
    CHECK_FALSE(race.poll(noop_waker));
    std::optional<Either<int, int>> output = race.poll(noop_waker);
    REQUIRE(output);
    REQUIRE(output->is_left());
    CHECK_FALSE(output->is_right());
    CHECK(output->left() == 10);
    CHECK(right->polls == 1); // right was not polled in the poll that left won
}

TEST_CASE("when right is ready first, select outputs Right with its output") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(3, 10, left), Racer(1, 20, right));
    CHECK_FALSE(race.poll(noop_waker));
    std::optional<Either<int, int>> output = race.poll(noop_waker);
    REQUIRE(output);
    REQUIRE(output->is_right());
    CHECK(output->right() == 20);
}

TEST_CASE("the loser is destroyed unfinished the moment the winner is ready, and the winner too") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(100, 1, left), Racer(0, 2, right));
    CHECK(race.poll(noop_waker));
    // The race object is still alive, but neither future is: whatever the loser held (a
    // listener, a registration, a timer) is released now, not when the select goes away.
    CHECK(left->destroyed == 1);
    CHECK(right->destroyed == 1);
    CHECK(race.terminated());
}

TEST_CASE("if both could finish in the same poll, left wins (and right is not polled)") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(0, 1, left), Racer(0, 2, right));
    std::optional<Either<int, int>> output = race.poll(noop_waker);
    REQUIRE(output);
    CHECK(output->is_left());
    CHECK(right->polls == 0);
}

TEST_CASE("Either holds move-only outputs, and tells sides apart when both types are the same") {
    auto race = select(poll_fn([](const Waker&) -> std::optional<std::unique_ptr<std::string>> {
                           return std::nullopt;
                       }),
                       poll_fn([](const Waker&) { return std::optional(std::make_unique<std::string>("right")); }));
    auto output = race.poll(noop_waker);
    REQUIRE(output);
    REQUIRE(output->is_right());
    std::unique_ptr<std::string> taken = std::move(*output).right();
    REQUIRE(taken);
    CHECK(*taken == "right");

    auto same = Either<Unit, Unit>::from_right(Unit{});
    CHECK(same.is_right());
    CHECK_FALSE(same.is_left());
}

TEST_CASE("a finished select polls nothing again") {
    auto left = std::make_shared<Counts>();
    auto right = std::make_shared<Counts>();
    auto race = select(Racer(0, 1, left), Racer(0, 2, right));
    CHECK(race.poll(noop_waker));
    CHECK_FALSE(race.poll(noop_waker)); // a caller's bug, made harmless: "not yet"
    CHECK(left->polls == 1);
    CHECK(right->polls == 0);
}
