//! Behaviour tests for `Promise`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Promise;
use common::{Task, block_on};

#[test]
fn set_once_many_waiters() {
    let p = Promise::new();
    assert!(!p.is_set());
    assert_eq!(p.try_get(), None);
    let mut a = Task::new(p.wait());
    let mut b = Task::new(p.wait());
    a.pending();
    b.pending();
    assert_eq!(p.set(3), Ok(()));
    assert!(a.is_woken() && b.is_woken());
    assert_eq!(p.set(4), Err(4));
    assert_eq!(a.ready(), 3);
    assert_eq!(b.ready(), 3);
    drop((a, b));
    assert_eq!(block_on(p.wait()), 3);
    assert!(p.is_set());
    assert_eq!(p.try_get(), Some(3));
    assert_eq!(p.into_inner(), Some(3));
}

#[test]
fn dropped_waiter_is_harmless() {
    let p = Promise::new();
    let mut a = Task::new(p.wait());
    a.pending();
    drop(a);
    p.set("v").unwrap();
    assert_eq!(format!("{p:?}"), "Promise { value: Some(\"v\") }");
}

#[test]
fn set_from_another_thread() {
    for _ in 0..50 {
        let p = Arc::new(Promise::new());
        let p2 = p.clone();
        let t = std::thread::spawn(move || p2.set(9).unwrap());
        assert_eq!(block_on(p.wait()), 9);
        t.join().unwrap();
    }
}
