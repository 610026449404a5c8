//! A `block_on` made while another thread keeps the current-thread flavor's driver role (a
//! server's `main`) polls its future on its own thread; when it returns it gives back all it
//! took. It used to leave its waker listed for the driver role until the driver left: about
//! a hundred bytes per call for as long as the driver kept the role.
//!
//! Measured in live heap bytes, counted by this binary's global allocator; alone in its binary
//! for that reason.

#![cfg(not(loom))]

use ciranda_scheduler::{Flavor, Scheduler};
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::mpsc;
use std::time::Duration;

/// The system allocator, counting the bytes currently allocated.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is bookkeeping only.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System::realloc`'s.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
            LIVE_BYTES.fetch_add(new_size, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// `block_on` calls made beside the driver after a warm-up.
const CALLS: usize = 10_000;
/// What those calls may leave allocated in all: far below the ~1 MB that a waker per call
/// came to.
const KEPT_BOUND: usize = 64 * 1024;

#[test]
fn block_on_calls_beside_a_driver_give_back_their_memory() {
    let sched = Scheduler::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap();
    let handle = sched.handle();
    // The driver keeps the role until the gate task is aborted.
    let gate = handle.spawn(std::future::pending::<()>());
    let open = gate.abort_handle();
    let (driving_tx, driving_rx) = mpsc::channel();
    let driver = std::thread::spawn({
        let handle = handle.clone();
        move || {
            handle.block_on(async move {
                // Polled by the driver: this thread holds the role from here on.
                driving_tx.send(()).unwrap();
                gate.await
            })
        }
    });
    driving_rx.recv_timeout(Duration::from_secs(60)).unwrap();
    // Each call is pending once (the yield wakes it at once), so it waits for the role once.
    let call = |i: usize| {
        handle.block_on(async move {
            ciranda_scheduler::yield_now().await;
            i
        })
    };
    // Warm-up: this thread's first calls set up its thread-locals.
    for i in 0..100 {
        assert_eq!(call(i), i);
    }
    let before = LIVE_BYTES.load(Relaxed);
    for i in 0..CALLS {
        assert_eq!(call(i), i);
    }
    let kept = LIVE_BYTES.load(Relaxed).saturating_sub(before);
    assert!(
        kept < KEPT_BOUND,
        "{CALLS} block_on calls beside the driver kept {kept} bytes (bound {KEPT_BOUND})"
    );
    open.abort();
    assert!(driver.join().unwrap().unwrap_err().is_cancelled());
}
