//! Behaviour tests for `Semaphore`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::{Semaphore, TryAcquireError};
use common::{Task, block_on};

#[test]
fn acquire_release_and_counts() {
    let sem = Semaphore::new(3);
    let a = block_on(sem.acquire()).unwrap();
    let b = block_on(sem.acquire_many(2)).unwrap();
    assert_eq!(b.num_permits(), 2);
    assert_eq!(sem.available_permits(), 0);
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    drop(a);
    assert_eq!(sem.available_permits(), 1);
    b.forget();
    assert_eq!(sem.available_permits(), 1);
    sem.add_permits(4);
    assert_eq!(sem.available_permits(), 5);
    assert_eq!(sem.forget_permits(2), 2);
    assert_eq!(sem.available_permits(), 3);
    assert!(sem.try_acquire_many(3).is_ok());
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn fifo_across_batch_sizes_and_partial_assignment() {
    let sem = Semaphore::new(0);
    let mut big = Task::new(sem.acquire_many(3));
    let mut small = Task::new(sem.acquire());
    big.pending();
    small.pending();
    sem.add_permits(2);
    // Both permits went to the front waiter (partially); the small one must wait behind it.
    assert_eq!(sem.available_permits(), 0);
    assert!(!big.is_woken());
    assert!(!small.is_woken());
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
    sem.add_permits(2);
    assert!(big.is_woken());
    assert!(small.is_woken());
    let p = big.ready().unwrap();
    assert_eq!(p.num_permits(), 3);
    small.ready().unwrap().forget();
    drop(p);
    assert_eq!(sem.available_permits(), 3);
}

#[test]
fn cancelled_acquire_returns_partial_and_granted_permits() {
    let sem = Semaphore::new(1);
    let mut a = Task::new(sem.acquire_many(3));
    let mut b = Task::new(sem.acquire_many(2));
    a.pending(); // takes the 1 available permit as a partial assignment
    b.pending();
    assert_eq!(sem.available_permits(), 0);
    drop(a); // its 1 permit goes to b (still needs 1 more)
    assert!(!b.is_woken());
    sem.add_permits(1);
    assert!(b.is_woken());
    // b is granted but dropped before polling: both permits come back.
    drop(b);
    assert_eq!(sem.available_permits(), 2);
    // The semaphore is usable through the fast path again.
    assert!(sem.try_acquire_many(2).is_ok());
}

#[test]
fn close_fails_waiters_and_later_acquires() {
    let sem = Semaphore::new(1);
    let held = sem.try_acquire().unwrap();
    let mut w = Task::new(sem.acquire());
    w.pending();
    sem.close();
    assert!(sem.is_closed());
    assert!(w.is_woken());
    let err = w.ready().unwrap_err();
    assert_eq!(err.to_string(), "semaphore closed");
    assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
    assert!(block_on(sem.acquire()).is_err());
    drop(held);
    assert_eq!(sem.available_permits(), 1);
}

#[test]
fn close_returns_partial_assignments() {
    let sem = Semaphore::new(2);
    let mut w = Task::new(sem.acquire_many(5));
    w.pending();
    sem.close();
    assert!(w.ready().is_err());
    assert_eq!(sem.available_permits(), 2);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn add_permits_beyond_max_panics() {
    let sem = Semaphore::new(Semaphore::MAX_PERMITS);
    sem.add_permits(1);
}

#[test]
#[should_panic(expected = "MAX_PERMITS")]
fn new_beyond_max_panics() {
    let _ = Semaphore::new(Semaphore::MAX_PERMITS + 1);
}

#[test]
fn try_new_beyond_max_is_err() {
    assert!(Semaphore::try_new(Semaphore::MAX_PERMITS + 1).is_err());
    assert_eq!(
        Semaphore::try_new(Semaphore::MAX_PERMITS)
            .unwrap()
            .available_permits(),
        Semaphore::MAX_PERMITS
    );
}

#[test]
fn owned_permits() {
    let sem = Arc::new(Semaphore::new(2));
    let p = block_on(sem.clone().acquire_owned()).unwrap();
    let q = block_on(sem.clone().acquire_many_owned(1)).unwrap();
    assert!(sem.clone().try_acquire_owned().is_err());
    assert!(Arc::ptr_eq(p.semaphore(), &sem));
    std::thread::spawn(move || drop(p)).join().unwrap();
    assert_eq!(sem.available_permits(), 1);
    drop(q);
    assert_eq!(
        sem.clone().try_acquire_many_owned(2).unwrap().num_permits(),
        2
    );
}

#[test]
fn acquire_zero_is_immediate() {
    let sem = Semaphore::new(0);
    let mut w = Task::new(sem.acquire());
    w.pending();
    assert_eq!(block_on(sem.acquire_many(0)).unwrap().num_permits(), 0);
}

#[test]
fn threads_never_exceed_the_limit() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let sem = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let sem = sem.clone();
            let inside = inside.clone();
            std::thread::spawn(move || {
                block_on(async {
                    for _ in 0..1000 {
                        let p = sem.acquire_many(1 + i % 2).await.unwrap();
                        let now =
                            inside.fetch_add(p.num_permits(), Ordering::SeqCst) + p.num_permits();
                        assert!(now <= 3);
                        inside.fetch_sub(p.num_permits(), Ordering::SeqCst);
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(sem.available_permits(), 3);
}

/// Releases from several threads while waiters on several others keep queueing: every
/// permit reaches a waiter (a lost one leaves a waiter parked, and the test fails after 60 s
/// instead of hanging) and none is left over.
#[test]
fn releases_under_contention_all_reach_waiters() {
    use std::sync::mpsc;
    use std::time::Duration;
    const THREADS: usize = 4;
    // Fewer under Miri, which interprets every step (and would not finish in the timeout).
    const EACH: usize = if cfg!(miri) { 200 } else { 20_000 };
    let sem = Arc::new(Semaphore::new(0));
    let (done_tx, done_rx) = mpsc::channel();
    for _ in 0..THREADS {
        let (waiter, done) = (sem.clone(), done_tx.clone());
        std::thread::spawn(move || {
            block_on(async {
                for _ in 0..EACH {
                    waiter.acquire().await.unwrap().forget();
                }
            });
            done.send(()).unwrap();
        });
        let releaser = sem.clone();
        std::thread::spawn(move || {
            for _ in 0..EACH {
                releaser.add_permits(1);
            }
        });
    }
    for _ in 0..THREADS {
        done_rx
            .recv_timeout(Duration::from_secs(60))
            .expect("a waiter was never served: a released permit was lost");
    }
    assert_eq!(sem.available_permits(), 0);
}

/// A waker whose `clone` adds a permit to `SEM_FOR_CLONE`'s semaphore (foreign code calling
/// back, as the waker docs allow) and whose clones panic when dropped (as a waker's drop does
/// when it owns a guard whose release wakes a panicking waker).
mod clone_grants {
    use std::task::{RawWaker, RawWakerVTable, Waker};

    use ciranda_sync::Semaphore;

    static ORIGINAL: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, noop);
    static CLONE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop_panics);

    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is the `&'static Semaphore` that `waker` put there.
        let sem = unsafe { &*data.cast::<Semaphore>() };
        sem.add_permits(1);
        RawWaker::new(data, &CLONE)
    }

    unsafe fn noop(_: *const ()) {}

    unsafe fn drop_panics(_: *const ()) {
        panic!("expected test panic: waker drop");
    }

    /// The waker for `sem`: the original drops quietly, its clones do not.
    pub fn waker(sem: &'static Semaphore) -> Waker {
        let data = (sem as *const Semaphore).cast::<()>();
        // SAFETY: every vtable function keeps the contract of `RawWaker` (the data is a
        // `'static` reference, nothing to free).
        unsafe { Waker::from_raw(RawWaker::new(data, &ORIGINAL)) }
    }
}

/// Polls `fut` with `waker`, expecting the poll to panic (the waker's clone being dropped).
fn poll_expecting_panic<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) {
    let mut cx = std::task::Context::from_waker(waker);
    let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(&mut cx)));
    let payload = polled
        .err()
        .expect("the unused clone was dropped in the poll");
    assert_eq!(
        payload.downcast_ref::<&str>(),
        Some(&"expected test panic: waker drop")
    );
}

/// A first poll that finds no permit clones its waker to queue up; the clone adds a permit, so
/// the poll takes it instead, then drops the unused clone, which panics. The poll never returns
/// the permit to its caller, so it must give it back.
#[test]
fn a_first_poll_that_unwinds_after_taking_its_permit_gives_it_back() {
    static SEM: Semaphore = Semaphore::new(0);
    let sem = &SEM;
    let waker = clone_grants::waker(sem);
    let mut acquire = Box::pin(sem.acquire());
    poll_expecting_panic(acquire.as_mut(), &waker);
    assert_eq!(sem.available_permits(), 1, "the permit taken was kept");
    drop(acquire);
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_ok());
}

/// A queued waiter re-polled with a new waker clones it with the lock released; the clone's
/// permit grants the waiter, the poll sees the grant, then drops the unused clone, which
/// panics. The granted permit must not be lost with the poll's result.
#[test]
fn a_repoll_that_unwinds_after_its_grant_gives_the_permit_back() {
    static SEM: Semaphore = Semaphore::new(0);
    let sem = &SEM;
    let mut acquire = Box::pin(sem.acquire());
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    assert!(acquire.as_mut().poll(&mut cx).is_pending());
    poll_expecting_panic(acquire.as_mut(), &clone_grants::waker(sem));
    assert_eq!(sem.available_permits(), 1, "the granted permit was kept");
    drop(acquire);
    assert_eq!(sem.available_permits(), 1);
    assert!(sem.try_acquire().is_ok());
}

/// `Debug` shows the free permits and whether the semaphore is closed, read before anything is
/// written: the writer is the caller's code and may call back into the semaphore. The derived
/// `Debug` printed the internal state word and waiter list, with the semaphore's waiter lock
/// held while it wrote them, so a writer that closed the semaphore (or gave a permit back with
/// a waiter queued) hung.
#[test]
fn debug_shows_the_permits_and_writes_with_the_lock_released() {
    use std::fmt::Write;

    struct ClosesAtEachWrite<'a> {
        sem: &'a Semaphore,
        out: String,
    }

    impl Write for ClosesAtEachWrite<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.sem.close();
            self.out.push_str(s);
            Ok(())
        }
    }

    let shown = common::within_10s(|| {
        let sem = Semaphore::new(2);
        let held = sem.try_acquire().unwrap();
        let mut writer = ClosesAtEachWrite {
            sem: &sem,
            out: String::new(),
        };
        write!(writer, "{sem:?}").unwrap();
        assert!(sem.is_closed(), "the writer's close went through");
        drop(held);
        assert_eq!(
            format!("{sem:?}"),
            "Semaphore { available_permits: 2, closed: true }"
        );
        writer.out
    });
    assert_eq!(shown, "Semaphore { available_permits: 1, closed: false }");
}

/// A waiter that needs two permits and was assigned one is cancelled: that permit goes to the
/// waiter behind it, whose waker panics when woken, and the cancelled waiter's own waker
/// panics when dropped. That drop came after the wake-up, while its panic unwound, and the
/// second panic aborted the process (hence a child process). The cancel must unwind once,
/// with the permit handed on and its new owner woken.
#[test]
fn a_cancel_whose_waker_drop_and_hand_off_wake_both_panic_does_not_abort() {
    common::in_child_process(
        "a_cancel_whose_waker_drop_and_hand_off_wake_both_panic_does_not_abort",
        || {
            let sem = Semaphore::new(0);
            let mut first = Task::new(sem.acquire_many(2));
            let clones_panic_on_drop = common::calls_back_on_clone(|| {});
            assert!(first.poll_with(&clones_panic_on_drop).is_pending());
            let (panics, wakes) = common::panics_on_wake();
            let mut behind = Task::new(sem.acquire());
            assert!(behind.poll_with(&panics).is_pending());
            drop(panics);
            sem.add_permits(1); // assigned to `first`, which still needs one more
            assert_eq!(wakes(), 0);
            let dropped = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
                drop(first);
            }));
            assert_eq!(
                common::panic_message(&*dropped.unwrap_err()),
                "expected test panic: waker drop"
            );
            assert_eq!(wakes(), 1, "the waiter behind was woken all the same");
            match behind.poll_with(std::task::Waker::noop()) {
                std::task::Poll::Ready(Ok(permit)) => assert_eq!(permit.num_permits(), 1),
                _ => panic!("the permit was handed on"),
            }
            assert_eq!(sem.available_permits(), 1);
        },
    );
}
