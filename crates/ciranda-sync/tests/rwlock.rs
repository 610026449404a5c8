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
