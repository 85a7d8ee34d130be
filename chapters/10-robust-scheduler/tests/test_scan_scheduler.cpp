// ScanScheduler, the seed's first idea: it runs tasks correctly too; it is only slower
// (bench/scan_vs_queue.cpp).
#include "future.hpp"
#include "reactor.hpp"
#include "registration.hpp"
#include "scan_scheduler.hpp"
#include "socket_pair.hpp"
#include "waker.hpp"

#include <doctest/doctest.h>

#include <sys/socket.h>

#include <memory>
#include <optional>

using testing::socket_pair;

namespace {

struct Yield {
    using Output = Unit;
    int times;
    int* polls;
    std::optional<Unit> poll(const Waker& waker) {
        if (++*polls > times) {
            return Unit{};
        }
        waker.wake();
        return std::nullopt;
    }
};

// ReadByte: waits, through the reactor, for one byte on `from`.
struct ReadByte {
    using Output = Unit;
    Fd from;
    std::optional<Registration> registration;
    bool* done;
    std::optional<Unit> poll(const Waker& waker) {
        if (!registration) {
            registration.emplace(from.get(), waker);
        }
        char byte;
        if (::recv(from.get(), &byte, 1, MSG_DONTWAIT) == 1) {
            *done = true;
            return Unit{};
        }
        return std::nullopt;
    }
};

// SendByte: sends one byte on `to`, then is done.
struct SendByte {
    using Output = Unit;
    Fd to;
    std::optional<Unit> poll(const Waker&) {
        testing::write_all(to, "!");
        return Unit{};
    }
};

} // namespace

TEST_CASE("ScanScheduler runs tasks woken by themselves and by the reactor, then returns") {
    ScanScheduler scheduler;
    auto [client, server] = socket_pair();
    int polls = 0;
    bool read = false;
    scheduler.spawn(ReadByte{std::move(server), {}, &read});
    scheduler.spawn(Yield{3, &polls});
    scheduler.spawn(SendByte{std::move(client)});
    scheduler.run();
    CHECK(polls == 4);
    CHECK(read);
    CHECK(scheduler.tasks() == 0);
    CHECK(REACTOR.registrations() == 0);
}
