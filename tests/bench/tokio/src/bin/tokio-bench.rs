//! tests/bench/runtime_bench.cpp's micro-benchmarks, on tokio's current_thread runtime.
//!
//! Same names, same work, same output: one line per benchmark,
//!   BENCH {"name": ..., "about": ..., "ops": N, "ns_per_op": X}
//! which tests/bench/run collects next to stage 10's. `--quick` runs a hundredth of the work.
//!
//! The tasks are the C++ ones: `Ready`, done on its first poll, and `Yield`, which wakes itself
//! (`wake_by_ref`) `left` times before it is done. The runtime is built with `enable_all()`, so
//! while tasks stay runnable it looks at its I/O driver (epoll_wait, timeout 0) once every 61
//! polls, as stage 10's run() does. The main task waits for the spawned ones through a
//! thread-local count and one waker, woken by the last task to finish: per batch, not per
//! task, so it costs next to nothing. (Spawned tasks' JoinHandles are dropped at once.)
//!
//! And `yield_now_1_task`: a task that calls tokio's own `tokio::task::yield_now()` in a loop
//! (runtime_bench.cpp's is a future that does what it does, without deferring the wake: see
//! yield_now below).
//! Not a test: nothing here asserts on a time.
use std::cell::{Cell, RefCell};
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::runtime::Runtime;

thread_local! {
    static LEFT: Cell<usize> = Cell::new(0);               // tasks not finished yet
    static WAITER: RefCell<Option<Waker>> = RefCell::new(None); // the main task, waiting
}

fn one_done() {
    let left = LEFT.with(|left| {
        left.set(left.get() - 1);
        left.get()
    });
    if left == 0 {
        if let Some(waker) = WAITER.with(|w| w.borrow_mut().take()) {
            waker.wake();
        }
    }
}

/// Waits until every task counted in LEFT has finished.
async fn all_done() {
    poll_fn(|cx| {
        if LEFT.with(Cell::get) == 0 {
            return Poll::Ready(());
        }
        WAITER.with(|w| *w.borrow_mut() = Some(cx.waker().clone()));
        Poll::Pending
    })
    .await
}

struct Yield {
    left: usize,
}

impl Future for Yield {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.left == 0 {
            one_done();
            return Poll::Ready(());
        }
        self.left -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

fn report(name: &str, about: &str, ops: usize, took: Duration) {
    let ns = took.as_secs_f64() * 1e9 / ops as f64;
    println!(
        "BENCH {{\"name\": \"{name}\", \"about\": \"{about}\", \"ops\": {ops}, \"ns_per_op\": {ns:.2}}}"
    );
}

/// Spawns `total` tasks that are done on their first poll, `batch` at a time, and runs them.
fn spawn_and_complete(runtime: &Runtime, total: usize, batch: usize) {
    let took = runtime.block_on(async {
        let start = Instant::now();
        for _ in (0..total).step_by(batch) {
            LEFT.with(|left| left.set(batch));
            for _ in 0..batch {
                tokio::spawn(async { one_done() });
            }
            all_done().await;
        }
        start.elapsed()
    });
    report(
        "spawn_and_complete",
        "spawn a task that is done on its first poll, and run it (batches of 10,000)",
        total,
        took,
    );
}

/// `tasks` tasks wake themselves `wakes` times each: one wake -> poll round trip.
fn wake_poll(runtime: &Runtime, tasks: usize, wakes: usize, name: &str, about: &str) {
    let took = runtime.block_on(async {
        LEFT.with(|left| left.set(tasks));
        for _ in 0..tasks {
            tokio::spawn(Yield { left: wakes });
        }
        let start = Instant::now(); // as in the C++: the spawns are not timed
        all_done().await;
        start.elapsed()
    });
    report(name, about, tasks * wakes, took);
}

/// One task calls tokio's yield_now() `yields` times. tokio defers the wake of a yield until
/// the runtime has looked at its I/O driver (so that a yielding task lets I/O in): with
/// nothing else runnable, that is an epoll_wait per yield, which runtime_bench.cpp's
/// `YieldNow` does not pay.
fn yield_now(runtime: &Runtime, yields: usize) {
    let took = runtime.block_on(async {
        LEFT.with(|left| left.set(1));
        tokio::spawn(async move {
            for _ in 0..yields {
                tokio::task::yield_now().await;
            }
            one_done();
        });
        let start = Instant::now();
        all_done().await;
        start.elapsed()
    });
    report(
        "yield_now_1_task",
        "one task awaits a yield_now() future in a loop: each one wakes the task, says not \
         yet, and is done at the next poll",
        yields,
        took,
    );
}

fn main() {
    let quick = std::env::args().nth(1).as_deref() == Some("--quick");
    let scale = if quick { 100 } else { 1 };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current_thread runtime");
    spawn_and_complete(&runtime, 1_000_000 / scale, 10_000);
    wake_poll(
        &runtime,
        1,
        1_000_000 / scale,
        "wake_poll_1_task",
        "one task wakes itself; each wake is followed by its next poll",
    );
    wake_poll(
        &runtime,
        1_000,
        1_000 / scale,
        "wake_poll_1000_tasks",
        "1,000 tasks wake themselves in turn; one wake and its poll",
    );
    yield_now(&runtime, 1_000_000 / scale);
}
