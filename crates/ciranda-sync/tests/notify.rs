//! Behaviour tests for `Notify`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::{Notified, Notify};
use common::{Task, block_on};

#[test]
fn notify_one_stores_a_single_permit() {
    let n = Notify::new();
    n.notify_one();
    n.notify_one();
    Task::new(n.notified()).ready();
    Task::new(n.notified()).pending();
}

#[test]
fn notify_one_wakes_waiters_in_fifo_order() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    a.pending();
    b.pending();
    n.notify_one();
    assert!(a.is_woken());
    assert!(!b.is_woken());
    b.pending();
    a.ready();
    n.notify_one();
    b.ready();
    // Nothing stored.
    Task::new(n.notified()).pending();
}

#[test]
fn notify_waiters_wakes_all_and_stores_nothing() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    a.pending();
    b.pending();
    // Created before the call but never polled: still counts as waiting.
    let mut c = Task::new(n.notified());
    n.notify_waiters();
    a.ready();
    b.ready();
    c.ready();
    Task::new(n.notified()).pending();
}

#[test]
fn dropped_notified_passes_notify_one_on() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    a.pending();
    b.pending();
    n.notify_one();
    drop(a); // granted but never returned
    assert!(b.is_woken());
    b.ready();
}

#[test]
fn dropped_notified_with_nobody_behind_stores_the_permit() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    a.pending();
    n.notify_one();
    drop(a);
    Task::new(n.notified()).ready();
    Task::new(n.notified()).pending();
}

#[test]
fn dropped_pending_notified_does_not_consume() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    a.pending();
    drop(a);
    n.notify_one();
    Task::new(n.notified()).ready();
}

#[test]
fn ping_pong_between_threads() {
    // Fewer under Miri, which interprets every step.
    const ROUNDS: usize = if cfg!(miri) { 200 } else { 2000 };
    let ping = Arc::new(Notify::new());
    let pong = Arc::new(Notify::new());
    let (p2, q2) = (ping.clone(), pong.clone());
    let t = std::thread::spawn(move || {
        block_on(async {
            for _ in 0..ROUNDS {
                p2.notified().await;
                q2.notify_one();
            }
        })
    });
    block_on(async {
        for _ in 0..ROUNDS {
            ping.notify_one();
            pong.notified().await;
        }
    });
    t.join().unwrap();
}

/// A queued waiter re-polled with a new waker clones it with the lock released; the clone's
/// `notify_one` picks this waiter; the poll then drops the unused clone, which panics. The
/// notification must stay the waiter's: dropped now, it passes it on (here: stores it).
#[test]
fn a_waiter_dropped_after_its_repoll_unwound_passes_its_notification_on() {
    let n = Arc::new(Notify::new());
    let mut waiter = Task::new(n.notified());
    waiter.pending();
    let waker = common::calls_back_on_clone({
        let n = n.clone();
        move || n.notify_one()
    });
    waiter.poll_panics_with(&waker);
    drop(waiter);
    Task::new(n.notified()).ready();
}

/// As above, re-polled after the panic: it returns, and nothing is stored.
#[test]
fn a_waiter_whose_repoll_unwound_returns_its_notification_once() {
    let n = Arc::new(Notify::new());
    let mut waiter = Task::new(n.notified());
    waiter.pending();
    let waker = common::calls_back_on_clone({
        let n = n.clone();
        move || n.notify_one()
    });
    waiter.poll_panics_with(&waker);
    waiter.ready();
    drop(waiter);
    Task::new(n.notified()).pending();
}

/// A first poll with no permit stored clones its waker to queue up; the clone's `notify_one`
/// stores the permit, which the poll takes instead, then drops the unused clone, which panics.
/// The poll never returned: the permit goes back (a re-poll or another waiter gets it).
#[test]
fn a_first_poll_that_unwinds_after_taking_the_permit_gives_it_back() {
    let n = Arc::new(Notify::new());
    let waker = common::calls_back_on_clone({
        let n = n.clone();
        move || n.notify_one()
    });
    let mut waiter = Task::new(n.notified());
    waiter.poll_panics_with(&waker);
    drop(waiter);
    Task::new(n.notified()).ready();
    Task::new(n.notified()).pending();
}

/// Enabled-but-unpolled waiters take their FIFO place among polled ones: `notify_one` goes to
/// the first registered, polled or not.
#[test]
fn notify_one_serves_enabled_and_polled_waiters_in_registration_order() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    let mut c = Task::new(n.notified());
    let mut d = Task::new(n.notified());
    assert!(!a.future().enable());
    b.pending();
    assert!(!c.future().enable());
    d.pending();
    n.notify_one();
    assert!(
        a.future().enable(),
        "the first enabled waiter has the notification"
    );
    assert!(!b.is_woken());
    b.pending();
    assert!(!c.future().enable());
    n.notify_one();
    assert!(b.is_woken());
    assert!(!c.future().enable());
    n.notify_one();
    assert!(!d.is_woken());
    // `c` was enabled, never polled: its first poll returns.
    c.ready();
    n.notify_one();
    assert!(d.is_woken());
    d.ready();
    b.ready();
    a.ready();
    // Every notification went to a waiter: nothing stored.
    Task::new(n.notified()).pending();
}

/// A `notify_one` between `enable` and the first poll is this future's: it is not stored as
/// the permit, not given to a later waiter, and the first poll returns it.
#[test]
fn a_notify_one_between_enable_and_the_first_poll_completes_the_first_poll() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    assert!(!a.future().enable());
    n.notify_one();
    let mut later = Task::new(n.notified());
    later.pending();
    assert!(!later.is_woken());
    a.ready();
    later.pending();
    Task::new(n.notified()).pending();
}

/// An enabled future polled before any notification stores the waker: a `notify_one` then
/// wakes it.
#[test]
fn an_enabled_future_polled_later_is_woken_by_the_notification() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    assert!(!a.future().enable());
    a.pending();
    assert!(!a.is_woken());
    n.notify_one();
    assert!(a.is_woken());
    a.ready();
}

/// `enable` on a polled future keeps the waker the poll registered.
#[test]
fn enable_after_a_poll_keeps_the_waker() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    a.pending();
    assert!(!a.future().enable());
    n.notify_one();
    assert!(a.is_woken());
    assert!(a.future().enable());
    a.ready();
}

/// `enable` reports what a poll would find at once, and takes it as the poll would.
#[test]
fn enable_returns_whether_the_future_is_ready() {
    let n = Notify::new();
    // The stored permit: taken by the first call.
    n.notify_one();
    let mut a = Task::new(n.notified());
    assert!(a.future().enable());
    assert!(a.future().enable(), "a ready future stays ready");
    a.ready();
    assert!(
        !Task::new(n.notified()).future().enable(),
        "the permit was taken"
    );
    // A notify_waiters since creation, whether it came before or after `enable`.
    let mut before = Task::new(n.notified());
    let mut after = Task::new(n.notified());
    assert!(!after.future().enable());
    n.notify_waiters();
    assert!(before.future().enable());
    assert!(after.future().enable());
    before.ready();
    after.ready();
    // notify_waiters stores nothing, and a completed future is ready.
    let mut c = Task::new(n.notified());
    assert!(!c.future().enable());
    drop(c);
    let mut done = Task::new(n.notified());
    n.notify_one();
    done.ready();
    assert!(done.future().enable());
}

/// An enabled, never polled future dropped after a `notify_one` picked it passes the
/// notification on: to the next waiter, or stored as the permit.
#[test]
fn an_enabled_future_dropped_after_a_grant_passes_it_on() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    assert!(!a.future().enable());
    b.pending();
    n.notify_one();
    assert!(!b.is_woken());
    drop(a);
    assert!(b.is_woken());
    b.ready();

    let mut c = Task::new(n.notified());
    assert!(!c.future().enable());
    n.notify_one();
    drop(c);
    Task::new(n.notified()).ready();
    Task::new(n.notified()).pending();
}

/// Once `enable` returned `true` the notification is the future's: dropping it then passes
/// nothing on. An enabled future dropped before any notification takes nothing with it.
#[test]
fn an_enabled_future_that_returned_true_keeps_its_notification() {
    let n = Notify::new();
    let mut a = Task::new(n.notified());
    assert!(!a.future().enable());
    drop(a);
    n.notify_one();
    let mut b = Task::new(n.notified());
    assert!(
        b.future().enable(),
        "the permit was stored, not given to the dropped future"
    );
    drop(b);
    Task::new(n.notified()).pending();
}

/// An enabled future of `n` whose first poll unwound: the poll cloned a waker whose clone
/// calls `notify_one` (which picks this queued future), then dropped the unused clone, which
/// panicked.
fn enabled_and_unwound_by_its_clone(n: &Arc<Notify>) -> Task<Notified<'_>> {
    let mut a = Task::new(n.notified());
    assert!(!a.future().enable());
    let waker = common::calls_back_on_clone({
        let n = n.clone();
        move || n.notify_one()
    });
    a.poll_panics_with(&waker);
    a
}

/// The first poll of an enabled future clones its waker with the lock released; the clone
/// calls `notify_one`, which picks this future (it is queued); the poll then drops the unused
/// clone, which panics. The notification stays the future's: dropped, it passes it on.
#[test]
fn an_enabled_future_whose_first_poll_unwound_passes_its_notification_on() {
    let n = Arc::new(Notify::new());
    let a = enabled_and_unwound_by_its_clone(&n);
    drop(a);
    Task::new(n.notified()).ready();
    Task::new(n.notified()).pending();
}

/// As above, then `enable` and a poll: the notification is returned once.
#[test]
fn an_enabled_future_whose_first_poll_unwound_returns_its_notification_once() {
    let n = Arc::new(Notify::new());
    let mut a = enabled_and_unwound_by_its_clone(&n);
    assert!(a.future().enable());
    a.ready();
    drop(a);
    Task::new(n.notified()).pending();
}

/// The first poll of the second of two enabled futures clones its waker, and the clone calls
/// `notify_one`: that goes to the first (ahead in line), and the second stays queued with the
/// clone as its waker, which the next `notify_one` wakes.
#[test]
fn a_waker_clone_that_notifies_serves_the_enabled_future_ahead() {
    let n = Arc::new(Notify::new());
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    assert!(!a.future().enable());
    assert!(!b.future().enable());
    let clones_notify = common::calls_back_on_clone({
        let n = n.clone();
        move || n.notify_one()
    });
    let mut cx = std::task::Context::from_waker(&clones_notify);
    assert!(b.future().poll(&mut cx).is_pending());
    assert!(a.future().enable());
    assert!(!b.future().enable());
    // The stored clone (the waker to wake) is consumed by the wake-up: no panicking drop.
    n.notify_one();
    assert!(b.future().enable());
    b.ready();
    a.ready();
    Task::new(n.notified()).pending();
}

/// A waker whose destructor calls back into the `Notify`: the waker an enabled future's first
/// poll stored is dropped by the wake-up with no lock held (else the callback would deadlock),
/// and its `notify_one` goes to the next waiter.
#[test]
fn a_waker_whose_drop_notifies_is_dropped_outside_the_lock() {
    struct DropNotifies(Arc<Notify>);
    impl std::task::Wake for DropNotifies {
        fn wake(self: Arc<Self>) {}
    }
    impl Drop for DropNotifies {
        fn drop(&mut self) {
            self.0.notify_one();
        }
    }
    let n = Arc::new(Notify::new());
    let mut a = Task::new(n.notified());
    let mut b = Task::new(n.notified());
    assert!(!a.future().enable());
    assert!(!b.future().enable());
    {
        let waker = std::task::Waker::from(Arc::new(DropNotifies(n.clone())));
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(a.future().poll(&mut cx).is_pending());
        // Our waker goes; the clone in the slot is the last one.
    }
    n.notify_one();
    // The wake-up consumed the last clone, whose drop notified `b`.
    assert!(a.future().enable());
    assert!(b.future().enable());
    a.ready();
    b.ready();
    Task::new(n.notified()).pending();
}

/// A `notify_one` that finds a permit already stored still publishes what its caller wrote
/// before it to whoever consumes that permit. The consumer here takes the permit and then
/// looks at the producer's flag; if it finds the flag unset, the producer's `notify_one`
/// counts as coming after that take, so once the producer is done a permit must be stored
/// again. The rounds start together on two threads (the store-buffering shape: each thread
/// writes one location, then reads the other's), so that on x86 a plain store left in the
/// producer's store buffer while its `notify_one` reads the word is seen as well.
///
/// A `notify_one` that only read the word and returned (the permit "already there") gave
/// neither: its caller's flag could be invisible to the consumer of that permit, and no
/// permit was left for the next wait, which then slept for good (a lost wake-up).
#[test]
fn a_notify_one_merged_into_a_stored_permit_publishes_its_callers_writes() {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    const ROUNDS: usize = if cfg!(miri) { 50 } else { 60_000 };
    let rounds: Arc<Vec<(Notify, AtomicBool)>> = Arc::new(
        (0..ROUNDS)
            .map(|_| {
                let n = Notify::new();
                n.notify_one(); // the permit the producer's notify finds
                (n, AtomicBool::new(false))
            })
            .collect(),
    );
    // Both threads arrive here before each round, and the producer says when it is done.
    let arrived = Arc::new(AtomicUsize::new(0));
    let produced = Arc::new(AtomicUsize::new(0));
    // On a loaded machine the two threads rarely run at once and a round takes a time slice:
    // the consumer then ends the run early (every round before is checked all the same).
    let stop = Arc::new(AtomicBool::new(false));
    let started = std::time::Instant::now();
    let meet = |arrived: &AtomicUsize, round: usize| {
        arrived.fetch_add(1, Ordering::SeqCst);
        let mut spins = 0u32;
        while arrived.load(Ordering::SeqCst) < 2 * (round + 1) {
            // Spin (the rounds should start together), but let a descheduled peer run.
            spins += 1;
            if spins % 1024 == 0 {
                std::thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
    };
    let producer = {
        let (rounds, arrived, produced) = (rounds.clone(), arrived.clone(), produced.clone());
        let stop = stop.clone();
        std::thread::spawn(move || {
            for (round, (notify, flag)) in rounds.iter().enumerate() {
                meet(&arrived, round);
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                flag.store(true, Ordering::Release);
                notify.notify_one();
                produced.store(round + 1, Ordering::Release);
            }
        })
    };
    let mut lost = 0;
    for (round, (notify, flag)) in rounds.iter().enumerate() {
        if started.elapsed() > std::time::Duration::from_secs(3) {
            // Stored before this thread arrives: the producer sees it once both are there.
            stop.store(true, Ordering::SeqCst);
        }
        meet(&arrived, round);
        if stop.load(Ordering::SeqCst) {
            break;
        }
        Task::new(notify.notified()).ready(); // the stored permit
        if flag.load(Ordering::Acquire) {
            continue;
        }
        // The producer's notify comes after the take: once it is done, a permit is stored.
        while produced.load(Ordering::Acquire) <= round {
            std::thread::yield_now();
        }
        if Task::new(notify.notified()).poll().is_pending() {
            lost += 1;
        }
    }
    producer.join().unwrap();
    assert_eq!(lost, 0, "rounds whose notify_one was lost, of {ROUNDS}");
}
