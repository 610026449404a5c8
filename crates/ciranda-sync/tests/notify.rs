//! Behaviour tests for `Notify`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Notify;
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
