// A two-word waker: a data pointer and a table of functions, made and copied without allocating
//
// The challenge: make Waker what tokio's is, two words: a pointer to the task's data and a
// pointer to a static table of functions, with the reference count kept by whoever owns the
// data (the task), not by a shared_ptr's control block. Add to class Waker, exactly:
//
//     struct VTable {
//         void (*clone)(const void* data); // a copy of the waker was made: one more reference
//         void (*wake)(const void* data);  // poll the task again
//         void (*drop)(const void* data);  // a copy of the waker is gone: one reference less
//     };
//     Waker(const void* data, const VTable* vtable); // adopts one reference; never allocates
//
// A copy calls clone, the destructor of each copy (and of the waker made from the pair) calls
// drop, a moved-from waker calls nothing, wake() calls wake, and will_wake is true when both
// the data and the table are the same. Making such a waker, copying it, waking it and dropping
// it must allocate nothing. Keep `explicit Waker(std::function<void()>)`: it becomes one
// caller of the new constructor (the function goes into a small reference-counted box that
// comes with its own table), so every other test of the stage still passes.
#include "waker.hpp"

#include <doctest/doctest.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <optional>
#include <utility>
#include <vector>

// Counts the allocations of this thread: every operator new of the program comes here.
namespace {
thread_local long allocations = 0;
} // namespace

void* operator new(std::size_t size) {
    ++allocations;
    if (void* memory = std::malloc(size == 0 ? 1 : size)) {
        return memory;
    }
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept { std::free(memory); }
void operator delete(void* memory, std::size_t) noexcept { std::free(memory); }

namespace {

// What a scheduler's task would be: it owns its reference count, and says what its waker does.
struct FakeTask {
    mutable std::atomic<int> references{1}; // the one the first waker adopts
    mutable std::atomic<int> wakes{0};

    static const FakeTask& of(const void* data) { return *static_cast<const FakeTask*>(data); }
    static void clone(const void* data) { ++of(data).references; }
    static void wake(const void* data) { ++of(data).wakes; }
    static void drop(const void* data) { --of(data).references; }
};

template <class W>
concept MadeFromDataAndTable =
    requires(const void* data, const typename W::VTable* vtable) { W(data, vtable); };

// A template, so that the branch that names Waker::VTable compiles only where it exists.
template <class W>
void check_two_word_waker() {
    CHECK_MESSAGE(sizeof(W) == 2 * sizeof(void*), "a Waker should be two words");
    if constexpr (!MadeFromDataAndTable<W>) {
        FakeTask task;
        long before = allocations;
        W waker([&task] { FakeTask::wake(&task); });
        long made = allocations - before;
        W copy = waker;
        copy.wake();
        FAIL_CHECK("Waker has no constructor Waker(const void* data, const Waker::VTable* "
                   "vtable): it can only be made from a std::function, which it wraps in a "
                   "shared_ptr, and making one allocated "
                   << made << " time(s)");
    } else {
        static constexpr typename W::VTable table{
            .clone = &FakeTask::clone, .wake = &FakeTask::wake, .drop = &FakeTask::drop};
        FakeTask task;
        FakeTask other;
        std::vector<std::optional<W>> copies(100); // allocated before the counting starts
        // What happens is noted first and checked afterwards: a check may allocate itself.
        struct {
            int adopted, copied, woken, after_move, after_moved_wake, other_after_assign,
                after_assign, after_copies_gone;
            bool copy_will_wake, other_will_wake, assigned_will_wake;
        } seen{};
        long before = allocations;
        {
            W waker(&task, &table);
            seen.adopted = task.references;
            for (auto& copy : copies) {
                copy.emplace(waker);
            }
            seen.copied = task.references;
            for (auto& copy : copies) {
                copy->wake();
            }
            seen.woken = task.wakes;
            seen.copy_will_wake = copies.front()->will_wake(waker);

            W moved = std::move(waker);
            seen.after_move = task.references;
            moved.wake();
            seen.after_moved_wake = task.wakes;

            W elsewhere(&other, &table);
            seen.other_will_wake = elsewhere.will_wake(moved);
            elsewhere = moved; // drops its reference to `other`, takes one more of `task`
            seen.other_after_assign = other.references;
            seen.after_assign = task.references;
            seen.assigned_will_wake = elsewhere.will_wake(moved);

            for (auto& copy : copies) {
                copy.reset();
            }
            seen.after_copies_gone = task.references;
        } // `waker` (moved from), `moved` and `elsewhere` go
        long allocated = allocations - before;

        CHECK_MESSAGE(seen.adopted == 1, "the waker should adopt the task's one reference");
        CHECK_MESSAGE(seen.copied == 101, "each copy should call clone once");
        CHECK_MESSAGE(seen.woken == 100, "each wake() should call the table's wake once");
        CHECK_MESSAGE(seen.copy_will_wake, "a copy should will_wake the waker it was copied from");
        CHECK_MESSAGE(seen.after_move == 101, "a move should call neither clone nor drop");
        CHECK_MESSAGE(seen.after_moved_wake == 101, "the moved-to waker should wake the task");
        CHECK_MESSAGE(!seen.other_will_wake, "wakers of two tasks should not will_wake each other");
        CHECK_MESSAGE(seen.other_after_assign == 0,
                      "assigning over a waker should drop the reference it held");
        CHECK_MESSAGE(seen.after_assign == 102, "assigning a waker should clone it");
        CHECK_MESSAGE(seen.assigned_will_wake, "an assigned waker should will_wake its source");
        CHECK_MESSAGE(seen.after_copies_gone == 2, "each destroyed copy should call drop once");
        CHECK_MESSAGE(task.references == 0, "every reference taken should be dropped, once");
        CHECK_MESSAGE(allocated == 0, "making, copying, waking and dropping wakers made "
                                          << allocated << " allocation(s)");
    }
}

} // namespace

TEST_CASE("a waker made from a data pointer and a table of functions never allocates") {
    check_two_word_waker<Waker>();
}
