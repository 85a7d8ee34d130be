// testing::eventually: waiting, with a deadline, for a fact that nothing announces.
#pragma once

#include <chrono>
#include <thread>

namespace testing {

// Checks `condition()` until it holds or `timeout` passes; returns whether it held.
//
// Only for facts that have no readiness signal, such as a count in /proc ("the server has
// started its threads", "its fds are closed") or a wake that comes from another thread:
// those can only be looked at again. The pause between looks keeps the check from competing
// for the CPU with what it watches; it never decides the outcome, the condition and the
// deadline do.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!condition()) {
        if (std::chrono::steady_clock::now() >= deadline) {
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return true;
}

} // namespace testing
