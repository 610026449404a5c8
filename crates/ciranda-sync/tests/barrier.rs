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
