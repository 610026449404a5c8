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

/// A receiver closed before a value arrived gets `RecvError` while the sender is still alive:
/// its message must not say that the sender was dropped.
#[test]
fn recv_error_after_close_does_not_blame_a_live_sender() {
    let (tx, mut rx) = oneshot::channel::<u8>();
    rx.close();
    let err = block_on(&mut rx).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("closed"), "{message}");
    assert!(
        !message.starts_with("oneshot sender dropped"),
        "the sender is alive: {message}"
    );
    assert_eq!(tx.send(1), Err(1));
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

/// An executor's task slot, which it reuses for another task once one finishes (as a slab
/// does). The waker it lends for a poll names the slot (its data pointer); a clone of that
/// waker is an owning waker of its own, a box naming the task then in the slot — a different
/// data pointer, as the `RawWakerVTable` contract allows.
mod slot_waker {
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::{RawWaker, RawWakerVTable, Waker};

    pub struct Slot(pub Mutex<Arc<AtomicBool>>);

    /// The waker lent for a poll of the task now in `slot`.
    pub fn lent(slot: &Slot) -> Waker {
        // SAFETY: the vtable's functions take the data pointer for a `&Slot`, which the
        // caller's borrow keeps alive as long as the waker.
        unsafe { Waker::from_raw(RawWaker::new(slot as *const Slot as *const (), &LENT)) }
    }

    static LENT: RawWakerVTable = RawWakerVTable::new(lent_clone, lent_wake, lent_wake, noop);
    static OWNED: RawWakerVTable =
        RawWakerVTable::new(owned_clone, owned_wake, owned_wake_by_ref, owned_drop);

    fn noop(_: *const ()) {}

    fn task_in(slot: *const ()) -> Arc<AtomicBool> {
        // SAFETY: a lent waker's data is a live `&Slot`.
        let slot = unsafe { &*(slot as *const Slot) };
        slot.0.lock().unwrap().clone()
    }

    fn owned(task: Arc<AtomicBool>) -> RawWaker {
        RawWaker::new(Box::into_raw(Box::new(task)) as *const (), &OWNED)
    }

    fn lent_clone(slot: *const ()) -> RawWaker {
        owned(task_in(slot))
    }

    fn lent_wake(slot: *const ()) {
        task_in(slot).store(true, SeqCst);
    }

    fn owned_clone(data: *const ()) -> RawWaker {
        // SAFETY: an owned waker's data is its box, alive until `owned_drop`/`owned_wake`.
        owned(unsafe { &*(data as *const Arc<AtomicBool>) }.clone())
    }

    fn owned_wake(data: *const ()) {
        owned_wake_by_ref(data);
        owned_drop(data);
    }

    fn owned_wake_by_ref(data: *const ()) {
        // SAFETY: as in `owned_clone`.
        unsafe { &*(data as *const Arc<AtomicBool>) }.store(true, SeqCst);
    }

    fn owned_drop(data: *const ()) {
        // SAFETY: the box made in `owned`, dropped once (the waker's last use).
        drop(unsafe { Box::from_raw(data as *mut Arc<AtomicBool>) });
    }
}

/// A receiver polled by one task, then by another that runs in the reused slot of the first
/// (the first task gave up on it, or was cancelled): the second task's waker has the data and
/// vtable of the first's, but the waker stored by the first poll is the first task's own
/// clone, which wakes only the first task. The re-poll must store the new waker: the send then
/// wakes the task that waits now.
#[test]
fn a_waker_with_the_identity_of_an_earlier_one_is_stored_again() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    use std::sync::{Arc, Mutex};
    use std::task::Context;

    let (first, second) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    let slot = slot_waker::Slot(Mutex::new(first.clone()));
    let (tx, mut rx) = oneshot::channel::<u8>();

    let waker = slot_waker::lent(&slot);
    assert!(
        Pin::new(&mut rx)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);

    // The first task is gone; the slot runs the second, which polls the receiver now.
    *slot.0.lock().unwrap() = second.clone();
    let waker = slot_waker::lent(&slot);
    assert!(
        Pin::new(&mut rx)
            .poll(&mut Context::from_waker(&waker))
            .is_pending()
    );
    drop(waker);

    tx.send(7).unwrap();
    assert!(
        second.load(SeqCst),
        "the waiting task was not woken (the first task's waker was)"
    );
    let waker = slot_waker::lent(&slot);
    assert_eq!(
        Pin::new(&mut rx).poll(&mut Context::from_waker(&waker)),
        std::task::Poll::Ready(Ok(7))
    );
}

/// A send wakes a receiver whose waker panics, and the sender's own `closed()` waker panics
/// when dropped. That drop came after the wake-up, while its panic unwound, and the second
/// panic aborted the process (hence a child process). The send must unwind once, with the
/// value delivered and the receiver woken.
#[test]
fn a_send_whose_wake_up_and_closed_waker_drop_both_panic_does_not_abort() {
    common::in_child_process(
        "a_send_whose_wake_up_and_closed_waker_drop_both_panic_does_not_abort",
        || {
            let (mut tx, rx) = oneshot::channel::<u32>();
            let mut rx = Task::new(rx);
            let (panics, wakes) = common::panics_on_wake();
            assert!(rx.poll_with(&panics).is_pending());
            {
                let waker = std::mem::ManuallyDrop::new(waker_that_panics_on_drop());
                let mut cx = std::task::Context::from_waker(&waker);
                assert!(tx.poll_closed(&mut cx).is_pending());
            }
            let sent = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || tx.send(5)));
            assert_eq!(
                common::panic_message(&*sent.unwrap_err()),
                "closed() waker dropped"
            );
            assert_eq!(wakes(), 1, "the receiver was woken all the same");
            assert_eq!(
                rx.poll_with(std::task::Waker::noop()),
                std::task::Poll::Ready(Ok(5))
            );
        },
    );
}
