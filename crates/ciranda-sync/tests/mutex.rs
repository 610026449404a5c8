//! Behaviour tests for `Mutex`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Mutex;
use common::{Task, block_on};

#[test]
fn lock_try_lock_get_mut_into_inner() {
    let mut m = Mutex::new(1);
    *m.get_mut() += 1;
    {
        let mut g = block_on(m.lock());
        *g += 1;
        assert!(m.try_lock().is_err());
    }
    assert_eq!(*m.try_lock().unwrap(), 3);
    assert_eq!(m.into_inner(), 3);
}

#[test]
fn waiters_are_served_in_arrival_order_without_barging() {
    let m = Mutex::new(Vec::new());
    let guard = m.try_lock().unwrap();
    let mut tasks: Vec<_> = (0..4)
        .map(|i| {
            let m = &m;
            Task::new(async move {
                m.lock().await.push(i);
            })
        })
        .collect();
    for t in &mut tasks {
        t.pending();
    }
    drop(guard);
    // The lock went to task 0: nobody else may take it, not even try_lock.
    assert!(tasks[0].is_woken());
    assert!(!tasks[1].is_woken());
    assert!(m.try_lock().is_err());
    // Polling later arrivals first does not let them barge.
    tasks[3].pending();
    tasks[2].pending();
    tasks[1].pending();
    for i in 0..4 {
        tasks[i].ready();
        if i < 3 {
            assert!(tasks[i + 1].is_woken());
        }
    }
    assert_eq!(*m.try_lock().unwrap(), [0, 1, 2, 3]);
}

#[test]
fn dropped_lock_future_passes_the_lock_on() {
    let m = Mutex::new(0);
    let guard = m.try_lock().unwrap();
    let mut a = Task::new(m.lock());
    let mut b = Task::new(m.lock());
    let mut c = Task::new(m.lock());
    a.pending();
    b.pending();
    c.pending();
    // Cancel b before it is granted, then grant a and cancel it before it is polled.
    drop(b);
    drop(guard);
    assert!(a.is_woken());
    drop(a);
    assert!(c.is_woken());
    let g = c.ready();
    assert!(m.try_lock().is_err());
    drop(g);
    assert!(m.try_lock().is_ok());
}

#[test]
fn owned_guard_moves_across_threads() {
    let m = Arc::new(Mutex::new(0));
    let g = block_on(m.clone().lock_owned());
    let t = std::thread::spawn(move || {
        let mut g = g;
        *g += 5;
    });
    t.join().unwrap();
    assert_eq!(*m.try_lock().unwrap(), 5);
    assert!(Mutex::try_lock_owned(m.clone()).is_ok());
}

#[test]
fn threads_increment_a_counter() {
    // Fewer under Miri, which interprets every step.
    const EACH: u64 = if cfg!(miri) { 200 } else { 2000 };
    let m = Arc::new(Mutex::new(0u64));
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let m = m.clone();
            std::thread::spawn(move || {
                block_on(async {
                    for _ in 0..EACH {
                        *m.lock().await += 1;
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*m.try_lock().unwrap(), 4 * EACH);
}

#[test]
fn debug_and_error_formatting() {
    let m = Mutex::new(7);
    assert_eq!(format!("{m:?}"), "Mutex { data: 7 }");
    let g = m.try_lock().unwrap();
    assert_eq!(format!("{m:?}"), "Mutex { data: <locked> }");
    let err = m.try_lock().unwrap_err();
    let err: &dyn std::error::Error = &err;
    assert!(err.to_string().contains("would block"));
    assert_eq!(format!("{g:?}"), "7");
}
