//! loom models: one (or a few) per primitive, each covering its hardest interleaving. Run with
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test -p ciranda-sync --release --lib --tests`.
#![cfg(loom)]

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll};

use loom::future::block_on;
use loom::sync::Arc;
use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::thread;

/// A waker that records whether it was woken (a loom atomic, so loom sees the hand-over).
struct Flag(loom::sync::atomic::AtomicBool);

impl std::task::Wake for Flag {
    fn wake(self: std::sync::Arc<Self>) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn flag_waker() -> (std::sync::Arc<Flag>, std::task::Waker) {
    let flag = std::sync::Arc::new(Flag(loom::sync::atomic::AtomicBool::new(false)));
    (flag.clone(), std::task::Waker::from(flag))
}

/// Polls `fut` with waker `a`, then (if still pending) again with a different waker `b`, while
/// another thread may grant it at any point: the re-poll swaps wakers in three steps (lock,
/// unlock to clone `b`, lock again). If the second poll is still pending, the grant must have
/// woken `b` (not only the replaced `a`) and a third poll must be ready.
fn repoll_with_new_waker<F: Future>(fut: F, grant: impl FnOnce() + Send + 'static) {
    let mut fut = pin!(fut);
    let t = thread::spawn(grant);
    let (_a_flag, a) = flag_waker();
    let (b_flag, b) = flag_waker();
    let ready = fut.as_mut().poll(&mut Context::from_waker(&a)).is_ready()
        || fut.as_mut().poll(&mut Context::from_waker(&b)).is_ready();
    t.join().unwrap();
    if !ready {
        assert!(
            b_flag.0.load(Ordering::SeqCst),
            "the grant woke a replaced waker only"
        );
        assert!(fut.as_mut().poll(&mut Context::from_waker(&b)).is_ready());
    }
}

/// Polls `fut` once with a no-op waker, then drops it (a cancelled wait).
fn poll_once_then_drop<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(std::task::Waker::noop());
    fut.as_mut().poll(&mut cx)
}

mod mutex {
    use super::*;
    use ciranda_sync::Mutex;
    use loom::cell::UnsafeCell;

    /// Two lockers and a counter: mutual exclusion, and every unlock happens-before the next
    /// lock (loom's cell checks the data accesses are causally ordered).
    #[test]
    fn two_lockers_and_a_counter() {
        loom::model(|| {
            let m = Arc::new(Mutex::new(UnsafeCell::new(0usize)));
            let m2 = m.clone();
            let t = thread::spawn(move || {
                let g = block_on(m2.lock());
                // SAFETY: the mutex guard gives exclusive access to the cell.
                g.with_mut(|p| unsafe { *p += 1 });
            });
            {
                let g = block_on(m.lock());
                // SAFETY: as above.
                g.with_mut(|p| unsafe { *p += 1 });
            }
            t.join().unwrap();
            let g = m.try_lock().unwrap();
            // SAFETY: as above.
            assert_eq!(g.with(|p| unsafe { *p }), 2);
        });
    }

    /// A lock future dropped while the holder unlocks concurrently: the lock is never lost.
    #[test]
    fn cancelled_lock_racing_unlock() {
        loom::model(|| {
            let m = std::sync::Arc::new(Mutex::new(()));
            let guard = Mutex::try_lock_owned(m.clone()).unwrap();
            let t = thread::spawn(move || drop(guard));
            // Depending on the interleaving this is granted (then handed back) or queued.
            let _ = poll_once_then_drop(m.lock());
            t.join().unwrap();
            assert!(m.try_lock().is_ok());
        });
    }
}

mod semaphore {
    use super::*;
    use ciranda_sync::Semaphore;

    /// A queued acquire re-polled with a new waker racing a release.
    #[test]
    fn repoll_with_new_waker_racing_release() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            repoll_with_new_waker(sem.acquire(), move || s2.add_permits(1));
        });
    }

    /// Permits are never over-granted, and a cancelled acquire returns what it was handed.
    #[test]
    fn never_over_granted_and_cancel_returns_permit() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(1));
            let inside = Arc::new(AtomicUsize::new(0));
            let (s2, i2) = (sem.clone(), inside.clone());
            let t = thread::spawn(move || {
                let p = block_on(s2.acquire()).unwrap();
                assert_eq!(i2.fetch_add(1, Ordering::SeqCst), 0);
                i2.fetch_sub(1, Ordering::SeqCst);
                drop(p);
            });
            if let Poll::Ready(Ok(p)) = poll_once_then_drop(sem.acquire()) {
                assert_eq!(inside.fetch_add(1, Ordering::SeqCst), 0);
                inside.fetch_sub(1, Ordering::SeqCst);
                drop(p);
            }
            let p = block_on(sem.acquire()).unwrap();
            drop(p);
            t.join().unwrap();
            assert_eq!(sem.available_permits(), 1);
        });
    }

    /// Three threads: a waiter cancelled concurrently with the release that grants it, and a
    /// second waiter behind it. The permit reaches the second waiter or comes back; nothing is
    /// lost or granted twice.
    #[test]
    fn cancel_racing_release_with_waiter_behind() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(0));
            let s1 = sem.clone();
            let canceller = thread::spawn(move || {
                let _ = poll_once_then_drop(s1.acquire());
            });
            let s2 = sem.clone();
            let waiter = thread::spawn(move || block_on(s2.acquire()).unwrap().forget());
            sem.add_permits(1);
            canceller.join().unwrap();
            // If the canceller consumed the permit on its single poll it returned it on drop
            // (the permit guard was dropped too), so the waiter always gets it eventually.
            waiter.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
        });
    }

    /// A batch waiter gets partial permits from two concurrent releases.
    #[test]
    fn acquire_many_collects_from_concurrent_releases() {
        loom::model(|| {
            let sem = Arc::new(Semaphore::new(0));
            let s2 = sem.clone();
            let t = thread::spawn(move || s2.add_permits(1));
            sem.add_permits(1);
            let p = block_on(sem.acquire_many(2)).unwrap();
            assert_eq!(sem.available_permits(), 0);
            drop(p);
            t.join().unwrap();
            assert_eq!(sem.available_permits(), 2);
        });
    }
}

mod notify {
    use super::*;
    use ciranda_sync::Notify;

    /// `notify_one` racing a waiter: the permit is never lost.
    #[test]
    fn permit_not_lost() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_one());
            block_on(n.notified());
            t.join().unwrap();
        });
    }

    /// A `notify_one` that finds the permit already stored racing the take of that permit:
    /// the consumer sees the notifier's flag, or finds a permit for its next wait. (A
    /// `notify_one` that only read the stored permit and returned ordered nothing: the
    /// consumer could miss the flag and wait for good.)
    #[test]
    fn notify_one_on_a_stored_permit_racing_its_take() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let flag = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            n.notify_one();
            let (n2, flag2) = (n.clone(), flag.clone());
            let t = thread::spawn(move || {
                flag2.store(true, Ordering::Release);
                n2.notify_one();
            });
            block_on(async {
                n.notified().await;
                while !flag.load(Ordering::Acquire) {
                    n.notified().await;
                }
            });
            t.join().unwrap();
        });
    }

    /// `notify_waiters` racing the first poll of a future created before it: never missed.
    #[test]
    fn notify_waiters_racing_first_poll() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let notified = n.notified();
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_waiters());
            block_on(notified);
            t.join().unwrap();
        });
    }

    /// A re-poll with a new waker (cloned with the lock released) racing `notify_one`: the
    /// notification reaches the new waker or the re-poll itself.
    #[test]
    fn repoll_with_new_waker_racing_notify_one() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            repoll_with_new_waker(n.notified(), move || n2.notify_one());
        });
    }

    /// A waiter cancelled while `notify_one` picks it: the notification is passed on (stored).
    #[test]
    fn cancelled_waiter_passes_notification_on() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_one());
            let first = poll_once_then_drop(n.notified());
            t.join().unwrap();
            // Exactly one notification exists: either the first poll consumed it, or it is
            // still there for a fresh waiter (stored, or passed on by the dropped future).
            let mut fresh = pin!(n.notified());
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert_eq!(fresh.as_mut().poll(&mut cx).is_ready(), first.is_pending());
        });
    }

    /// `enable` racing `notify_one`, then the first poll (with a waker that records wake-ups)
    /// while the notifier may still be running: the notification is stored and taken by
    /// `enable`, or handed to the enabled waiter; if the first poll is still pending, the
    /// notification must wake its waker, and a poll after that returns. Exactly one
    /// notification exists: a later waiter finds nothing.
    #[test]
    fn enable_racing_notify_one_then_first_poll() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let t = thread::spawn({
                let n = n.clone();
                move || n.notify_one()
            });
            let mut notified = pin!(n.notified());
            let enabled = notified.as_mut().enable();
            let (flag, waker) = flag_waker();
            let first = notified.as_mut().poll(&mut Context::from_waker(&waker));
            assert!(
                !enabled || first.is_ready(),
                "enable said ready, the poll did not"
            );
            t.join().unwrap();
            if first.is_pending() {
                assert!(
                    flag.0.load(Ordering::SeqCst),
                    "the notification woke nobody"
                );
                assert!(
                    notified
                        .as_mut()
                        .poll(&mut Context::from_waker(&waker))
                        .is_ready()
                );
            }
            let mut later = pin!(n.notified());
            assert!(!later.as_mut().enable(), "a second notification appeared");
        });
    }

    /// Two enabled, never polled waiters; the first is dropped while `notify_one` picks a
    /// waiter. The notification reaches the second either way: directly (the first was gone)
    /// or passed on by the first's drop. Nothing is stored besides.
    #[test]
    fn enabled_waiter_dropped_racing_notify_one() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let mut first = Box::pin(n.notified());
            let mut second = pin!(n.notified());
            assert!(!first.as_mut().enable());
            assert!(!second.as_mut().enable());
            let t = thread::spawn({
                let n = n.clone();
                move || n.notify_one()
            });
            drop(first);
            t.join().unwrap();
            assert!(second.as_mut().enable(), "the notification was lost");
            let mut later = pin!(n.notified());
            assert!(!later.as_mut().enable(), "the notification was duplicated");
        });
    }

    /// An enabled waiter polled on another thread, with one waker and then a new one (cloned
    /// with the lock released), racing `notify_one`: the enable already queued it, so the
    /// notification is its, and it reaches the poll or the waker stored last.
    #[test]
    fn enabled_then_polled_with_new_wakers_racing_notify_one() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let mut notified = Box::pin(n.notified());
            assert!(!notified.as_mut().enable());
            let n2 = n.clone();
            repoll_with_new_waker(notified, move || n2.notify_one());
            let mut later = pin!(n.notified());
            assert!(
                !later.as_mut().enable(),
                "the notification was stored as well"
            );
        });
    }

    /// `enable` racing `notify_waiters` on a future created before it: the future completes
    /// (at the enable, or found by the next one), and nothing is stored for a later waiter.
    #[test]
    fn enable_racing_notify_waiters() {
        loom::model(|| {
            let n = Arc::new(Notify::new());
            let mut notified = pin!(n.notified());
            let n2 = n.clone();
            let t = thread::spawn(move || n2.notify_waiters());
            let _ = notified.as_mut().enable();
            t.join().unwrap();
            assert!(notified.as_mut().enable(), "the notify_waiters was missed");
            let mut later = pin!(n.notified());
            assert!(!later.as_mut().enable(), "notify_waiters stored a permit");
        });
    }
}

mod event {
    use super::*;
    use ciranda_sync::Event;

    /// `set` racing `wait`: the waiter is always released.
    #[test]
    fn set_racing_wait() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let e2 = ev.clone();
            let t = thread::spawn(move || e2.set());
            block_on(ev.wait());
            t.join().unwrap();
        });
    }

    /// A `set` on an event already set racing the waiter's `clear` (the "wait, clear, look at
    /// the work, wait again" loop): the waiter sees the setter's flag, or the event stays set
    /// for its next wait. A `clear` that only stored `false` could overwrite that `set` without
    /// seeing what the setter wrote before it, and the waiter then waited for good.
    #[test]
    fn set_racing_the_clear_of_a_woken_waiter() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let work = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            ev.set();
            let (e2, work2) = (ev.clone(), work.clone());
            let t = thread::spawn(move || {
                work2.store(true, Ordering::Release);
                e2.set();
            });
            block_on(async {
                loop {
                    ev.wait().await;
                    ev.clear();
                    if work.load(Ordering::Acquire) {
                        break;
                    }
                }
            });
            t.join().unwrap();
        });
    }

    /// A registered waiter is released by `set` even when `clear` follows at once.
    #[test]
    fn set_then_clear_releases_registered_waiter() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let mut wait = pin!(ev.wait());
            let mut cx = Context::from_waker(std::task::Waker::noop());
            assert!(wait.as_mut().poll(&mut cx).is_pending());
            let e2 = ev.clone();
            let t = thread::spawn(move || {
                e2.set();
                e2.clear();
            });
            block_on(wait.as_mut());
            t.join().unwrap();
        });
    }

    /// A waiter re-polled with a new waker while `set` runs: a release found after the clone
    /// stays in the slot until the clone is dropped, then the poll returns.
    #[test]
    fn repoll_with_new_waker_racing_set() {
        loom::model(|| {
            let ev = Arc::new(Event::new());
            let e2 = ev.clone();
            repoll_with_new_waker(ev.wait(), move || e2.set());
        });
    }
}

mod oneshot {
    use super::*;
    use ciranda_sync::oneshot;

    /// `send` racing the receiver's drop: the value is returned or dropped, exactly once.
    #[test]
    fn send_racing_receiver_drop() {
        loom::model(|| {
            let value = Arc::new(());
            let (tx, rx) = oneshot::channel();
            let v2 = value.clone();
            let t = thread::spawn(move || tx.send(v2).is_ok());
            drop(rx);
            let _sent = t.join().unwrap();
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }

    /// `send` racing a waiting receiver: the value arrives.
    #[test]
    fn send_racing_recv() {
        loom::model(|| {
            let (tx, rx) = oneshot::channel();
            let t = thread::spawn(move || tx.send(7).unwrap());
            assert_eq!(block_on(rx), Ok(7));
            t.join().unwrap();
        });
    }

    /// A waiting receiver re-polled with a new waker while the value is sent: the sender
    /// claims whichever waker is published, and the re-poll never leaves one unwoken.
    #[test]
    fn repoll_with_new_waker_racing_send() {
        loom::model(|| {
            let (tx, rx) = oneshot::channel();
            repoll_with_new_waker(rx, move || tx.send(1).unwrap());
        });
    }

    /// The sender dropped unsent while the receiver waits: the receiver wakes with
    /// `RecvError`, and the channel is freed once (a leaked `Arc` fails the model).
    #[test]
    fn sender_drop_racing_waiting_receiver() {
        loom::model(|| {
            let (tx, rx) = oneshot::channel::<Arc<()>>();
            let t = thread::spawn(move || drop(tx));
            assert!(block_on(rx).is_err());
            t.join().unwrap();
        });
    }

    /// A send racing the drop of a receiver that has registered its waker: the value is
    /// returned or dropped exactly once, and the receiver's waker is not woken after it
    /// was dropped (loom checks the cell accesses).
    #[test]
    fn send_racing_drop_of_a_waiting_receiver() {
        loom::model(|| {
            let value = Arc::new(());
            let (tx, rx) = oneshot::channel();
            let v2 = value.clone();
            let t = thread::spawn(move || tx.send(v2).map_err(drop).is_ok());
            assert!(matches!(
                poll_once_then_drop(rx),
                Poll::Pending | Poll::Ready(Ok(_))
            ));
            let _sent = t.join().unwrap();
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }

    /// The sender waits in `closed()` while the receiver is dropped: the wait ends.
    #[test]
    fn receiver_drop_racing_closed_wait() {
        loom::model(|| {
            let (mut tx, rx) = oneshot::channel::<Arc<()>>();
            let t = thread::spawn(move || {
                block_on(tx.closed());
                assert!(tx.is_closed());
            });
            drop(rx);
            t.join().unwrap();
        });
    }

    /// The sender waits in `closed()` while the receiver calls `close` and stays alive: the
    /// close alone ends the wait (it claims the sender's waker in the step that publishes
    /// `RX_CLOSED`, whichever side of a re-registration it lands on), and a send after it
    /// hands the value back.
    #[test]
    fn close_racing_closed_wait() {
        loom::model(|| {
            let value = Arc::new(());
            let (mut tx, mut rx) = oneshot::channel::<Arc<()>>();
            let v2 = value.clone();
            let t = thread::spawn(move || {
                block_on(tx.closed());
                assert!(tx.is_closed());
                assert!(tx.send(v2).is_err());
            });
            rx.close();
            t.join().unwrap();
            assert!(matches!(rx.try_recv(), Err(oneshot::TryRecvError::Closed)));
            drop(rx);
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }

    /// `close` racing `send`: a value sent before the close is still received, one sent
    /// after comes back to the sender — never both, never neither.
    #[test]
    fn close_racing_send() {
        loom::model(|| {
            let (tx, mut rx) = oneshot::channel();
            let t = thread::spawn(move || tx.send(5).is_ok());
            rx.close();
            let sent = t.join().unwrap();
            match rx.try_recv() {
                Ok(v) => {
                    assert!(sent);
                    assert_eq!(v, 5);
                }
                Err(oneshot::TryRecvError::Closed) => assert!(!sent),
                Err(e) => panic!("after the sender finished: {e:?}"),
            }
        });
    }

    /// Both handles dropped at once while each has a waker registered (the receiver in
    /// `recv`, the sender in `closed()`): the channel is freed exactly once, by whichever
    /// releases second, with the value inside dropped once.
    #[test]
    fn both_handles_dropped_with_wakers_registered() {
        loom::model(|| {
            let value = Arc::new(());
            let (mut tx, rx) = oneshot::channel::<Arc<()>>();
            assert!(poll_once_then_drop(tx.closed()).is_pending());
            let v2 = value.clone();
            let t = thread::spawn(move || {
                let mut rx = rx;
                let mut cx = Context::from_waker(std::task::Waker::noop());
                let _ = std::pin::Pin::new(&mut rx).poll(&mut cx);
                drop(rx);
            });
            let _ = tx.send(v2);
            t.join().unwrap();
            assert_eq!(Arc::strong_count(&value), 1);
        });
    }
}

mod mpsc {
    use super::*;
    use ciranda_sync::mpsc;

    /// A receiver re-polled with a new waker (a slot outside the waiter core) racing a send.
    #[test]
    fn repoll_with_new_waker_racing_send() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::unbounded_channel();
            repoll_with_new_waker(rx.recv(), move || tx.send(1).unwrap());
        });
    }

    /// `close` racing a blocked `send`: the send either lands (and is received) or fails with
    /// its value back — never both, never lost.
    #[test]
    fn close_racing_send() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(1);
            tx.try_send(0).unwrap();
            let t = thread::spawn(move || block_on(tx.send(1)).map_err(|e| e.0));
            // Make room so the send may complete, then close.
            assert_eq!(rx.try_recv(), Ok(0));
            rx.close();
            let sent = t.join().unwrap();
            let got = block_on(rx.recv());
            match sent {
                Ok(()) => assert_eq!(got, Some(1)),
                Err(v) => {
                    assert_eq!(v, 1);
                    assert_eq!(got, None);
                }
            }
        });
    }

    /// `Sender::capacity` racing a message's whole trip through a ring channel of one slot
    /// (sent, received, its slot given back): the slot is counted free once at most. It read
    /// the semaphore's word and then the receiver's count of slots given back, so a slot that
    /// left the word and came back through that count between the two reads counted twice,
    /// and `capacity()` said 2 on a channel of capacity 1.
    #[test]
    fn capacity_counts_a_returning_slot_once() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(1);
            let tx2 = tx.clone();
            let t = thread::spawn(move || {
                tx2.try_send(1).unwrap();
                assert_eq!(rx.try_recv(), Ok(1));
            });
            let free = tx.capacity();
            assert!(free <= tx.max_capacity(), "capacity() said {free}");
            t.join().unwrap();
            assert_eq!(tx.capacity(), 1);
        });
    }

    /// As above with a message already buffered in a channel of two slots: while another
    /// thread sends one message and receives the older one, one slot at most is ever free,
    /// and `capacity()` must not say 2 (which is no more than the capacity, so only reading
    /// the two counters as a pair prevents it).
    #[test]
    fn capacity_is_a_count_the_channel_had() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(2);
            tx.try_send(1).unwrap();
            let tx2 = tx.clone();
            let t = thread::spawn(move || {
                tx2.try_send(2).unwrap();
                assert_eq!(rx.try_recv(), Ok(1));
                rx
            });
            let free = tx.capacity();
            assert!(
                free <= 1,
                "capacity() said {free}; at most one slot was ever free"
            );
            let _rx = t.join().unwrap();
            assert_eq!(tx.capacity(), 1);
        });
    }

    /// The other way round: a sender collecting the slots the receiver gave back (from their
    /// count into the word) while `capacity()` reads. One slot is free before, none after the
    /// send; `capacity()` must not count the collected slot in both places.
    #[test]
    fn capacity_counts_a_collected_slot_once() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(2);
            tx.try_send(1).unwrap();
            tx.try_send(2).unwrap();
            assert_eq!(rx.try_recv(), Ok(1));
            let tx2 = tx.clone();
            let t = thread::spawn(move || tx2.capacity());
            // The word is empty and the count holds one slot: this send collects it.
            tx.try_send(3).unwrap();
            let free = t.join().unwrap();
            assert!(
                free <= 1,
                "capacity() said {free}; at most one slot was ever free"
            );
            assert_eq!(tx.capacity(), 0);
            assert_eq!(rx.try_recv(), Ok(2));
        });
    }

    /// Two senders racing for one slot: every message arrives exactly once.
    #[test]
    fn two_senders_one_slot() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(1);
            let tx2 = tx.clone();
            let t1 = thread::spawn(move || block_on(tx.send(1)).unwrap());
            let t2 = thread::spawn(move || block_on(tx2.send(2)).unwrap());
            let mut got = vec![block_on(rx.recv()).unwrap(), block_on(rx.recv()).unwrap()];
            t1.join().unwrap();
            t2.join().unwrap();
            assert_eq!(block_on(rx.recv()), None);
            got.sort();
            assert_eq!(got, [1, 2]);
        });
    }

    /// Capacity 2, four messages: the receiver may take two in one batch, and those keep their
    /// slots until returned, so no more than two are ever buffered; order is kept.
    #[test]
    fn batch_keeps_slots_until_returned() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(2);
            let t = thread::spawn(move || {
                block_on(async {
                    for i in 1..=4 {
                        tx.send(i).await.unwrap();
                    }
                })
            });
            for i in 1..=4 {
                assert_eq!(block_on(rx.recv()), Some(i));
                assert!(rx.len() <= 2);
            }
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// A send racing the receiver's park (no semaphore in the way): the message is never
    /// stranded behind a parked receiver, and the end is reported only after it.
    #[test]
    fn unbounded_send_racing_park() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::unbounded_channel();
            let t = thread::spawn(move || tx.send(7).unwrap());
            assert_eq!(block_on(rx.recv()), Some(7));
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// The last sender leaving racing the receiver's park: `recv` returns `None` rather than
    /// sleeping forever.
    #[test]
    fn last_sender_drop_racing_park() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::unbounded_channel::<u8>();
            let t = thread::spawn(move || drop(tx));
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// The receiver freeing a slot (no sender queued when it looks) racing a sender that runs
    /// out of permits and queues: the sender takes the free slot or is handed it, and never
    /// sleeps beside it.
    #[test]
    fn free_slot_racing_a_queueing_sender() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(1);
            tx.try_send(0).unwrap();
            let t = thread::spawn(move || block_on(tx.send(1)).unwrap());
            assert_eq!(rx.try_recv(), Ok(0));
            assert_eq!(block_on(rx.recv()), Some(1));
            t.join().unwrap();
            assert_eq!(block_on(rx.recv()), None);
        });
    }

    /// A bounded send racing the receiver's watch and park (the ring's fences): the message
    /// is never left beside a parked receiver.
    #[test]
    fn bounded_send_racing_park() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(2);
            let t = thread::spawn(move || block_on(tx.send(7)).unwrap());
            assert_eq!(block_on(rx.recv()), Some(7));
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// The last bounded sender leaving racing the receiver's park: `None`, not a hang.
    #[test]
    fn bounded_last_sender_drop_racing_park() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel::<u8>(1);
            let t = thread::spawn(move || drop(tx));
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// The receiver dropped while a send is enqueueing: the message is dropped exactly once,
    /// by the receiver or with the channel, and the send either succeeded or got it back.
    #[test]
    fn receiver_drop_racing_send() {
        loom::model(|| {
            let value = std::sync::Arc::new(());
            let (tx, rx) = mpsc::channel(1);
            let sent = value.clone();
            // Sent, or failed with the value back (dropped here); either way it is counted.
            let t = thread::spawn(move || drop(block_on(tx.send(sent))));
            drop(rx);
            t.join().unwrap();
            assert_eq!(std::sync::Arc::strong_count(&value), 1);
        });
    }

    /// Capacity 1, two messages: the sender waits for the receiver; order is kept.
    #[test]
    fn bounded_hand_off() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(1);
            let t = thread::spawn(move || {
                block_on(async {
                    tx.send(1).await.unwrap();
                    tx.send(2).await.unwrap();
                })
            });
            assert_eq!(block_on(rx.recv()), Some(1));
            assert_eq!(block_on(rx.recv()), Some(2));
            assert_eq!(block_on(rx.recv()), None);
            t.join().unwrap();
        });
    }

    /// A sender that took its permit early and claims late: with capacity 2 (a ring of two
    /// slots), A's permit is one nobody gave back, and A may claim index 3 after B's two
    /// messages went through the other permit, so its slot's previous message (index 1) was
    /// read by the receiver with nothing A holds ordering that read before A's write. The
    /// claim counter has to order it (loom reports the slot's write as a race otherwise).
    #[test]
    fn early_permit_late_claim() {
        loom::model(|| {
            let (tx, mut rx) = mpsc::channel(2);
            tx.try_send(0).unwrap();
            let tx_b = tx.clone();
            let a = thread::spawn(move || block_on(tx.send(9)).unwrap());
            let b = thread::spawn(move || {
                block_on(async {
                    tx_b.send(1).await.unwrap();
                    tx_b.send(2).await.unwrap();
                })
            });
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push(block_on(rx.recv()).unwrap());
            }
            let at = |v| got.iter().position(|&x| x == v).unwrap();
            assert_eq!(got[0], 0);
            assert!(at(1) < at(2), "one sender's messages in order: {got:?}");
            assert!(got.contains(&9), "{got:?}");
            a.join().unwrap();
            b.join().unwrap();
        });
    }
}

mod queue {
    use super::*;
    use ciranda_sync::Queue;

    /// `join` racing the final `task_done`: join always returns.
    #[test]
    fn join_racing_task_done() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            q.try_put(1).unwrap();
            assert_eq!(q.try_get(), Ok(1));
            let q2 = q.clone();
            let t = thread::spawn(move || q2.task_done());
            block_on(q.join());
            t.join().unwrap();
        });
    }

    /// Bounded(1) producer/consumer: the producer blocks, items arrive in order.
    #[test]
    fn bounded_put_get() {
        loom::model(|| {
            let q = Arc::new(Queue::new(1));
            let q2 = q.clone();
            let t = thread::spawn(move || {
                block_on(async {
                    q2.put(1).await;
                    q2.put(2).await;
                })
            });
            assert_eq!(block_on(q.get()), 1);
            assert_eq!(block_on(q.get()), 2);
            t.join().unwrap();
            assert!(q.is_empty());
        });
    }

    /// A put on a full queue, polled once and dropped while a get makes room: its item never
    /// enters, whether the get came before its poll (the put was ready at once) or after (it
    /// was admitted and dropped before its next poll); and no room stays promised to it.
    #[test]
    fn admitted_put_dropped_racing_get() {
        loom::model(|| {
            let q = Arc::new(Queue::new(1));
            q.try_put(0).unwrap();
            let q2 = q.clone();
            let t = thread::spawn(move || q2.try_get());
            let put = poll_once_then_drop(q.put(1));
            assert_eq!(t.join().unwrap(), Ok(0));
            if put.is_ready() {
                assert_eq!(q.try_get(), Ok(1));
            } else {
                assert!(q.try_get().is_err(), "a dropped put never enqueues");
            }
            assert!(
                q.try_put(2).is_ok(),
                "no room stays promised to a dropped put"
            );
            assert_eq!(q.try_get(), Ok(2));
        });
    }

    /// A getter cancelled while a put hands it the item: the item is not lost.
    #[test]
    fn cancelled_get_racing_put() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let q2 = q.clone();
            let t = thread::spawn(move || q2.try_put(5).unwrap());
            let got = match poll_once_then_drop(q.get()) {
                Poll::Ready(v) => v,
                Poll::Pending => {
                    t.join().unwrap();
                    assert_eq!(block_on(q.get()), 5);
                    assert!(q.is_empty());
                    return;
                }
            };
            assert_eq!(got, 5);
            t.join().unwrap();
            assert!(q.is_empty());
        });
    }

    /// A queued getter re-polled with a new waker while a put hands it the item: a grant found
    /// after the clone stays in the slot until the clone is dropped, then the poll takes it.
    #[test]
    fn repoll_with_new_waker_racing_put() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let q2 = q.clone();
            repoll_with_new_waker(q.get(), move || q2.try_put(5).unwrap());
            assert!(q.is_empty());
        });
    }

    /// A get waiting on an empty queue while a put and a shutdown race: the put succeeds
    /// exactly when it came before the shutdown, and then the get has its item (handed over or
    /// taken from the queue, before or after the shutdown); otherwise the put has its item back
    /// and the get fails. Nothing is lost or left queued.
    #[test]
    fn shutdown_racing_blocked_get_and_put() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let q1 = q.clone();
            let shut = thread::spawn(move || q1.shutdown());
            let q2 = q.clone();
            let put = thread::spawn(move || block_on(q2.put_checked(5)).map_err(|e| e.0));
            let got = block_on(q.get_checked());
            shut.join().unwrap();
            match put.join().unwrap() {
                Ok(()) => assert_eq!(got, Ok(5)),
                Err(item) => {
                    assert_eq!(item, 5);
                    assert!(got.is_err());
                }
            }
            assert!(q.try_get().unwrap_err().is_shut_down());
        });
    }

    /// A put blocked on a full queue, a get making room (admitting it) and a shutdown racing:
    /// the put either got in before the shutdown (its item is queued) or fails with its item;
    /// either way no room stays promised to it.
    #[test]
    fn shutdown_racing_blocked_put_and_get() {
        loom::model(|| {
            let q = Arc::new(Queue::new(1));
            q.try_put(0).unwrap();
            let q1 = q.clone();
            let shut = thread::spawn(move || q1.shutdown());
            let q2 = q.clone();
            let put = thread::spawn(move || block_on(q2.put_checked(1)).map_err(|e| e.0));
            assert_eq!(q.try_get(), Ok(0));
            shut.join().unwrap();
            match put.join().unwrap() {
                Ok(()) => assert_eq!(q.try_get(), Ok(1)),
                Err(item) => assert_eq!(item, 1),
            }
            assert!(q.try_get().unwrap_err().is_shut_down());
            assert!(!q.is_full(), "no room stays promised to a failed put");
        });
    }

    /// `shutdown_immediate` (dropping a queued item, counted done) racing the `task_done` of
    /// the taken one, with `join` waiting: join always returns, nothing stays queued.
    #[test]
    fn shutdown_immediate_racing_join_and_task_done() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            q.try_put(1).unwrap();
            q.try_put(2).unwrap();
            assert_eq!(q.try_get(), Ok(1));
            let q1 = q.clone();
            let shut = thread::spawn(move || q1.shutdown_immediate());
            let q2 = q.clone();
            let done = thread::spawn(move || q2.task_done());
            block_on(q.join());
            shut.join().unwrap();
            done.join().unwrap();
            assert!(q.is_empty());
        });
    }

    /// `shutdown_immediate` racing the drop of a getter that had been handed an item, with
    /// `join` waiting: the item is given back before the shutdown (then drained with the
    /// queue) or after it (then dropped and counted done at once); either way `join` returns
    /// and nothing stays queued.
    #[test]
    fn shutdown_immediate_racing_a_cancelled_getters_give_back() {
        loom::model(|| {
            let q = Arc::new(Queue::new(0));
            let mut get = Box::pin(q.get());
            let polled = get
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()));
            assert!(polled.is_pending());
            q.try_put(1).unwrap(); // handed to the getter
            let q1 = q.clone();
            let shut = thread::spawn(move || q1.shutdown_immediate());
            drop(get);
            block_on(q.join());
            shut.join().unwrap();
            assert!(q.is_empty());
            assert!(q.try_get().unwrap_err().is_shut_down());
        });
    }

    /// A queued getter re-polled with a new waker while the queue is shut down: the shutdown
    /// reaches the new waker or the re-poll itself.
    #[test]
    fn shutdown_racing_a_getters_repoll_with_new_waker() {
        loom::model(|| {
            let q = Arc::new(Queue::<u32>::new(0));
            let q2 = q.clone();
            repoll_with_new_waker(q.get_checked(), move || q2.shutdown());
            assert!(q.try_get().unwrap_err().is_shut_down());
        });
    }

    /// A putter queued on a full queue, re-polled with a new waker while the queue is shut
    /// down: it is woken on the new waker (or sees the shutdown itself) and its item never
    /// enters.
    #[test]
    fn shutdown_racing_a_putters_repoll_with_new_waker() {
        loom::model(|| {
            let q = Arc::new(Queue::new(1));
            q.try_put(0).unwrap();
            let q2 = q.clone();
            repoll_with_new_waker(q.put_checked(1), move || q2.shutdown());
            assert_eq!(q.try_get(), Ok(0));
            assert!(q.try_get().unwrap_err().is_shut_down());
        });
    }
}

mod rwlock {
    use super::*;
    use ciranda_sync::RwLock;

    /// A reader and a writer racing: the writer collects the reader's permit; they never
    /// overlap; the reader sees either the old or the new value, never a torn one.
    #[test]
    fn reader_and_writer() {
        loom::model(|| {
            let lock = Arc::new(RwLock::new((0, 0)));
            let l2 = lock.clone();
            let t = thread::spawn(move || {
                let g = block_on(l2.read());
                assert_eq!(g.0, g.1);
            });
            {
                let mut g = block_on(lock.write());
                g.0 += 1;
                g.1 += 1;
            }
            t.join().unwrap();
            assert_eq!(*lock.try_read().unwrap(), (1, 1));
            assert!(lock.try_write().is_ok());
        });
    }

    /// A loom cell the lock can share (`RwLock<T>: Sync` needs `T: Sync`); every access goes
    /// through a guard, and loom checks each is causally ordered after the last write.
    struct Shared(loom::cell::UnsafeCell<usize>);

    // SAFETY: the cell is only accessed through the lock's guards: written under a write
    // guard, read under a read guard.
    unsafe impl Sync for Shared {}

    impl Shared {
        fn get(&self) -> usize {
            // SAFETY: called under a guard of the lock (see `Sync` above).
            self.0.with(|p| unsafe { *p })
        }

        fn set(&self, value: usize) {
            // SAFETY: called under a write guard of the lock.
            self.0.with_mut(|p| unsafe { *p = value })
        }
    }

    /// A downgrade racing a writer and a reader, each of which may queue behind the writer
    /// that downgrades or come after. No writer gets in between the write and the read guard:
    /// the read guard sees its own write, the other writer never runs while the read guard
    /// lives, and it sees the value before that write or after it (loom's cell checks each
    /// access is ordered after the last write). The racing reader sees one of the writes.
    #[test]
    fn downgrade_racing_a_reader_and_a_writer() {
        loom::model(|| {
            let lock = Arc::new(RwLock::new(Shared(loom::cell::UnsafeCell::new(0))));
            let reading = Arc::new(loom::sync::atomic::AtomicBool::new(false));
            let writer = thread::spawn({
                let (lock, reading) = (lock.clone(), reading.clone());
                move || {
                    let g = block_on(lock.write());
                    assert!(
                        !reading.load(Ordering::SeqCst),
                        "a writer got in while the downgraded guard lives"
                    );
                    let seen = g.get();
                    assert!(seen == 0 || seen == 1, "saw {seen}");
                    g.set(2);
                }
            });
            let reader = thread::spawn({
                let lock = lock.clone();
                move || {
                    let seen = block_on(lock.read()).get();
                    assert!(seen <= 2, "saw {seen}");
                }
            });
            {
                let g = block_on(lock.write());
                g.set(1);
                let r = g.downgrade();
                reading.store(true, Ordering::SeqCst);
                assert_eq!(
                    r.get(),
                    1,
                    "a write landed between the downgrade's two halves"
                );
                reading.store(false, Ordering::SeqCst);
            }
            writer.join().unwrap();
            reader.join().unwrap();
            assert!(lock.try_write().is_ok());
        });
    }

    /// An upgrade racing a reader's release (the reader may also come after the upgrade, or
    /// queue behind it): the upgrade waits for the reader's release, and the reader never
    /// reads while the upgraded guard writes (loom's cell checks the accesses are ordered).
    /// Both locks are free at the end.
    #[test]
    fn upgrade_racing_a_readers_release() {
        loom::model(|| {
            let lock = Arc::new(RwLock::new(Shared(loom::cell::UnsafeCell::new(0))));
            let reader = thread::spawn({
                let lock = lock.clone();
                move || {
                    let seen = block_on(lock.read()).get();
                    assert!(seen <= 1, "saw {seen}");
                }
            });
            {
                let u = block_on(lock.upgradable_read());
                assert_eq!(u.get(), 0);
                let w = block_on(u.upgrade());
                w.set(1);
            }
            reader.join().unwrap();
            assert!(lock.try_upgradable_read().is_ok());
            assert!(lock.try_write().is_ok());
        });
    }

    /// An upgrade racing a writer that queues while the upgradable guard is held (before
    /// the upgrade's first poll, or after it): the upgrade never waits behind the writer (it
    /// would wait forever: loom reports the deadlock) and the writer never gets in between
    /// the upgradable read and the upgraded write: it sees that write.
    #[test]
    fn upgrade_racing_a_queued_writer() {
        loom::model(|| {
            let lock = Arc::new(RwLock::new(Shared(loom::cell::UnsafeCell::new(0))));
            let u = lock.try_upgradable_read().unwrap();
            let writer = thread::spawn({
                let lock = lock.clone();
                move || {
                    let g = block_on(lock.write());
                    assert_eq!(g.get(), 1, "the writer got in before the upgrade");
                    g.set(2);
                }
            });
            {
                assert_eq!(u.get(), 0);
                let w = block_on(u.upgrade());
                w.set(1);
            }
            writer.join().unwrap();
            assert_eq!(lock.try_read().unwrap().get(), 2);
            assert!(lock.try_upgradable_read().is_ok());
        });
    }

    /// An upgrade polled once and dropped while a reader takes and releases its read lock
    /// (which may be granted to the upgrade at any point of the cancel): every permit comes
    /// back and nobody is left waiting — the reader finishes, a writer gets the lock, and
    /// the upgradable lock is free (a lost permit or wake-up is a deadlock loom reports).
    #[test]
    fn cancelled_upgrade_racing_a_readers_release() {
        loom::model(|| {
            let lock = Arc::new(RwLock::new(Shared(loom::cell::UnsafeCell::new(0))));
            let u = lock.try_upgradable_read().unwrap();
            let reader = thread::spawn({
                let lock = lock.clone();
                move || drop(block_on(lock.read()))
            });
            if let Poll::Ready(w) = poll_once_then_drop(u.upgrade()) {
                w.set(1);
            }
            drop(block_on(lock.write()));
            reader.join().unwrap();
            assert!(lock.try_upgradable_read().is_ok());
            assert!(lock.try_write().is_ok());
        });
    }
}

mod condition {
    use super::*;
    use ciranda_sync::{Condition, Mutex};

    /// `notify_one` racing the waiter's re-acquire of the lock: the waiter always wakes and sees
    /// the flag, and the mutex is left unlocked.
    #[test]
    fn notify_one_racing_relock() {
        loom::model(|| {
            let state = Arc::new((Mutex::new(false), Condition::new()));
            let s2 = state.clone();
            let t = thread::spawn(move || {
                let (m, c) = &*s2;
                *block_on(m.lock()) = true;
                c.notify_one();
            });
            {
                let (m, c) = &*state;
                let g = block_on(async { c.wait_while(m.lock().await, |ready| !*ready).await });
                assert!(*g);
            }
            t.join().unwrap();
            assert!(state.0.try_lock().is_ok());
        });
    }

    /// A notified waiter dropped while another thread notifies: the notification reaches the
    /// second waiter (no lost wake-up).
    #[test]
    fn dropped_notified_waiter_passes_on() {
        loom::model(|| {
            let state = Arc::new((Mutex::new(()), Condition::new()));
            let (m, c) = &*state;
            let mut cx = Context::from_waker(std::task::Waker::noop());
            let mut a = Box::pin(async { drop(c.wait(m.lock().await).await) });
            let mut b = Box::pin(async { drop(c.wait(m.lock().await).await) });
            assert!(a.as_mut().poll(&mut cx).is_pending());
            assert!(b.as_mut().poll(&mut cx).is_pending());
            let s2 = state.clone();
            let t = thread::spawn(move || s2.1.notify_one());
            drop(a);
            block_on(b);
            t.join().unwrap();
        });
    }
}

mod barrier {
    use super::*;
    use ciranda_sync::Barrier;

    /// Two parties, two generations: exactly one leader per generation, and a fast party's
    /// second arrival never completes the first generation.
    #[test]
    fn generation_reuse() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            let t = thread::spawn(move || {
                block_on(async {
                    let x = b2.wait().await.is_leader();
                    let y = b2.wait().await.is_leader();
                    (x, y)
                })
            });
            let (x, y) = block_on(async {
                let x = b.wait().await.is_leader();
                let y = b.wait().await.is_leader();
                (x, y)
            });
            let (tx, ty) = t.join().unwrap();
            assert!(x ^ tx);
            assert!(y ^ ty);
        });
    }

    /// An arrival re-polled with a new waker while the last one arrives: a release found after
    /// the clone stays in the slot until the clone is dropped, then the poll returns.
    #[test]
    fn repoll_with_new_waker_racing_the_last_arrival() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            repoll_with_new_waker(b.wait(), move || {
                block_on(b2.wait());
            });
            assert_eq!(b.n_waiting(), 0);
        });
    }

    /// `abort` racing a generation's last arrival: the generation completes for both parties
    /// (one leader) or fails for both, never one of each, and nobody is left waiting.
    #[test]
    fn abort_racing_the_last_arrival() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            let party = thread::spawn(move || block_on(b2.wait_checked()));
            let b3 = b.clone();
            let aborter = thread::spawn(move || b3.abort());
            let mine = block_on(b.wait_checked());
            let theirs = party.join().unwrap();
            aborter.join().unwrap();
            match (mine, theirs) {
                (Ok(x), Ok(y)) => assert!(x.is_leader() ^ y.is_leader()),
                (Err(_), Err(_)) => {}
                other => panic!("half released, half failed: {other:?}"),
            }
            assert!(b.is_broken());
            assert_eq!(b.n_waiting(), 0);
        });
    }

    /// `reset` racing two arrivals that retry when failed: an arrival queued before the reset
    /// fails, one after it counts in the new generation; both end in one generation with one
    /// leader, and the barrier is not broken.
    #[test]
    fn reset_racing_waiters() {
        async fn until_released(b: &Barrier) -> (bool, usize) {
            let mut failures = 0;
            loop {
                match b.wait_checked().await {
                    Ok(r) => return (r.is_leader(), failures),
                    Err(_) => failures += 1,
                }
            }
        }
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            let party = thread::spawn(move || block_on(until_released(&b2)));
            let b3 = b.clone();
            let resetter = thread::spawn(move || b3.reset());
            let (x, x_failed) = block_on(until_released(&b));
            let (y, y_failed) = party.join().unwrap();
            resetter.join().unwrap();
            assert!(x ^ y, "one leader per generation");
            // Only an arrival queued when the reset came fails, and only once.
            assert!(x_failed + y_failed <= 1);
            assert!(!b.is_broken());
            assert_eq!(b.n_waiting(), 0);
        });
    }

    /// `reset` racing the withdrawal (drop) of a queued arrival: the count ends at zero
    /// either way (a failed arrival no longer counts; a withdrawn one is not failed), and a
    /// full round works afterwards.
    #[test]
    fn reset_racing_a_withdrawal() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let mut first = Box::pin(b.wait_checked());
            let polled = first
                .as_mut()
                .poll(&mut Context::from_waker(std::task::Waker::noop()));
            assert!(polled.is_pending());
            let b1 = b.clone();
            let resetter = thread::spawn(move || b1.reset());
            drop(first);
            resetter.join().unwrap();
            assert_eq!(b.n_waiting(), 0);
            assert!(!b.is_broken());
            let b2 = b.clone();
            let party = thread::spawn(move || block_on(b2.wait()).is_leader());
            let mine = block_on(b.wait()).is_leader();
            assert!(mine ^ party.join().unwrap());
        });
    }

    /// An arrival re-polled with a new waker while the barrier is aborted: the abort reaches
    /// the new waker or the re-poll itself, and nobody is left counted.
    #[test]
    fn abort_racing_a_repoll_with_new_waker() {
        loom::model(|| {
            let b = Arc::new(Barrier::new(2));
            let b2 = b.clone();
            repoll_with_new_waker(b.wait_checked(), move || b2.abort());
            assert_eq!(b.n_waiting(), 0);
            assert!(b.is_broken());
        });
    }
}

mod promise {
    use super::*;
    use ciranda_sync::Promise;

    /// `set` racing two waiters: both get the value.
    #[test]
    fn set_racing_waiters() {
        loom::model(|| {
            let p = Arc::new(Promise::new());
            let p2 = p.clone();
            let t = thread::spawn(move || block_on(p2.wait()));
            let p3 = p.clone();
            let setter = thread::spawn(move || p3.set(5).unwrap());
            assert_eq!(block_on(p.wait()), 5);
            assert_eq!(t.join().unwrap(), 5);
            setter.join().unwrap();
        });
    }
}
