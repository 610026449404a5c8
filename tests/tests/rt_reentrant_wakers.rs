#![cfg(not(loom))]
//! A `JoinHandle` polled with wakers whose `clone`, `drop` or `wake` call back into the task
//! they wait for (abort it, ask whether it finished, spawn more work) or into the runtime.
//! The join-waker protocol takes no lock, so none of this may deadlock, lose a wake-up or
//! leak the waker (issue 15, defect 1: "audit every waiter list ... JoinHandle").

use ciranda::Runtime;
use ciranda::task::AbortHandle;
use ciranda_tests::support::within;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, RawWaker, RawWakerVTable, Waker};
use std::time::Duration;

/// A waker that runs `on_event` on every clone, wake and drop, and counts its live clones.
struct Hooked {
    live: AtomicUsize,
    wakes: AtomicUsize,
    on_event: Mutex<Option<Box<dyn FnMut() + Send>>>,
}

impl Hooked {
    fn new(on_event: impl FnMut() + Send + 'static) -> Arc<Hooked> {
        Arc::new(Hooked {
            live: AtomicUsize::new(0),
            wakes: AtomicUsize::new(0),
            on_event: Mutex::new(Some(Box::new(on_event))),
        })
    }

    fn event(&self) {
        // Re-entrancy into the same waker (the callback clones it) must not deadlock here.
        let taken = self.on_event.lock().unwrap().take();
        if let Some(mut f) = taken {
            f();
            *self.on_event.lock().unwrap() = Some(f);
        }
    }

    fn waker(self: &Arc<Self>) -> Waker {
        self.live.fetch_add(1, SeqCst);
        let data = Arc::into_raw(self.clone()).cast::<()>();
        // SAFETY: `data` owns one strong count of a `Hooked`, as the vtable expects.
        unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) }
    }
}

static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

/// # Safety
/// `data` is a live waker made by `Hooked::waker`.
unsafe fn hooked<'a>(data: *const ()) -> &'a Hooked {
    // SAFETY: the waker owns a strong count, so the allocation is live.
    unsafe { &*data.cast::<Hooked>() }
}

unsafe fn clone(data: *const ()) -> RawWaker {
    // SAFETY: RawWaker contract: `data` is live.
    let h = unsafe { hooked(data) };
    h.event();
    h.live.fetch_add(1, SeqCst);
    // SAFETY: one more strong count for the clone.
    unsafe { Arc::increment_strong_count(data.cast::<Hooked>()) };
    RawWaker::new(data, &VTABLE)
}

unsafe fn wake(data: *const ()) {
    // SAFETY: RawWaker contract.
    unsafe {
        wake_by_ref(data);
        drop_waker(data);
    }
}

unsafe fn wake_by_ref(data: *const ()) {
    // SAFETY: RawWaker contract.
    let h = unsafe { hooked(data) };
    h.wakes.fetch_add(1, SeqCst);
    h.event();
}

unsafe fn drop_waker(data: *const ()) {
    // SAFETY: RawWaker contract: release this waker's strong count last.
    unsafe {
        let h = hooked(data);
        h.event();
        h.live.fetch_sub(1, SeqCst);
        Arc::decrement_strong_count(data.cast::<Hooked>());
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

/// Every clone, wake and drop of the join waker aborts the awaited task and asks whether it
/// finished; the handle is polled with a fresh waker of that kind each time (replacing the
/// stored one, whose drop then runs the callback too).
#[test]
fn join_waker_that_aborts_its_own_task_on_clone_and_drop() {
    within(30, "join waker aborting its task", || {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
        let mut join = rt.spawn(async move {
            ciranda::spawn_blocking(move || release_rx.recv().ok())
                .await
                .unwrap();
            7
        });
        let abort: AbortHandle = join.abort_handle();
        let hits = Arc::new(AtomicUsize::new(0));
        let mut wakers = Vec::new();
        for _ in 0..3 {
            let (abort, hits) = (abort.clone(), hits.clone());
            let hooked = Hooked::new(move || {
                hits.fetch_add(1, SeqCst);
                let _ = abort.is_finished();
            });
            let waker = hooked.waker();
            assert!(poll_once(&mut join, &waker).is_pending());
            drop(waker);
            wakers.push(hooked);
        }
        // Now let a callback abort: the next clone or drop (or the wake) cancels the task.
        let abort_now = abort.clone();
        let hooked = Hooked::new(move || abort_now.abort());
        let waker = hooked.waker();
        let polled = poll_once(&mut join, &waker);
        drop(waker);
        drop(release_tx);
        let result = match polled {
            Poll::Ready(result) => result,
            Poll::Pending => rt.block_on(join),
        };
        assert!(
            matches!(&result, Ok(7)) || result.as_ref().is_err_and(|e| e.is_cancelled()),
            "{result:?}"
        );
        assert!(hits.load(SeqCst) > 0);
        // Every waker the runtime was handed is released.
        drop(rt);
        for h in wakers.iter().chain([&hooked]) {
            assert_eq!(h.live.load(SeqCst), 0, "a join waker leaked");
        }
    });
}

/// A join waker whose wake spawns another task and blocks on nothing: it runs on the worker
/// that completes the task. The spawned task must run, and its waker must not deadlock.
#[test]
fn join_waker_that_spawns_on_wake_runs_on_the_completing_worker() {
    within(30, "join waker spawning on wake", || {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        let handle = rt.handle();
        let spawned = Arc::new(AtomicUsize::new(0));
        let mut join = rt.spawn(async {
            ciranda::time::sleep(Duration::from_millis(5)).await;
            1
        });
        let s = spawned.clone();
        let hooked = Hooked::new(move || {
            let s = s.clone();
            drop(handle.spawn(async move {
                s.fetch_add(1, SeqCst);
            }));
        });
        let waker = hooked.waker();
        assert!(poll_once(&mut join, &waker).is_pending());
        drop(waker);
        // The completing worker wakes the stored waker, whose callback spawns there.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while hooked.wakes.load(SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the join waker was not woken"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let spawned_by_then = spawned.load(SeqCst);
        assert_eq!(rt.block_on(join).unwrap(), 1);
        // The tasks the callbacks spawned run on the one worker.
        rt.block_on(async {
            while spawned.load(SeqCst) < spawned_by_then.max(1) {
                ciranda::time::sleep(Duration::from_millis(1)).await;
            }
        });
        assert_eq!(hooked.wakes.load(SeqCst), 1);
        drop(rt);
        assert_eq!(hooked.live.load(SeqCst), 0, "the join waker leaked");
    });
}
