//! Spawn storms: 16 foreign threads spawn tasks through `Handle`s as fast as they can, the
//! tasks spawn children, wake each other through channels and await their results; every
//! task runs exactly once, every handle resolves, and the memory the runtime took for the
//! storm is given back once it is over.
//!
//! "Given back" is measured in live heap bytes, counted by this binary's global allocator:
//! that is what the runtime controls. The process's RSS after `malloc_trim` is printed too,
//! but not asserted: how much of a freed burst glibc returns to the OS depends on how its
//! per-thread arenas fragmented, and on a loaded machine that varied from 6 to 56 MB after
//! the same storm while the live bytes came back to within a few hundred KB.
//!
//! Alone in its binary (apart from a second storm run in series): it measures the process.

use ciranda::Runtime;
use ciranda::sync::mpsc;
use ciranda_tests::support::wait_until_within;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Barrier};
use std::time::Duration;

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

const MB: usize = 1 << 20;

/// The system allocator, counting the bytes currently allocated.
struct CountingAllocator;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to `System` unchanged; the counter is bookkeeping only.
unsafe impl std::alloc::GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        // SAFETY: the caller's contract is `System::alloc`'s.
        let ptr = unsafe { std::alloc::System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size(), std::sync::atomic::Ordering::Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
        // SAFETY: the caller's contract is `System::dealloc`'s.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        // SAFETY: the caller's contract is `System::realloc`'s.
        let new = unsafe { std::alloc::System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_sub(layout.size(), std::sync::atomic::Ordering::Relaxed);
            LIVE_BYTES.fetch_add(new_size, std::sync::atomic::Ordering::Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn live_bytes() -> usize {
    LIVE_BYTES.load(SeqCst)
}

fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
    pages * page
}

/// RSS after the allocator gave its free pages back (so memory still held by ciranda is told
/// apart from memory malloc merely caches).
fn rss_after_trim() -> usize {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    rss()
}

struct Counts {
    ran: AtomicUsize,
    dropped: AtomicUsize,
}

struct Guard(Arc<Counts>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.dropped.fetch_add(1, SeqCst);
    }
}

/// 16 threads × `per_thread` spawns; each task spawns a child and the pair talk through a
/// channel. Returns (tasks expected, peak RSS).
fn storm(rt: &Runtime, per_thread: usize, counts: &Arc<Counts>) -> (usize, usize) {
    const THREADS: usize = 16;
    let start = Arc::new(Barrier::new(THREADS + 1));
    let peak = Arc::new(AtomicUsize::new(0));
    let threads: Vec<_> = (0..THREADS)
        .map(|t| {
            let handle = rt.handle();
            let (start, counts, peak) = (start.clone(), counts.clone(), peak.clone());
            std::thread::spawn(move || {
                start.wait();
                let mut handles = Vec::with_capacity(per_thread);
                for i in 0..per_thread {
                    let counts = counts.clone();
                    let guard = Guard(counts.clone());
                    let h = handle.spawn(async move {
                        let _guard = guard;
                        counts.ran.fetch_add(1, SeqCst);
                        let (tx, mut rx) = mpsc::channel::<usize>(1);
                        let child_counts = counts.clone();
                        let child_guard = Guard(counts.clone());
                        let child = ciranda::spawn(async move {
                            let _guard = child_guard;
                            child_counts.ran.fetch_add(1, SeqCst);
                            tx.send(i).await.unwrap();
                            i * 2
                        });
                        let got = rx.recv().await.unwrap();
                        got + child.await.unwrap()
                    });
                    // Keep every fourth handle to await; detach the rest.
                    if i % 4 == 0 {
                        handles.push((i, h));
                    }
                    if i % 1024 == 0 {
                        peak.fetch_max(rss(), SeqCst);
                    }
                }
                for (i, h) in handles {
                    assert_eq!(handle.block_on(h).unwrap(), i * 3, "thread {t}");
                }
                peak.fetch_max(rss(), SeqCst);
            })
        })
        .collect();
    start.wait();
    for t in threads {
        t.join().unwrap();
    }
    (THREADS * per_thread * 2, peak.load(SeqCst))
}

/// `support::wait_until` with this file's longer deadline: its waits follow storms of work.
fn wait_until(what: &str, cond: impl Fn() -> bool) {
    wait_until_within(60, what, cond);
}

#[test]
fn spawn_storm_from_16_foreign_threads_runs_everything_once_and_memory_returns() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    // Warm-up storm, so per-thread and first-use allocations exist before the baseline.
    let counts = Arc::new(Counts {
        ran: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
    });
    let (n, _) = storm(&rt, 1000, &counts);
    wait_until("warm-up done", || counts.dropped.load(SeqCst) == n);
    wait_until("warm-up task list empty", || rt.handle().tasks().is_empty());
    let baseline = rss_after_trim();
    let live_baseline = live_bytes();

    let counts = Arc::new(Counts {
        ran: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
    });
    let started = std::time::Instant::now();
    let (expected, peak) = storm(&rt, 12_500, &counts);
    // Detached tasks may still be finishing.
    wait_until("every task dropped", || {
        counts.dropped.load(SeqCst) == expected
    });
    let took = started.elapsed();
    assert_eq!(
        counts.ran.load(SeqCst),
        expected,
        "every task ran exactly once"
    );
    assert_eq!(counts.dropped.load(SeqCst), expected);
    // No task is left listed once they have all finished.
    wait_until("task list empty", || rt.handle().tasks().is_empty());
    // Memory freed through crossbeam's epoch-based reclamation (the queues' old buffers) is
    // released when runtime threads next pin an epoch, not at once: keep the workers turning
    // until the live bytes settle (a leak never does).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while live_bytes() > live_baseline + MB && std::time::Instant::now() < deadline {
        rt.block_on(async {
            let small: Vec<_> = (0..64).map(|i| ciranda::spawn(async move { i })).collect();
            for h in small {
                h.await.unwrap();
            }
        });
        std::thread::sleep(Duration::from_millis(5));
    }
    let live_after = live_bytes();
    let after = rss_after_trim();
    eprintln!(
        "spawn storm: {expected} tasks in {took:?}; live heap {} KB before, {} KB after; RSS \
         baseline {} MB, peak {} MB, after {} MB",
        live_baseline / 1024,
        live_after / 1024,
        baseline / MB,
        peak / MB,
        after / MB
    );
    // The storm's tasks alone are over 38 MB; what may stay is a few queue blocks and
    // registry capacity.
    assert!(
        live_after <= live_baseline + MB,
        "the storm's memory was not given back: {} KB live before, {} KB after",
        live_baseline / 1024,
        live_after / 1024
    );
}

#[test]
fn spawn_storm_while_workers_are_saturated() {
    // The storm lands while every worker is busy with CPU work that yields now and then:
    // the injector is checked regularly, so the storm's tasks all run.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let busy: Vec<_> = (0..4)
        .map(|_| {
            let stop = stop.clone();
            rt.spawn(async move {
                let mut spins = 0u64;
                while !stop.load(SeqCst) {
                    for _ in 0..1000 {
                        spins = spins.wrapping_add(1);
                        std::hint::spin_loop();
                    }
                    ciranda::task::yield_now().await;
                }
                spins
            })
        })
        .collect();
    let counts = Arc::new(Counts {
        ran: AtomicUsize::new(0),
        dropped: AtomicUsize::new(0),
    });
    let (expected, _) = storm(&rt, 2000, &counts);
    wait_until("every task dropped", || {
        counts.dropped.load(SeqCst) == expected
    });
    assert_eq!(counts.ran.load(SeqCst), expected);
    stop.store(true, SeqCst);
    for b in busy {
        rt.block_on(b).unwrap();
    }
}

/// Live heap bytes once the workers had time to finish what they do on going idle.
fn settled_live_bytes(bound: usize) -> usize {
    // Returns as soon as the bound is met; the deadline only ends a test that failed.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let live = live_bytes();
        if live <= bound || std::time::Instant::now() > deadline {
            return live;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn a_finished_burst_beside_many_live_tasks_is_freed_once_the_runtime_idles() {
    // The registry unlinks completed tasks in bounded steps; a runtime that goes idle must
    // still finish the walk before its workers sleep, or the burst's task cells stay
    // allocated until something else runs. Nothing runs here after the burst.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async {
        for _ in 0..50_000 {
            drop(ciranda::spawn(std::future::pending::<()>()));
        }
    });
    let with_live_tasks = live_bytes();
    // The burst's tasks all wait while they are spawned, so no walk on the spawn path finds
    // any of them finished; they finish together afterwards, and only the workers going
    // idle can unlink them.
    let go = Arc::new(ciranda::sync::Event::new());
    rt.block_on(async {
        for _ in 0..200_000 {
            let go = go.clone();
            drop(ciranda::spawn(async move { go.wait().await }));
        }
    });
    go.set();
    // 200 000 finished cells are about 20 MB.
    let after = settled_live_bytes(with_live_tasks + 2 * MB);
    assert!(
        after <= with_live_tasks + 2 * MB,
        "the burst's finished tasks were not freed: {} KB live with the 50 000 waiting \
         tasks, {} KB after the burst",
        with_live_tasks / 1024,
        after / 1024
    );
}

#[test]
fn a_current_thread_runtime_that_never_idles_still_frees_finished_tasks() {
    // The driver reports completions while it stays busy, so the registry's spawn-side
    // walks (which wait for reported completions) keep the finished tasks bounded.
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let rt = Runtime::builder()
        .flavor(ciranda::Flavor::CurrentThread)
        .build()
        .unwrap();
    let before = live_bytes();
    let peak = rt.block_on(async {
        let mut peak = 0;
        for i in 0..300_000u32 {
            drop(ciranda::spawn(async move { i }));
            if i % 16 == 0 {
                // Requeued behind the tasks just spawned: the queue never empties, so the
                // driver never goes idle.
                ciranda::task::yield_now().await;
            }
            if i % 10_000 == 0 {
                peak = peak.max(live_bytes().saturating_sub(before));
            }
        }
        peak
    });
    // Unswept, 300 000 finished cells would be about 30 MB.
    assert!(
        peak <= 8 * MB,
        "finished tasks piled up while the driver stayed busy: {} KB above the start",
        peak / 1024
    );
}
