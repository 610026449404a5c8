//! The coop budget: leaf futures yield when it is spent, and wake themselves.
#![cfg(not(loom))]

mod common;

use ciranda_sync::{Event, Mutex, Queue, Semaphore, mpsc, oneshot};
use common::Task;

/// Runs `f` under a budget of `n` operations (the scheduler opens one of `ciranda_coop::BUDGET`
/// around every task poll).
fn with_budget<R>(n: u8, f: impl FnOnce() -> R) -> R {
    ciranda_coop::with_budget(n, f)
}

#[test]
fn exhausted_budget_makes_ready_operations_yield() {
    let m = Mutex::new(0);
    let sem = Semaphore::new(1);
    let ev = Event::new();
    ev.set();
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tx.send(1).unwrap();
    let (otx, orx) = oneshot::channel();
    otx.send(1).unwrap();

    with_budget(0, || {
        let mut lock = Task::new(m.lock());
        lock.pending();
        assert!(lock.is_woken(), "a yielding future must wake itself");
        // Nothing was taken while yielding.
        assert!(m.try_lock().is_ok());
        let mut acq = Task::new(sem.acquire());
        acq.pending();
        assert_eq!(sem.available_permits(), 1);
        Task::new(ev.wait()).pending();
        Task::new(q.get()).pending();
        assert_eq!(q.len(), 1);
        Task::new(rx.recv()).pending();
        Task::new(orx).pending();
    });
}

#[test]
fn budget_is_consumed_per_operation() {
    let m = Mutex::new(0);
    with_budget(2, || {
        let mut t = Task::new(async {
            for _ in 0..3 {
                *m.lock().await += 1;
            }
        });
        t.pending();
        assert_eq!(*m.try_lock().unwrap(), 2);
        with_budget(5, || t.ready());
        assert_eq!(*m.try_lock().unwrap(), 3);
    });
}
