//! Behaviour tests for `Condition`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::{Condition, Mutex};
use common::{Task, block_on};

#[test]
fn notify_one_wakes_in_arrival_order() {
    let m = Mutex::new(Vec::new());
    let c = Condition::new();
    let mut tasks: Vec<_> = (0..3)
        .map(|i| {
            let (m, c) = (&m, &c);
            Task::new(async move {
                let mut g = c.wait(m.lock().await).await;
                g.push(i);
            })
        })
        .collect();
    for t in &mut tasks {
        t.pending();
    }
    // Every waiter released the mutex while waiting.
    assert!(m.try_lock().is_ok());
    c.notify_one();
    assert!(tasks[0].is_woken());
    assert!(!tasks[1].is_woken());
    tasks[2].pending();
    tasks[1].pending();
    tasks[0].ready();
    c.notify(2);
    tasks[2].ready();
    tasks[1].ready();
    assert_eq!(*m.try_lock().unwrap(), [0, 2, 1]);
}

#[test]
fn notify_with_nobody_waiting_stores_nothing() {
    let m = Mutex::new(());
    let c = Condition::new();
    c.notify_all();
    c.notify(5);
    let mut t = Task::new(async {
        let _g = c.wait(m.lock().await).await;
    });
    t.pending();
    c.notify_all();
    t.ready();
}

#[test]
fn dropped_notified_wait_passes_notification_on() {
    let m = Mutex::new(());
    let c = Condition::new();
    let mut a = Task::new(async {
        let _g = c.wait(m.lock().await).await;
    });
    let mut b = Task::new(async {
        let _g = c.wait(m.lock().await).await;
    });
    a.pending();
    b.pending();
    c.notify_one();
    drop(a);
    assert!(b.is_woken());
    b.ready();
}

#[test]
fn dropped_wait_while_retaking_the_lock_passes_notification_on() {
    let m = Mutex::new(());
    let c = Condition::new();
    let mut a = Task::new(async {
        let _g = c.wait(m.lock().await).await;
    });
    let mut b = Task::new(async {
        let _g = c.wait(m.lock().await).await;
    });
    a.pending();
    b.pending();
    let held = m.try_lock().unwrap();
    c.notify_one();
    a.pending(); // notified, now waiting for the mutex
    drop(a);
    assert!(b.is_woken());
    b.pending(); // b was notified in turn; it waits for the mutex
    drop(held);
    b.ready();
}

#[test]
fn notify_all_and_wait_while_across_threads() {
    let state = Arc::new((Mutex::new(0u32), Condition::new()));
    let waiters: Vec<_> = (0..3)
        .map(|_| {
            let state = state.clone();
            std::thread::spawn(move || {
                block_on(async {
                    let (m, c) = &*state;
                    let g = c.wait_while(m.lock().await, |n| *n < 10).await;
                    *g
                })
            })
        })
        .collect();
    block_on(async {
        let (m, c) = &*state;
        for _ in 0..10 {
            *m.lock().await += 1;
            c.notify_all();
        }
    });
    for w in waiters {
        assert_eq!(w.join().unwrap(), 10);
    }
}

#[test]
fn owned_guards_wait_too() {
    // `lock_owned` guards (the ones a task can keep across a move) wait like borrowed ones:
    // released while waiting, re-taken before `wait` returns, notifications in order.
    let m = Arc::new(Mutex::new(Vec::new()));
    let c = Condition::new();
    let mut first = Task::new({
        let (m, c) = (m.clone(), &c);
        async move {
            let mut g = c.wait(m.lock_owned().await).await;
            g.push(1);
        }
    });
    let mut second = Task::new({
        let (m, c) = (m.clone(), &c);
        async move {
            let mut g = c.wait_while(m.lock_owned().await, |v| v.is_empty()).await;
            g.push(2);
        }
    });
    first.pending();
    second.pending();
    assert!(
        m.try_lock().is_ok(),
        "a waiting owned guard releases the mutex"
    );
    c.notify_one();
    first.ready();
    c.notify_one();
    second.ready();
    assert_eq!(*m.try_lock().unwrap(), [1, 2]);
}

#[test]
fn owned_guards_wait_in_spawned_tasks_across_threads() {
    // The future of a wait on an owned guard is `Send + 'static`: it can move to a thread.
    fn assert_send_static<F: std::future::Future + Send + 'static>(f: F) -> F {
        f
    }
    let state = Arc::new((Arc::new(Mutex::new(false)), Condition::new()));
    let waiter = {
        let state = state.clone();
        let fut = assert_send_static(async move {
            let (m, c) = &*state;
            *c.wait_while(m.clone().lock_owned().await, |ready| !*ready)
                .await
        });
        std::thread::spawn(move || block_on(fut))
    };
    block_on(async {
        let (m, c) = &*state;
        *m.lock().await = true;
        c.notify_all();
    });
    assert!(waiter.join().unwrap());
}

/// `Debug` counts the waiters under the condition's lock and writes with it released: the
/// writer is the caller's code. The count's guard used to live until the end of the
/// formatting statement, so a writer that notified the condition hung.
#[test]
fn debug_writes_with_the_lock_released() {
    use std::fmt::Write;

    struct NotifiesAtEachWrite<'a> {
        cond: &'a Condition,
        out: String,
    }

    impl Write for NotifiesAtEachWrite<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            self.cond.notify_one();
            self.out.push_str(s);
            Ok(())
        }
    }

    let shown = common::within_10s(|| {
        let m = Mutex::new(());
        let c = Condition::new();
        let mut waiter = Task::new(async {
            let _g = c.wait(m.lock().await).await;
        });
        waiter.pending();
        let mut writer = NotifiesAtEachWrite {
            cond: &c,
            out: String::new(),
        };
        write!(writer, "{c:?}").unwrap();
        waiter.ready(); // notified by the writer
        assert_eq!(format!("{c:?}"), "Condition { waiting: 0 }");
        writer.out
    });
    assert_eq!(shown, "Condition { waiting: 1 }");
}
