//! Behaviour tests for `RwLock`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::RwLock;
use common::{Task, block_on};

#[test]
fn readers_share_writers_exclude() {
    let mut lock = RwLock::new(1);
    *lock.get_mut() += 1;
    let r1 = lock.try_read().unwrap();
    let r2 = block_on(lock.read());
    assert_eq!(*r1 + *r2, 4);
    assert!(lock.try_write().is_err());
    drop((r1, r2));
    let mut w = lock.try_write().unwrap();
    *w += 1;
    assert!(lock.try_read().is_err());
    drop(w);
    assert_eq!(lock.into_inner(), 3);
}

#[test]
fn queued_writer_blocks_later_readers_and_collects_permits() {
    let lock = RwLock::new(0);
    let r1 = lock.try_read().unwrap();
    let r2 = lock.try_read().unwrap();
    let mut w = Task::new(lock.write());
    w.pending();
    // A reader arriving after the writer queues behind it.
    assert!(lock.try_read().is_err());
    let mut r3 = Task::new(lock.read());
    r3.pending();
    drop(r1);
    assert!(!w.is_woken());
    drop(r2);
    assert!(w.is_woken());
    assert!(!r3.is_woken());
    let mut g = w.ready();
    *g = 7;
    drop(g);
    assert!(r3.is_woken());
    assert_eq!(*r3.ready(), 7);
}

#[test]
fn dropped_write_future_returns_collected_permits() {
    let lock = RwLock::new(());
    let r = lock.try_read().unwrap();
    let mut w = Task::new(lock.write());
    let mut r2 = Task::new(lock.read());
    w.pending();
    r2.pending();
    drop(w);
    // The reader queued behind the cancelled writer now gets in.
    assert!(r2.is_woken());
    let _g2 = r2.ready();
    drop(r);
    assert!(lock.try_write().is_err());
}

#[test]
fn fifo_between_writers() {
    let lock = RwLock::new(Vec::new());
    let g = lock.try_write().unwrap();
    let mut tasks: Vec<_> = (0..3)
        .map(|i| {
            let lock = &lock;
            Task::new(async move { lock.write().await.push(i) })
        })
        .collect();
    for t in &mut tasks {
        t.pending();
    }
    drop(g);
    // Later writers polled first cannot overtake earlier ones.
    tasks[2].pending();
    tasks[1].pending();
    tasks[0].ready();
    tasks[2].pending();
    tasks[1].ready();
    tasks[2].ready();
    assert_eq!(*lock.try_read().unwrap(), [0, 1, 2]);
}

#[test]
fn threads_read_and_write() {
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                block_on(async {
                    for _ in 0..500 {
                        if i % 2 == 0 {
                            let mut g = lock.write().await;
                            g.0 += 1;
                            g.1 += 1;
                        } else {
                            let g = lock.read().await;
                            assert_eq!(g.0, g.1);
                        }
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*lock.try_read().unwrap(), (1000, 1000));
}

#[test]
fn a_downgraded_write_is_read_by_the_guard_and_by_other_readers_at_once() {
    let lock = Arc::new(RwLock::new(0));
    let mut w = lock.try_write().unwrap();
    *w = 7;
    let r = w.downgrade();
    assert_eq!(*r, 7);
    // Other readers share the lock with the downgraded guard, on this thread and another.
    assert_eq!(*lock.try_read().unwrap(), 7);
    let other = std::thread::spawn({
        let lock = lock.clone();
        move || *block_on(lock.read())
    });
    assert_eq!(other.join().unwrap(), 7);
    assert!(lock.try_write().is_err());
    drop(r);
    assert!(lock.try_write().is_ok());
}

#[test]
fn a_queued_writer_does_not_get_in_between_a_downgrade() {
    let lock = RwLock::new(0);
    let mut g = lock.try_write().unwrap();
    let mut w = Task::new(async {
        let mut g = lock.write().await;
        let seen = *g;
        *g = 2;
        seen
    });
    w.pending();
    *g = 1;
    let r = g.downgrade();
    assert!(
        !w.is_woken(),
        "the writer got in between the write and the read guard"
    );
    assert_eq!(*r, 1);
    // The queued writer stays first: later readers wait for it.
    assert!(lock.try_read().is_err());
    w.pending();
    drop(r);
    assert!(w.is_woken());
    assert_eq!(w.ready(), 1);
    assert_eq!(*lock.try_read().unwrap(), 2);
}

/// Queue: reader `a`, writer `w`, reader `b`. The downgrade serves `a` (ahead of the writer)
/// at once; `w` gets the lock when both read guards are gone; `b` waits for `w`.
#[test]
fn a_downgrade_serves_the_readers_queued_ahead_of_the_first_writer_only() {
    let lock = RwLock::new(Vec::new());
    let mut g = lock.try_write().unwrap();
    let mut a = Task::new(lock.read());
    let mut w = Task::new(async { lock.write().await.push('w') });
    let mut b = Task::new(async { lock.read().await.clone() });
    a.pending();
    w.pending();
    b.pending();
    g.push('d');
    let r = g.downgrade();
    assert!(a.is_woken());
    assert!(!w.is_woken());
    assert!(!b.is_woken());
    let a_guard = a.ready();
    assert_eq!(*a_guard, ['d']);
    assert_eq!(*r, ['d']);
    b.pending();
    drop(r);
    assert!(
        !w.is_woken(),
        "the writer waits for the reader served with the downgrade"
    );
    drop(a_guard);
    assert!(w.is_woken());
    assert!(!b.is_woken());
    b.pending();
    w.ready();
    assert!(b.is_woken());
    assert_eq!(b.ready(), ['d', 'w']);
}

/// With only readers queued, a downgrade serves them all and later readers get in at once.
#[test]
fn a_downgrade_with_only_readers_queued_serves_them_all() {
    let lock = RwLock::new(3);
    let g = lock.try_write().unwrap();
    let mut readers: Vec<_> = (0..3).map(|_| Task::new(lock.read())).collect();
    for r in &mut readers {
        r.pending();
    }
    let r = g.downgrade();
    let guards: Vec<_> = readers
        .iter_mut()
        .map(|t| {
            assert!(t.is_woken());
            t.ready()
        })
        .collect();
    assert!(guards.iter().all(|g| **g == 3));
    assert_eq!(*lock.try_read().unwrap(), 3);
    assert!(lock.try_write().is_err());
    drop((r, guards));
    assert!(lock.try_write().is_ok());
}

/// A writer queued first (ahead of a reader) gets the lock right after the downgraded guard
/// goes; the reader behind it waits.
#[test]
fn a_writer_queued_first_is_next_after_the_downgraded_guard() {
    let lock = RwLock::new(0);
    let g = lock.try_write().unwrap();
    let mut w = Task::new(lock.write());
    let mut b = Task::new(lock.read());
    w.pending();
    b.pending();
    let r = g.downgrade();
    assert!(!w.is_woken());
    assert!(!b.is_woken());
    drop(r);
    assert!(w.is_woken());
    assert!(!b.is_woken());
    drop(w.ready());
    assert!(b.is_woken());
    drop(b.ready());
}

/// The downgraded guard's release, when it wakes a served reader whose waker panics: the
/// panic reaches the caller, and the read guard is released while it unwinds.
#[test]
fn a_downgrade_whose_wake_up_panics_leaves_the_lock_usable() {
    struct Panics;
    impl std::task::Wake for Panics {
        fn wake(self: Arc<Self>) {
            panic!("expected test panic: waker");
        }
    }
    let lock = RwLock::new(0);
    let g = lock.try_write().unwrap();
    let mut reader = std::pin::pin!(lock.read());
    let waker = std::task::Waker::from(Arc::new(Panics));
    let mut cx = std::task::Context::from_waker(&waker);
    assert!(reader.as_mut().poll(&mut cx).is_pending());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(g.downgrade())));
    assert!(unwound.is_err());
    // The reader was served; once it is done, the lock is free.
    let served = reader.as_mut().poll(&mut cx);
    assert!(matches!(&served, std::task::Poll::Ready(guard) if **guard == 0));
    drop(served);
    assert!(lock.try_write().is_ok());
}

// ---- The upgradable read lock ----

/// Polls `fut` once with `waker`.
fn poll_once<F: std::future::Future>(
    fut: std::pin::Pin<&mut F>,
    waker: &std::task::Waker,
) -> std::task::Poll<F::Output> {
    fut.poll(&mut std::task::Context::from_waker(waker))
}

#[test]
fn an_upgradable_reader_shares_with_readers_and_excludes_writers_and_upgradable_readers() {
    let lock = RwLock::new(1);
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    assert_eq!(*u + *r, 2);
    assert!(lock.try_write().is_err());
    assert!(lock.try_upgradable_read().is_err());
    let mut u2 = Task::new(async { *lock.upgradable_read().await });
    u2.pending();
    // An upgradable reader waiting for the upgradable lock holds back no plain reader.
    assert_eq!(*lock.try_read().unwrap(), 1);
    assert_eq!(*block_on(lock.read()), 1);
    drop(r);
    assert!(!u2.is_woken());
    drop(u);
    assert!(u2.is_woken());
    assert_eq!(u2.ready(), 1);
    assert!(lock.try_write().is_ok());
}

/// Asking for the upgradable lock follows the FIFO order: behind a queued writer.
#[test]
fn an_upgradable_read_queues_behind_a_queued_writer() {
    let lock = RwLock::new(0);
    let r = lock.try_read().unwrap();
    let mut w = Task::new(async { *lock.write().await = 1 });
    w.pending();
    assert!(lock.try_upgradable_read().is_err());
    let mut u = Task::new(async { *lock.upgradable_read().await });
    u.pending();
    drop(r);
    assert!(w.is_woken());
    assert!(!u.is_woken());
    w.ready();
    assert!(u.is_woken());
    assert_eq!(u.ready(), 1);
    // The failed `try_upgradable_read` gave the upgradable lock back.
    assert!(lock.try_upgradable_read().is_ok());
}

#[test]
fn an_upgrade_waits_for_the_readers_and_later_readers_wait_for_it() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let mut up = Task::new(async move {
        let mut w = u.upgrade().await;
        *w = 1;
    });
    up.pending();
    // Readers arriving after the upgrade queue behind it.
    assert!(lock.try_read().is_err());
    let mut r2 = Task::new(async { *lock.read().await });
    r2.pending();
    drop(r);
    assert!(up.is_woken());
    assert!(!r2.is_woken());
    up.ready();
    assert!(r2.is_woken());
    assert_eq!(r2.ready(), 1);
    assert!(lock.try_upgradable_read().is_ok());
}

/// Queue: writer `w`, reader `b`, both queued while the upgradable guard and a reader hold
/// the lock. The upgrade goes ahead of `w` (which waits for the guard's read lock: behind it,
/// the upgrade would wait forever), then `w`, then `b`.
#[test]
fn an_upgrade_goes_ahead_of_a_writer_queued_while_the_guard_was_held() {
    let lock = RwLock::new(Vec::new());
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let mut w = Task::new(async { lock.write().await.push('w') });
    let mut b = Task::new(async { lock.read().await.clone() });
    w.pending();
    b.pending();
    let mut up = Task::new(async move { u.upgrade().await.push('u') });
    up.pending();
    drop(r);
    assert!(up.is_woken());
    assert!(!w.is_woken());
    assert!(!b.is_woken());
    up.ready();
    assert!(w.is_woken());
    assert!(
        !b.is_woken(),
        "a reader overtook the writer queued before it"
    );
    w.ready();
    assert!(b.is_woken());
    assert_eq!(b.ready(), ['u', 'w']);
}

/// With no other reader, the upgrade takes the permits a queued writer had collected and
/// is done at its first poll; the writer is next.
#[test]
fn an_upgrade_with_no_other_reader_is_done_at_once_ahead_of_a_queued_writer() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let mut w = Task::new(async {
        let mut g = lock.write().await;
        *g += 10;
        *g
    });
    w.pending();
    let mut up = Task::new(u.upgrade());
    let mut g = up.ready();
    assert!(!w.is_woken());
    *g = 1;
    drop(g);
    assert!(w.is_woken());
    assert_eq!(w.ready(), 11);
}

#[test]
fn try_upgrade_fails_while_another_reader_holds_the_lock_and_gives_the_guard_back() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let u = u.try_upgrade().unwrap_err();
    assert_eq!(*u, 0);
    // The guard it gave back still excludes writers and upgradable readers.
    assert!(lock.try_write().is_err());
    assert!(lock.try_upgradable_read().is_err());
    let mut w = Task::new(async { *lock.write().await });
    w.pending();
    let u = u.try_upgrade().unwrap_err();
    drop(r);
    assert!(!w.is_woken());
    // The writer queued meanwhile does not make it fail: it goes ahead of it.
    let mut g = u.try_upgrade().unwrap();
    assert!(!w.is_woken());
    *g = 3;
    drop(g);
    assert!(w.is_woken());
    assert_eq!(w.ready(), 3);
    assert!(lock.try_upgradable_read().is_ok());
}

#[test]
fn a_downgraded_upgradable_guard_keeps_reading_and_lets_the_next_upgradable_reader_in() {
    let lock = RwLock::new(4);
    let u = lock.try_upgradable_read().unwrap();
    let mut next = Task::new(lock.upgradable_read());
    next.pending();
    let r = u.downgrade();
    assert!(next.is_woken());
    let u2 = next.ready();
    assert_eq!((*r, *u2), (4, 4));
    assert!(lock.try_write().is_err());
    let mut up = Task::new(u2.upgrade());
    up.pending();
    drop(r);
    assert!(up.is_woken());
    *up.ready() = 5;
    assert_eq!(*lock.try_read().unwrap(), 5);
}

/// An upgrade dropped while it waits: it had taken the permits the queued writer collected;
/// they go back to the writer, the guard's read lock and the upgradable lock are released,
/// and nothing is lost (the writer gets the lock once the other reader goes).
#[test]
fn a_dropped_upgrade_gives_back_what_it_collected_and_releases_the_guard() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let mut w = Task::new(async { *lock.write().await });
    w.pending();
    let mut up = Task::new(u.upgrade());
    up.pending();
    drop(up);
    assert!(!w.is_woken(), "the other reader is still there");
    // The upgradable lock is free; its read lock queues behind the writer.
    let mut u2 = Task::new(lock.upgradable_read());
    u2.pending();
    drop(r);
    assert!(w.is_woken());
    assert!(!u2.is_woken());
    assert_eq!(w.ready(), 0);
    assert!(u2.is_woken());
    drop(u2.ready());
    assert!(lock.try_write().is_ok());
}

/// An upgrade dropped after it was granted but before it was polled again: the write lock
/// it was handed goes to the queued writer.
#[test]
fn an_upgrade_dropped_once_granted_passes_the_lock_on() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let r = lock.try_read().unwrap();
    let mut w = Task::new(async { *lock.write().await });
    w.pending();
    let mut up = Task::new(u.upgrade());
    up.pending();
    drop(r);
    assert!(up.is_woken());
    assert!(!w.is_woken());
    drop(up);
    assert!(w.is_woken());
    assert_eq!(w.ready(), 0);
    assert!(lock.try_upgradable_read().is_ok());
}

/// An `upgradable_read` dropped while it waits for its read lock (it holds the upgradable
/// lock then) lets the next upgradable reader in.
#[test]
fn a_dropped_upgradable_read_gives_the_upgradable_lock_back() {
    let lock = RwLock::new(0);
    let g = lock.try_write().unwrap();
    let mut u = Task::new(lock.upgradable_read());
    u.pending();
    let mut u2 = Task::new(lock.upgradable_read());
    u2.pending();
    drop(u);
    assert!(u2.is_woken());
    u2.pending();
    drop(g);
    assert!(u2.is_woken());
    drop(u2.ready());
    assert!(lock.try_upgradable_read().is_ok());
}

/// The guard's drop wakes a queued writer whose waker panics: the panic reaches the caller,
/// and the upgradable lock is released anyway.
#[test]
fn an_upgradable_guard_whose_release_panics_still_gives_the_upgradable_lock_back() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let (waker, wakes) = common::panics_on_wake();
    let mut writer = std::pin::pin!(lock.write());
    assert!(poll_once(writer.as_mut(), &waker).is_pending());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(u)));
    assert!(unwound.is_err());
    assert_eq!(wakes(), 1);
    let served = poll_once(writer.as_mut(), std::task::Waker::noop());
    assert!(served.is_ready(), "the writer was served");
    drop(served);
    assert!(lock.try_upgradable_read().is_ok());
}

/// An upgrade whose release of the upgradable lock wakes a waiting upgradable reader whose
/// waker panics: the write lock is released while the panic unwinds, and the waiting
/// upgradable reader gets in.
#[test]
fn an_upgrade_whose_wake_up_panics_releases_the_write_lock() {
    let lock = RwLock::new(0);
    let u = lock.try_upgradable_read().unwrap();
    let (waker, wakes) = common::panics_on_wake();
    let mut next = std::pin::pin!(lock.upgradable_read());
    assert!(poll_once(next.as_mut(), &waker).is_pending());
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let mut up = std::pin::pin!(u.upgrade());
        let _ = poll_once(up.as_mut(), std::task::Waker::noop());
    }));
    assert!(unwound.is_err());
    assert_eq!(wakes(), 1);
    let served = poll_once(next.as_mut(), std::task::Waker::noop());
    assert!(served.is_ready(), "the next upgradable reader was served");
    assert!(lock.try_write().is_err());
    drop(served);
    assert!(lock.try_write().is_ok());
}

/// The upgrade's first poll clones its waker, whose `clone` releases a read guard of the
/// same lock (with a writer queued, that release takes the lock's internal mutex): the clone
/// runs before the upgrade takes that mutex, so nothing deadlocks. The release is the last
/// reader's, so the upgrade is done at once and drops the clone it did not need, which
/// panics: the permits it took go back, the guard inside the unwound future is dropped,
/// and the queued writer gets the lock.
#[test]
fn an_upgrade_whose_waker_calls_back_into_the_lock_and_panics() {
    let lock: &'static RwLock<i32> = Box::leak(Box::new(RwLock::new(0)));
    let u = lock.try_upgradable_read().unwrap();
    let held = std::sync::Mutex::new(Some(lock.try_read().unwrap()));
    let mut w = Task::new(async { *lock.write().await });
    w.pending();
    let waker = common::calls_back_on_clone(move || drop(held.lock().unwrap().take()));
    let mut up = Task::new(u.upgrade());
    up.poll_panics_with(&waker);
    drop(up);
    assert!(w.is_woken());
    assert_eq!(w.ready(), 0);
    assert!(lock.try_upgradable_read().is_ok());
    assert!(lock.try_write().is_ok());
}

/// Upgraders, a writer and a reader on four threads: no writer gets in between an
/// upgradable read and its upgrade (the upgraded guard sees what the upgradable one read),
/// and no update is lost.
#[test]
fn threads_upgrade_read_and_write() {
    let lock = Arc::new(RwLock::new((0u64, 0u64)));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let lock = lock.clone();
            std::thread::spawn(move || {
                block_on(async {
                    for _ in 0..500 {
                        match i {
                            0 | 1 => {
                                let u = lock.upgradable_read().await;
                                let seen = *u;
                                let mut w = u.upgrade().await;
                                assert_eq!(*w, seen, "a write got in before the upgrade");
                                w.0 += 1;
                                w.1 += 1;
                            }
                            2 => {
                                let mut g = lock.write().await;
                                g.0 += 1;
                                g.1 += 1;
                            }
                            _ => {
                                let g = lock.read().await;
                                assert_eq!(g.0, g.1);
                            }
                        }
                    }
                })
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(*lock.try_read().unwrap(), (1500, 1500));
}

/// The upgradable guard and the futures of the new operations can move between threads
/// (compile-time check; `auto_traits.rs` holds the others).
#[test]
fn the_upgradable_guard_and_its_futures_are_send_and_sync() {
    fn both<T: Send + Sync>(_: &T) {}
    let lock = RwLock::new(0u8);
    {
        let read = lock.upgradable_read();
        both(&read);
    }
    let u = lock.try_upgradable_read().unwrap();
    both(&u);
    let upgrade = u.upgrade();
    both(&upgrade);
}
