//! The coop budget hook: leaf futures yield when the hook says so, and wake themselves.
#![cfg(not(loom))]

mod common;

use std::cell::Cell;
use std::task::{Context, Poll};

use ciranda_sync::{Event, Mutex, Queue, Semaphore, coop, mpsc, oneshot};
use common::Task;

thread_local! {
    /// Budget for the current thread; `None` = unlimited (so other tests' threads are unaffected).
    static BUDGET: Cell<Option<u32>> = const { Cell::new(None) };
}

fn hook(_cx: &mut Context<'_>) -> Poll<()> {
    BUDGET.with(|b| match b.get() {
        None => Poll::Ready(()),
        Some(0) => Poll::Pending,
        Some(n) => {
            b.set(Some(n - 1));
            Poll::Ready(())
        }
    })
}

fn with_budget<R>(n: u32, f: impl FnOnce() -> R) -> R {
    coop::set_hook(hook);
    BUDGET.with(|b| b.set(Some(n)));
    let r = f();
    BUDGET.with(|b| b.set(None));
    r
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
        BUDGET.with(|b| b.set(Some(5)));
        t.ready();
        assert_eq!(*m.try_lock().unwrap(), 3);
    });
}
