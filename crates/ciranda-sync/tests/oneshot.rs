//! Behaviour tests for `oneshot`.
#![cfg(not(loom))]

mod common;

use ciranda_sync::oneshot::{self, TryRecvError};
use common::{Task, block_on};

#[test]
fn send_then_receive() {
    let (tx, rx) = oneshot::channel();
    assert!(!tx.is_closed());
    tx.send(5).unwrap();
    assert_eq!(block_on(rx), Ok(5));
}

#[test]
fn receiver_woken_by_send() {
    let (tx, rx) = oneshot::channel();
    let mut r = Task::new(rx);
    r.pending();
    tx.send("x").unwrap();
    assert!(r.is_woken());
    assert_eq!(r.ready(), Ok("x"));
}

#[test]
fn sender_dropped_is_an_error() {
    let (tx, rx) = oneshot::channel::<u8>();
    let mut r = Task::new(rx);
    r.pending();
    drop(tx);
    assert!(r.is_woken());
    let err = r.ready().unwrap_err();
    let err: &dyn std::error::Error = &err;
    assert!(err.to_string().contains("dropped"));
}

#[test]
fn receiver_dropped_gives_value_back() {
    let (tx, rx) = oneshot::channel();
    drop(rx);
    assert!(tx.is_closed());
    assert_eq!(tx.send(vec![1]), Err(vec![1]));
}

#[test]
fn close_keeps_a_value_sent_before() {
    let (tx, mut rx) = oneshot::channel();
    tx.send(1).unwrap();
    rx.close();
    assert_eq!(rx.try_recv(), Ok(1));
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));

    let (tx, mut rx) = oneshot::channel::<i32>();
    rx.close();
    assert_eq!(rx.try_recv(), Err(TryRecvError::Closed));
    assert_eq!(tx.send(2), Err(2));
}

#[test]
fn sender_closed_future() {
    let (mut tx, rx) = oneshot::channel::<()>();
    let mut c = Task::new(async move { tx.closed().await });
    c.pending();
    drop(rx);
    assert!(c.is_woken());
    c.ready();
}

#[test]
fn receiver_dropped_drops_the_value() {
    let value = std::sync::Arc::new(());
    let (tx, rx) = oneshot::channel();
    tx.send(value.clone()).unwrap();
    drop(rx);
    assert_eq!(std::sync::Arc::strong_count(&value), 1);
}

#[test]
fn across_threads() {
    for i in 0..100 {
        let (tx, rx) = oneshot::channel();
        let t = std::thread::spawn(move || tx.send(i).unwrap());
        assert_eq!(block_on(rx), Ok(i));
        t.join().unwrap();
    }
}

/// A waker whose drop panics: the sender's own `closed()` waker, dropped when it sends.
fn waker_that_panics_on_drop() -> std::task::Waker {
    use std::task::{RawWaker, RawWakerVTable, Waker};
    fn clone(_: *const ()) -> RawWaker {
        RawWaker::new(std::ptr::null(), &VTABLE)
    }
    fn noop(_: *const ()) {}
    fn drop_panics(_: *const ()) {
        panic!("closed() waker dropped");
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, noop, noop, drop_panics);
    // SAFETY: the vtable's functions ignore the data pointer, which is null.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

#[test]
fn a_panicking_closed_waker_does_not_cost_the_receiver_its_wake_up() {
    let (mut tx, rx) = oneshot::channel();
    let mut rx = Task::new(rx);
    rx.pending();
    {
        let waker = std::mem::ManuallyDrop::new(waker_that_panics_on_drop());
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(tx.poll_closed(&mut cx).is_pending());
    }
    // The send publishes the value, wakes the receiver, then drops the stored clone of the
    // panicking waker: the panic reaches the sender, after the wake-up.
    let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || tx.send(5)));
    assert!(sent.is_err(), "the waker's drop panicked into send");
    assert!(rx.is_woken());
    assert_eq!(rx.ready(), Ok(5));
}
