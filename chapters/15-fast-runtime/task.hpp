// Task: a C++20 coroutine that is a Future of our runtime.
//
// Rust compiles an `async fn` into a state machine that is a Future; `.await` polls another
// future from inside it. Task<T> gives C++ the same: a function whose return type is Task<T>
// and whose body uses `co_await` or `co_return` is a coroutine, and the Task it returns has
// `using Output = T` and `std::optional<T> poll(const Waker&)`, so it can be spawned, selected
// on or awaited like any hand-written future of stages 11 to 13.
//
//     Task<std::string> greet(std::string name) {
//         co_await sleep_for(100ms);         // any Future
//         int visitor = co_await visitors(); // another Task (a Task<int>)
//         co_return "hello " + name + ", visitor " + std::to_string(visitor);
//     }
//
// Poll-driven, like Rust: the coroutine is the state machine, and only poll() resumes it.
// A Waker never resumes a coroutine; it only asks the scheduler to poll the task again, so
// the code after a `co_await` always runs inside poll(), on the runtime's thread (a
// spawn_blocking thread that finishes only wakes the task). `co_await` accepts our Futures
// and Tasks and nothing else: an awaitable of another library could resume the coroutine
// from whatever thread completes it, and that is a compile error here, not a race.
//
// Who owns what:
//   - A Task owns its coroutine frame (heap-allocated by the compiler, holding the
//     parameters, the locals that live across a `co_await` and the promise below), and
//     destroys it in its destructor, finished or not.
//   - A frame owns what it is awaiting: `co_await future` moves the future into an awaiter
//     that lives in the frame, and `co_await task` moves the Task there. Destroying a
//     suspended frame therefore destroys the awaited future (whose Registration leaves the
//     reactor, stage 08) or the awaited Task, and every live local, exactly once.
//   - The Task that is polled (the top level: the one spawned, or inside a select) keeps the
//     trampoline state (Driver) in its promise; the Tasks it awaits, however deep, share it.
//
// The trampoline: polling the top-level Task resumes coroutines in a loop, one at a time,
// never one from inside another. When a coroutine awaits a Task, it suspends and the loop
// resumes the child; when the child finishes, it suspends at its end and the loop resumes
// the parent. When a coroutine awaits a future that is not ready, poll() returns "not yet";
// the next poll() polls that future (the leaf) first and resumes the coroutine only once it
// is ready. So the C++ stack stays as deep as poll() plus one coroutine, however deeply tasks
// await tasks and however many awaits complete without waiting. The usual alternative,
// symmetric transfer (await_suspend returning the next coroutine's handle), is a tail call
// that g++ 12 does not make at -O0: a loop awaiting a million tasks that finish at once
// overflows the stack. Asio's awaitable_thread "pumps" its frames the same way.
//
// Simplification: a `co_await` of a future that is ready goes straight on, so a coroutine
// whose awaits are all ready keeps the thread until it ends. tokio gives each task a budget
// of operations per poll, after which its resources say "not yet" so that the task yields.
//
// Threads: a Task may be moved to another thread before its first poll (the Scheduler does);
// after that it is polled and destroyed on the thread that first polled it (REACTOR is per
// thread, and so are the registrations of the futures it awaits).
//
// Exceptions: one thrown in a coroutine body (or by the poll() of a future it awaits) is
// rethrown by the `co_await` that awaits it, in the awaiting coroutine; one that escapes the
// top-level coroutine is rethrown by poll(), and the Scheduler reports it and drops the task.
//
// Cost: one frame per call of a coroutine (compilers may elide it when the caller's
// lifetime encloses it, g++ 12 never does), taken from this thread's frame pool: a heap
// allocation only when no frame of its size was freed before (frame_pool.hpp). None per `co_await` of a future: the
// future sits in the awaiter in the frame, and the Driver points at it with a void* and a
// function pointer that knows its type (one indirect call per poll of a waiting future). The
// price is frame size: every future awaited at some suspension point is part of the frame.
#pragma once

#include "frame_pool.hpp"
#include "future.hpp"
#include "waker.hpp"

#include <cassert>
#include <cstddef>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

template <class T = Unit>
class Task;

namespace task_detail {

struct PromiseBase;

// Driver: the trampoline of one top-level task. Written by the awaiters as coroutines
// suspend, read by Task::poll() to know what to do next.
struct Driver {
    const Waker* waker = nullptr;   // the waker of the poll() in progress (only valid during it)
    PromiseBase* current = nullptr; // the innermost coroutine: the one to resume next
    void* leaf = nullptr;           // the awaiter of the future `current` waits on, if any
    bool (*poll_leaf)(void* leaf, const Waker& waker) = nullptr; // polls it; true when ready
};

// FinalAwaiter: where every coroutine stops at its end. It hands the trampoline back to the
// coroutine that awaited this one (none for the top level) and stays suspended, so the Task
// can still read the result; the frame is destroyed by the Task that owns it.
struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> finished) const noexcept;
    void await_resume() const noexcept {}
};

// FutureAwaiter: `co_await future` for any Future. Holds the future (moved in; held by
// reference if an lvalue was awaited) and, once ready, its output. It lives in the awaiting
// coroutine's frame for as long as the coroutine waits, so its address is stable.
template <class F>
class FutureAwaiter {
    using Output = typename std::remove_reference_t<F>::Output;

  public:
    FutureAwaiter(F&& future, Driver& driver) : future_(std::forward<F>(future)), driver_(driver) {}

    // Polls once right away, with the waker of the poll in progress: a future that is ready
    // costs no suspension at all. One that throws throws here, in the awaiting coroutine.
    bool await_ready() { return take(future_.poll(*driver_.waker)); }

    // Not ready: it has the waker and will wake the task. Become the leaf Task::poll() polls.
    void await_suspend(std::coroutine_handle<>) noexcept {
        driver_.leaf = this;
        driver_.poll_leaf = &poll_again;
    }

    Output await_resume() {
        if (error_) {
            std::rethrow_exception(error_);
        }
        return std::move(*output_);
    }

  private:
    bool take(std::optional<Output>&& output) {
        if (output) {
            output_.emplace(std::move(*output));
        }
        return output_.has_value();
    }

    // The function pointer Driver keeps: the only place that knows F. An exception from the
    // future's poll() is kept for await_resume(), which rethrows it in the coroutine.
    static bool poll_again(void* leaf, const Waker& waker) noexcept {
        auto& self = *static_cast<FutureAwaiter*>(leaf);
        try {
            return self.take(self.future_.poll(waker));
        } catch (...) {
            self.error_ = std::current_exception();
            return true;
        }
    }

    F future_;
    Driver& driver_;
    std::optional<Output> output_;
    std::exception_ptr error_;
};

template <class U>
class TaskAwaiter;

template <class T>
inline constexpr bool is_task = false;
template <class T>
inline constexpr bool is_task<Task<T>> = true;

// PromiseBase: what every Task's promise has, whatever its output type. The promise is the
// part of the frame the compiler lets us define: it decides how the coroutine starts, ends,
// fails and awaits.
struct PromiseBase {
    std::coroutine_handle<> self;             // this coroutine
    Driver* driver = nullptr;                 // the top-level task's, once it runs
    PromiseBase* parent = nullptr;            // the coroutine awaiting this one, if any
    std::coroutine_handle<>* owner = nullptr; // the awaiting Task's handle to this frame
    std::exception_ptr error;                 // what escaped the body, for the awaiter
    Driver root;                              // used only when this is the top-level task

    // Lazy, like a Rust future: calling a coroutine only creates its frame; nothing runs
    // until the task is polled or awaited.
    std::suspend_always initial_suspend() const noexcept { return {}; }
    FinalAwaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { error = std::current_exception(); }

    // `co_await expression` calls await_transform(expression) first. These overloads are the
    // only things a Task can await: any Future (our leaves and combinators), or a Task.
    template <class F>
        requires Future<std::remove_reference_t<F>> && (!is_task<std::remove_cvref_t<F>>)
    FutureAwaiter<F> await_transform(F&& future) {
        return FutureAwaiter<F>(std::forward<F>(future), *driver);
    }
    template <class U>
    TaskAwaiter<U> await_transform(Task<U>&& task) {
        return TaskAwaiter<U>(std::move(task));
    }
    // Awaiting a Task consumes it (Rust's `.await` takes the future by value): write
    // `co_await std::move(task)`.
    template <class U>
    void await_transform(Task<U>& task) = delete;
};

// ReturnSlot: where `co_return value;` leaves the output. A Task<Unit> ends with `co_return;`
// or by running off its end instead.
template <class T>
struct ReturnSlot {
    std::optional<T> value;
    void return_value(T output) { value.emplace(std::move(output)); }
};
template <>
struct ReturnSlot<Unit> {
    std::optional<Unit> value;
    void return_void() { value.emplace(); }
};

template <class Promise>
void FinalAwaiter::await_suspend(std::coroutine_handle<Promise> finished) const noexcept {
    PromiseBase& promise = finished.promise();
    promise.driver->current = promise.parent; // nobody for the top level: poll() is done
}

} // namespace task_detail

template <class T>
class Task {
  public:
    using Output = T;

    // The compiler finds the promise type of a coroutine through its return type.
    struct promise_type : task_detail::PromiseBase, task_detail::ReturnSlot<T> {
        Task get_return_object() {
            self = std::coroutine_handle<promise_type>::from_promise(*this);
            return Task(self);
        }
        // The frame comes from this thread's frame pool (frame_pool.hpp), not straight from
        // malloc: the compiler allocates a coroutine's frame with its promise's operator new.
        static void* operator new(std::size_t size) { return frame_pool::allocate(size); }
        static void operator delete(void* frame, std::size_t size) noexcept {
            frame_pool::deallocate(frame, size);
        }
    };

    Task(Task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
    Task& operator=(Task&& other) noexcept {
        if (this != &other) {
            destroy();
            frame_ = std::exchange(other.frame_, {});
        }
        return *this;
    }
    Task(const Task&) = delete;
    Task& operator=(const Task&) = delete;
    ~Task() { destroy(); }

    // Runs the coroutine (and every task it awaits) until it must wait for a future that is
    // not ready, or until it finishes. Called by the Scheduler, by a combinator such as
    // select, or by a test. Rethrows what escaped the coroutine. Never call it again after
    // it returned a value (or threw), nor on a task that another task awaits.
    std::optional<T> poll(const Waker& waker);

  private:
    template <class U>
    friend class task_detail::TaskAwaiter;

    explicit Task(std::coroutine_handle<> frame) : frame_(frame) {}

    promise_type& promise() const {
        return std::coroutine_handle<promise_type>::from_address(frame_.address()).promise();
    }

    void destroy() noexcept;

    // Type-erased so that the task awaiting this one can point at it (PromiseBase::owner).
    std::coroutine_handle<> frame_;
};

namespace task_detail {

// TaskAwaiter: `co_await task`. Owns the awaited Task for as long as the awaiting coroutine
// waits. It does not run the child itself: it links it under the awaiting coroutine and
// suspends, and the trampoline in Task::poll() resumes the child next.
template <class U>
class TaskAwaiter {
  public:
    explicit TaskAwaiter(Task<U>&& task) : task_(std::move(task)) {}

    bool await_ready() const noexcept { return false; }

    template <class Promise>
    void await_suspend(std::coroutine_handle<Promise> awaiting) noexcept {
        PromiseBase& parent = awaiting.promise();
        PromiseBase& child = task_.promise();
        assert(child.driver == nullptr && "a task can be awaited once, and not after a poll()");
        child.driver = parent.driver;
        child.parent = &parent;
        child.owner = &task_.frame_;
        parent.driver->current = &child;
    }

    U await_resume() {
        auto& child = task_.promise();
        if (child.error) {
            std::rethrow_exception(child.error);
        }
        return std::move(*child.value);
    }

  private:
    Task<U> task_;
};

} // namespace task_detail

template <class T>
std::optional<T> Task<T>::poll(const Waker& waker) {
    assert(frame_ && !frame_.done() && "poll() of a finished (or moved-from) task");
    promise_type& top = promise();
    task_detail::Driver& driver = top.root;
    if (top.driver == nullptr) { // first poll: this task is a top level
        top.driver = &driver;
        driver.current = &top;
    }
    assert(top.driver == &driver && "poll() of a task that another task awaits");
    driver.waker = &waker;

    if (driver.leaf != nullptr) {
        if (!driver.poll_leaf(driver.leaf, waker)) {
            return std::nullopt; // still waiting; the leaf has the new waker
        }
        driver.leaf = nullptr;
    }
    // The trampoline: each resume() runs one coroutine until it suspends, and returns here.
    do {
        driver.current->self.resume();
    } while (driver.current != nullptr && driver.leaf == nullptr);

    if (driver.current != nullptr) {
        return std::nullopt; // waiting on a leaf, which was just polled with `waker`
    }
    if (top.error) {
        std::rethrow_exception(top.error);
    }
    return std::move(top.value);
}

template <class T>
void Task<T>::destroy() noexcept {
    if (!frame_) {
        return;
    }
    task_detail::PromiseBase& top = promise();
    if (top.driver == &top.root) {
        // A top-level task that started: destroy the coroutines it awaits from the innermost
        // out, one by one. Destroying only the top frame would be correct too (its awaiter
        // owns the child Task, whose destructor destroys the next frame, and so on), but that
        // recursion is as deep as the chain of awaits, and a deep chain would overflow the
        // stack. Each child is first taken from the Task that owns it, so it dies once.
        for (task_detail::PromiseBase* inner = top.root.current; inner && inner != &top;) {
            task_detail::PromiseBase* outer = inner->parent;
            *inner->owner = nullptr;
            inner->self.destroy();
            inner = outer;
        }
    }
    std::exchange(frame_, {}).destroy();
}
