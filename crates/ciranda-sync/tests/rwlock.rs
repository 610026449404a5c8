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
