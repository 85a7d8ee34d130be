// Helpers shared by this stage's challenge tests: a log of what happened, and Step, a
// future that says "not yet" a given number of times, then outputs its value.
#pragma once

#include "waker.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace {

// What happened, in order, as short words: "poll a", "~a" (destroyed), and what a test adds.
using Log = std::vector<std::string>;
std::string joined(const Log& log) {
    std::string out;
    for (const std::string& event : log) {
        out += (out.empty() ? "" : ", ") + event;
    }
    return out;
}

// Says "not yet" `pending` times, then outputs `value`. Records its polls, the wakers it got
// and its destruction.
template <class T>
struct Step {
    using Output = T;
    std::string name;
    int pending;
    std::optional<T> value;
    Log* log;
    std::vector<Waker>* wakers = nullptr;
    bool moved_from = false;

    Step(std::string n, int p, T v, Log* l, std::vector<Waker>* w = nullptr)
        : name(std::move(n)), pending(p), value(std::move(v)), log(l), wakers(w) {}
    Step(Step&& other) noexcept
        : name(std::move(other.name)), pending(other.pending), value(std::move(other.value)),
          log(other.log), wakers(other.wakers) {
        other.moved_from = true;
    }
    ~Step() {
        if (!moved_from) {
            log->push_back("~" + name);
        }
    }

    std::optional<T> poll(const Waker& waker) {
        log->push_back("poll " + name);
        if (wakers) {
            wakers->push_back(waker);
        }
        if (pending-- > 0) {
            return std::nullopt;
        }
        return std::move(value);
    }
};

} // namespace
