//! Behaviour tests for `Event`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Event;
use common::{Task, block_on};

#[test]
fn set_releases_all_waiters_even_if_cleared_at_once() {
    let ev = Event::new();
    let mut a = Task::new(ev.wait());
    let mut b = Task::new(ev.wait());
    a.pending();
    b.pending();
    ev.set();
    ev.clear();
    assert!(a.is_woken() && b.is_woken());
    a.ready();
    b.ready();
    // A waiter arriving after the clear waits again.
    let mut c = Task::new(ev.wait());
    c.pending();
    assert!(!ev.is_set());
    ev.set();
    c.ready();
    Task::new(ev.wait()).ready();
}

#[test]
fn dropped_waiter_is_removed() {
    let ev = Event::new();
    let mut a = Task::new(ev.wait());
    a.pending();
    drop(a);
    ev.set();
    assert!(ev.is_set());
}

#[test]
fn set_from_another_thread() {
    for _ in 0..50 {
        let ev = Arc::new(Event::new());
        let e2 = ev.clone();
        let t = std::thread::spawn(move || e2.set());
        block_on(ev.wait());
        t.join().unwrap();
    }
}

/// A queued waiter re-polled with a new waker clones it with the lock released; the clone sets
/// the event (releasing the waiter) and clears it again; the poll then drops the unused clone,
/// which panics. The waiter was released and stays released: a re-poll returns.
#[test]
fn a_waiter_whose_repoll_unwinds_after_its_release_stays_released() {
    let ev = Arc::new(Event::new());
    let mut waiter = Task::new(ev.wait());
    waiter.pending();
    let waker = common::calls_back_on_clone({
        let ev = ev.clone();
        move || {
            ev.set();
            ev.clear();
        }
    });
    waiter.poll_panics_with(&waker);
    waiter.ready();
}
