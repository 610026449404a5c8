//! A long-lived `TaskGroup` (asyncio's `async with TaskGroup() as tg:` around a server's
//! accept loop, here a spawner feeding the group while `join` waits) gives back each finished
//! member's memory as `join` takes its outcome, instead of holding it until the group ends.
//!
//! Measured in live heap bytes, counted by this binary's global allocator; alone in its binary
//! for that reason.

use ciranda::sync::Event;
use ciranda::task::TaskGroup;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

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

/// Members fed to the group, each a future of at least [`FUTURE_BYTES`].
const MEMBERS: usize = 1000;
const FUTURE_BYTES: usize = 8 * 1024;
/// What the group may keep for members it has joined: their outputs' slots and the capacity
/// of its tables, far below one task per member (`MEMBERS * FUTURE_BYTES`, 8 MB).
const KEPT_BOUND: usize = 2 << 20;

#[ciranda::test]
async fn a_long_lived_group_gives_back_each_member_it_joined() {
    let group = TaskGroup::<(), String>::new();
    let spawner = group.spawner();
    // The member that keeps the group open, as a server's accept loop does.
    let stop = Arc::new(Event::new());
    let stopped = stop.clone();
    spawner
        .spawn(async move {
            stopped.wait().await;
            Ok(())
        })
        .unwrap();
    let join = ciranda::spawn(group.join());
    ciranda::task::yield_now().await;
    let before = LIVE_BYTES.load(Relaxed);
    for _ in 0..MEMBERS {
        spawner
            .spawn(async {
                // Held across the await: part of the future, so of its task's allocation.
                let buffer = [1u8; FUTURE_BYTES];
                ciranda::task::yield_now().await;
                std::hint::black_box(&buffer);
                Ok(())
            })
            .unwrap();
    }
    // Every member finishes at once; `join` takes each outcome as it comes.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let kept = LIVE_BYTES.load(Relaxed).saturating_sub(before);
        if kept < KEPT_BOUND {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the group still holds {kept} bytes for {MEMBERS} members it joined long ago"
        );
        ciranda::time::sleep(Duration::from_millis(5)).await;
    }
    stop.set();
    let outputs = join.await.unwrap().unwrap();
    assert_eq!(outputs.len(), MEMBERS + 1);
}
