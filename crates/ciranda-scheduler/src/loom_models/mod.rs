//! loom models of the crate's concurrency protocols (`cfg(all(test, loom))` only).
//!
//! * [`task`]: the task state word — wake, complete, abort, shutdown, `JoinHandle` poll and
//!   drop racing each other on the real task allocation, vtable and wakers.
//! * [`registry`]: the shutdown close of the task registry is atomic across shards to a
//!   spawner that saw it.
//! * [`park`]: the `Parker` token, and the idle protocol (`Idle` + parkers + run queues)
//!   driven by real `Worker`s: no wake-up is ever lost.
//! * [`unpark`]: a notifier whose call into the hook's `unpark` failed gives the worker it
//!   chose back, so a later wake-up still reaches a worker.
//! * [`activity`]: the idle check that lets a paused clock jump never says "idle" while a
//!   task is in flight; the blocking pool's count of queued calls follows whether a thread
//!   can take them.
//!
//! Run with
//! `RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test -p ciranda-scheduler --release --lib --tests`.
//!
//! Bookkeeping that only the final assertions read (drop counters, the test waker's
//! counts) uses plain `std` atomics: loom runs its threads one at a time, and counting with
//! loom atomics would only add interleavings that check nothing.

mod activity;
mod park;
mod registry;
mod task;
mod unpark;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc as StdArc;
use std::sync::atomic::{AtomicUsize as StdAtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Wake, Waker};

/// Drives `future` to completion on the current loom thread, parking it (loom's thread
/// token) while pending. A waker that is never woken shows up as a loom deadlock.
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(::loom::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: StdArc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(StdArc::new(Unpark(::loom::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        ::loom::thread::park();
    }
}

/// Counts values created with [`DropCounter::guard`] and how many of them were dropped.
#[derive(Clone, Default)]
struct DropCounter(StdArc<Counts>);

#[derive(Default)]
struct Counts {
    made: StdAtomicUsize,
    dropped: StdAtomicUsize,
}

struct DropGuard(StdArc<Counts>);

impl DropCounter {
    fn guard(&self) -> DropGuard {
        self.0.made.fetch_add(1, SeqCst);
        DropGuard(self.0.clone())
    }
    fn made(&self) -> usize {
        self.0.made.load(SeqCst)
    }
    fn dropped(&self) -> usize {
        self.0.dropped.load(SeqCst)
    }
}

impl Drop for DropGuard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// A waker that counts its live clones and its wake-ups, so a model can check that the
/// runtime neither leaks nor double-drops a waker it was handed. Every clone also owns a
/// strong count of the shared counters, so even a leaked or misused waker stays memory-safe.
#[derive(Clone)]
struct TestWaker(StdArc<WakerCounts>);

#[derive(Default)]
struct WakerCounts {
    live: StdAtomicUsize,
    wakes: StdAtomicUsize,
}

static TEST_WAKER_VTABLE: RawWakerVTable = RawWakerVTable::new(
    test_waker_clone,
    test_waker_wake,
    test_waker_wake_by_ref,
    test_waker_drop,
);

impl TestWaker {
    fn new() -> TestWaker {
        TestWaker(StdArc::default())
    }

    fn waker(&self) -> Waker {
        self.0.live.fetch_add(1, SeqCst);
        let data = StdArc::into_raw(self.0.clone()).cast::<()>();
        // SAFETY: `data` owns one strong count of a `WakerCounts`, as the vtable expects.
        unsafe { Waker::from_raw(RawWaker::new(data, &TEST_WAKER_VTABLE)) }
    }

    /// Clones of [`waker`](Self::waker) not yet dropped (or consumed by `wake`).
    fn live(&self) -> usize {
        self.0.live.load(SeqCst)
    }

    fn wakes(&self) -> usize {
        self.0.wakes.load(SeqCst)
    }
}

/// # Safety
/// `data` came from [`TestWaker::waker`] (or a clone) and still owns its strong count.
unsafe fn test_waker_counts<'a>(data: *const ()) -> &'a WakerCounts {
    // SAFETY: the waker owns a strong count, so the allocation is live while it exists.
    unsafe { &*data.cast::<WakerCounts>() }
}

unsafe fn test_waker_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live test waker (RawWaker contract).
    unsafe {
        test_waker_counts(data).live.fetch_add(1, SeqCst);
        StdArc::increment_strong_count(data.cast::<WakerCounts>());
    }
    RawWaker::new(data, &TEST_WAKER_VTABLE)
}

unsafe fn test_waker_wake(data: *const ()) {
    // SAFETY: `wake` consumes a live waker: count the wake-up, then release it.
    unsafe {
        test_waker_counts(data).wakes.fetch_add(1, SeqCst);
        test_waker_drop(data);
    }
}

unsafe fn test_waker_wake_by_ref(data: *const ()) {
    // SAFETY: `data` is a live test waker (RawWaker contract).
    unsafe { test_waker_counts(data).wakes.fetch_add(1, SeqCst) };
}

unsafe fn test_waker_drop(data: *const ()) {
    // SAFETY: `data` is a live test waker; its strong count is released last, after the
    // counters were updated.
    unsafe {
        let previous = test_waker_counts(data).live.fetch_sub(1, SeqCst);
        assert!(
            previous > 0,
            "a waker was dropped more often than it was cloned"
        );
        StdArc::decrement_strong_count(data.cast::<WakerCounts>());
    }
}
