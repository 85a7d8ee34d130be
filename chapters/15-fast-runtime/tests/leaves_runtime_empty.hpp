// LeavesRuntimeEmpty: declared first thing in a test, it checks when the test ends that
// nothing is left behind in the runtime: no live task on SCHEDULER, no registration and no
// timer in this thread's REACTOR. The tests of one stage share one binary, so a leftover
// would leak into the next test.
#pragma once

#include "reactor.hpp"
#include "scheduler.hpp"

#include <doctest/doctest.h>

struct LeavesRuntimeEmpty {
    ~LeavesRuntimeEmpty() {
        CHECK(SCHEDULER.live_tasks() == 0);
        CHECK(REACTOR.registrations() == 0);
        CHECK(REACTOR.timers() == 0);
    }
};
