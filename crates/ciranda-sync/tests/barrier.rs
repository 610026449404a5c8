//! Behaviour tests for `Barrier`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Barrier;
use common::{Task, block_on};

#[test]
#[should_panic(expected = "at least one party")]
fn zero_parties_panics() {
    let _ = Barrier::new(0);
}

#[test]
fn try_new_zero_is_err() {
    let err = Barrier::try_new(0).unwrap_err();
    let err: &dyn std::error::Error = &err;
    assert!(err.to_string().contains("at least one party"));
    assert_eq!(Barrier::try_new(2).unwrap().parties(), 2);
}

#[test]
fn last_arrival_leads_and_releases_everyone() {
    let b = Barrier::new(3);
    let mut x = Task::new(b.wait());
    let mut y = Task::new(b.wait());
    x.pending();
    y.pending();
    assert_eq!(b.n_waiting(), 2);
    let leader = Task::new(b.wait()).ready();
    assert!(leader.is_leader());
    assert!(!x.ready().is_leader());
    assert!(!y.ready().is_leader());
    assert_eq!(b.n_waiting(), 0);
}

#[test]
fn dropped_wait_withdraws_its_arrival() {
    let b = Barrier::new(2);
    let mut x = Task::new(b.wait());
    x.pending();
    drop(x);
    assert_eq!(b.n_waiting(), 0);
    let mut y = Task::new(b.wait());
    y.pending(); // still needs a second party
    assert!(Task::new(b.wait()).ready().is_leader());
    assert!(!y.ready().is_leader());
}

#[test]
fn generations_are_reusable_across_threads() {
    let b = Arc::new(Barrier::new(3));
    let handles: Vec<_> = (0..3)
        .map(|_| {
            let b = b.clone();
            std::thread::spawn(move || {
                block_on(async {
                    let mut leads = 0;
                    for _ in 0..200 {
                        if b.wait().await.is_leader() {
                            leads += 1;
                        }
                    }
                    leads
                })
            })
        })
        .collect();
    let total: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(total, 200);
}

/// A queued arrival re-polled with a new waker clones it with the lock released; the clone
/// completes the generation (another arrival, the leader); the poll then drops the unused
/// clone, which panics. The arrival was released: a re-poll returns its (non-leader) result.
#[test]
fn an_arrival_whose_repoll_unwinds_after_its_release_returns_its_result() {
    let b = Arc::new(Barrier::new(2));
    let mut arrival = Task::new(b.wait());
    arrival.pending();
    let waker = common::calls_back_on_clone({
        let b = b.clone();
        move || assert!(Task::new(b.wait()).ready().is_leader())
    });
    arrival.poll_panics_with(&waker);
    assert!(!arrival.ready().is_leader());
    assert_eq!(b.n_waiting(), 0);
}

/// The leader's first poll cloned its waker before it knew it would lead; it drops the unused
/// clone after releasing the generation, and the drop panics. The released arrivals are woken
/// all the same, and a re-poll returns the leader's result (it does not arrive again).
#[test]
fn a_leader_whose_unused_waker_clone_panics_wakes_the_generation_and_leads() {
    let b = Barrier::new(2);
    let mut first = Task::new(b.wait());
    first.pending();
    let mut leader = Task::new(b.wait());
    leader.poll_panics_with(&common::calls_back_on_clone(|| {}));
    assert!(first.is_woken());
    assert!(!first.ready().is_leader());
    assert!(leader.ready().is_leader());
    assert_eq!(b.n_waiting(), 0);
}

const BROKEN: &str = "Barrier::wait on a broken barrier (aborted or reset while waiting; \
                      use Barrier::wait_checked to handle it)";

#[test]
fn abort_fails_waiters_of_both_kinds() {
    let b = Barrier::new(3);
    let mut checked = Task::new(b.wait_checked());
    let mut plain = Task::new(b.wait());
    checked.pending();
    plain.pending();
    assert!(!b.is_broken());
    b.abort();
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!((checked.wakes(), plain.wakes()), (1, 1));
    let err = checked.ready().unwrap_err();
    assert_eq!(
        err.to_string(),
        "barrier broken (aborted or reset while waiting)"
    );
    let err: &dyn std::error::Error = &err;
    assert!(err.source().is_none());
    assert_eq!(plain.poll_panics(), BROKEN);
}

#[test]
fn a_plain_wait_on_an_aborted_barrier_panics_its_task() {
    ciranda::run(async {
        let b = Arc::new(Barrier::new(2));
        let waiter = ciranda::spawn({
            let b = b.clone();
            async move { b.wait().await.is_leader() }
        });
        while b.n_waiting() == 0 {
            ciranda::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        b.abort();
        let err = waiter.await.unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.panic_message().as_deref(), Some(BROKEN));
        // Later plain waits panic too, at once.
        let late = ciranda::spawn({
            let b = b.clone();
            async move { b.wait().await.is_leader() }
        });
        let err = late.await.unwrap_err();
        assert_eq!(err.panic_message().as_deref(), Some(BROKEN));
    });
}

#[test]
fn waits_after_abort_fail_at_once_without_arriving() {
    let b = Barrier::new(2);
    b.abort();
    b.abort(); // idempotent
    for _ in 0..3 {
        assert!(Task::new(b.wait_checked()).ready().is_err());
        assert_eq!(b.n_waiting(), 0);
    }
    assert_eq!(Task::new(b.wait()).poll_panics(), BROKEN);
    assert_eq!(b.n_waiting(), 0);
    assert!(b.is_broken());
}

#[test]
fn reset_after_abort_makes_it_usable_for_a_full_round() {
    let b = Barrier::new(3);
    let mut failed = Task::new(b.wait_checked());
    failed.pending();
    b.abort();
    b.reset();
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    let mut x = Task::new(b.wait());
    let mut y = Task::new(b.wait_checked());
    x.pending();
    y.pending();
    assert_eq!(b.n_waiting(), 2);
    // The arrival failed before the reset neither counts nor leaves a count behind when it
    // is dropped unpolled.
    drop(failed);
    assert_eq!(b.n_waiting(), 2);
    assert!(Task::new(b.wait()).ready().is_leader());
    assert!(!x.ready().is_leader());
    assert!(!y.ready().unwrap().is_leader());
    // And the next round too.
    let mut z = Task::new(b.wait_checked());
    z.pending();
    assert_eq!(b.n_waiting(), 1);
}

#[test]
fn reset_while_tasks_wait_fails_them_and_starts_a_new_round() {
    let b = Barrier::new(3);
    let mut x = Task::new(b.wait_checked());
    let mut y = Task::new(b.wait());
    x.pending();
    y.pending();
    b.reset();
    assert!(!b.is_broken());
    assert_eq!(b.n_waiting(), 0);
    assert_eq!((x.wakes(), y.wakes()), (1, 1));
    // The new round needs `parties` new arrivals: the failed ones do not count.
    let mut p = Task::new(b.wait_checked());
    let mut q = Task::new(b.wait_checked());
    p.pending();
    q.pending();
    assert!(x.ready().is_err());
    assert_eq!(y.poll_panics(), BROKEN);
    assert_eq!(b.n_waiting(), 2);
    assert!(Task::new(b.wait()).ready().is_leader());
    assert!(!p.ready().unwrap().is_leader());
    assert!(!q.ready().unwrap().is_leader());
    // A reset with nobody waiting changes nothing.
    b.reset();
    assert!(!b.is_broken());
}

/// A generation is all-or-nothing. Released by its last arrival, it stays released when
/// `abort` (or `reset`) follows before the released arrivals run: unlike asyncio, where an
/// abort during the "draining" phase fails the not-yet-resumed waiters of a round whose
/// leader already returned.
#[test]
fn abort_after_a_release_leaves_the_released_generation_alone() {
    for reset in [false, true] {
        let b = Barrier::new(3);
        let mut x = Task::new(b.wait_checked());
        let mut y = Task::new(b.wait());
        x.pending();
        y.pending();
        assert!(Task::new(b.wait()).ready().is_leader());
        if reset {
            b.reset();
        } else {
            b.abort();
        }
        assert_eq!(b.is_broken(), !reset);
        assert!(!x.ready().unwrap().is_leader());
        assert!(!y.ready().is_leader());
    }
}

/// Abort before the last arrival: every queued arrival fails, and so does the would-be
/// leader (at once, without arriving): nobody leads.
#[test]
fn abort_before_the_last_arrival_fails_the_whole_generation() {
    let b = Barrier::new(2);
    let mut x = Task::new(b.wait_checked());
    x.pending();
    b.abort();
    assert!(Task::new(b.wait_checked()).ready().is_err());
    assert!(x.ready().is_err());
}

/// Threads race `abort` against a generation's last arrival: each generation either
/// completes for all (one leader) or fails for all. Never a leader beside a failed arrival.
#[test]
fn abort_racing_the_last_arrival_is_all_or_nothing() {
    const ROUNDS: usize = if cfg!(miri) { 10 } else { 300 };
    let (mut completed, mut failed) = (0, 0);
    for _ in 0..ROUNDS {
        let b = Arc::new(Barrier::new(3));
        let parties: Vec<_> = (0..3)
            .map(|_| {
                let b = b.clone();
                std::thread::spawn(move || block_on(b.wait_checked()))
            })
            .collect();
        let aborter = {
            let b = b.clone();
            std::thread::spawn(move || b.abort())
        };
        aborter.join().unwrap();
        let results: Vec<_> = parties.into_iter().map(|t| t.join().unwrap()).collect();
        let ok = results.iter().filter(|r| r.is_ok()).count();
        match ok {
            3 => {
                let leaders = results.iter().filter(|r| r.unwrap().is_leader()).count();
                assert_eq!(leaders, 1);
                completed += 1;
            }
            0 => failed += 1,
            _ => panic!("a generation half released, half failed: {results:?}"),
        }
        assert!(b.is_broken());
    }
    assert_eq!(completed + failed, ROUNDS);
}

#[test]
fn a_waker_that_panics_in_abort_or_reset_costs_nobody_their_wake_up() {
    for reset in [false, true] {
        let b = Barrier::new(3);
        let (bad, bad_wakes) = common::panics_on_wake();
        let mut x = Task::new(b.wait_checked());
        assert!(x.poll_with(&bad).is_pending());
        drop(bad);
        let mut y = Task::new(b.wait_checked());
        y.pending();
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            if reset { b.reset() } else { b.abort() }
        }));
        let payload = unwound.expect_err("the waker's panic goes on into the caller");
        assert_eq!(
            common::panic_message(&*payload),
            "expected test panic: wake"
        );
        assert_eq!(bad_wakes(), 1);
        assert_eq!(y.wakes(), 1);
        assert_eq!(b.is_broken(), !reset);
        assert_eq!(b.n_waiting(), 0);
        assert!(x.ready().is_err());
        assert!(y.ready().is_err());
    }
}

/// A queued arrival re-polled with a new waker whose clone aborts the barrier (the clone is
/// made with the lock released); the poll then drops the unused clone, which panics. The
/// arrival was failed: a re-poll returns the error.
#[test]
fn an_arrival_whose_waker_clone_aborts_the_barrier_fails() {
    let b = Arc::new(Barrier::new(2));
    let mut arrival = Task::new(b.wait_checked());
    arrival.pending();
    let waker = common::calls_back_on_clone({
        let b = b.clone();
        move || b.abort()
    });
    arrival.poll_panics_with(&waker);
    assert!(arrival.ready().is_err());
    assert!(b.is_broken());
    assert_eq!(b.n_waiting(), 0);
}

/// A first arrival's waker clone (made before it takes the lock) aborts the barrier: the
/// arrival fails without counting, also when the drop of the unused clone panics.
#[test]
fn a_first_arrival_whose_waker_clone_aborts_fails_without_arriving() {
    let b = Arc::new(Barrier::new(2));
    let mut arrival = Task::new(b.wait_checked());
    let waker = common::calls_back_on_clone({
        let b = b.clone();
        move || b.abort()
    });
    arrival.poll_panics_with(&waker);
    assert_eq!(b.n_waiting(), 0);
    assert!(arrival.ready().is_err());
    assert_eq!(b.n_waiting(), 0);
}

/// A cancelled arrival's waker is dropped with the lock released; its drop aborts the
/// barrier, which fails the remaining waiter (no deadlock, no lost wake-up).
#[test]
fn a_waker_whose_drop_aborts_the_barrier_does_not_deadlock_it() {
    let b = Arc::new(Barrier::new(3));
    let mut x = Task::new(b.wait_checked());
    let waker = common::calls_back_on_drop({
        let b = b.clone();
        move || b.abort()
    });
    assert!(x.poll_with(&waker).is_pending());
    drop(waker); // the barrier holds the last clone
    let mut y = Task::new(b.wait_checked());
    y.pending();
    assert_eq!(b.n_waiting(), 2);
    drop(x);
    assert!(b.is_broken());
    assert_eq!(y.wakes(), 1);
    assert!(y.ready().is_err());
}

/// `Debug` reads the barrier in one look under its lock, and writes with the lock released. A
/// formatter's writer that aborts the barrier between two fields (standing in for another
/// thread's abort at that point) neither deadlocks nor mixes the states before and after the
/// abort. The old code read `waiting` and `broken` under two locks, one per field, and showed
/// an arrival waiting at a broken barrier (`waiting: 1, broken: true`), a state it never has.
#[test]
fn debug_shows_one_state_even_if_aborted_while_formatting() {
    use std::fmt::Write;

    struct AbortsAtWaiting<'a> {
        barrier: &'a Barrier,
        out: String,
    }

    impl Write for AbortsAtWaiting<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if s.contains("waiting") {
                self.barrier.abort();
            }
            self.out.push_str(s);
            Ok(())
        }
    }

    let shown = common::within_10s(|| {
        let b = Barrier::new(2);
        let mut arrival = Task::new(b.wait_checked());
        arrival.pending();
        assert_eq!(
            format!("{b:?}"),
            "Barrier { parties: 2, waiting: 1, broken: false }"
        );
        let mut writer = AbortsAtWaiting {
            barrier: &b,
            out: String::new(),
        };
        write!(writer, "{b:?}").unwrap();
        assert!(b.is_broken(), "the writer aborted the barrier");
        assert!(arrival.ready().is_err());
        assert_eq!(
            format!("{b:?}"),
            "Barrier { parties: 2, waiting: 0, broken: true }"
        );
        writer.out
    });
    assert_eq!(shown, "Barrier { parties: 2, waiting: 1, broken: false }");
}
