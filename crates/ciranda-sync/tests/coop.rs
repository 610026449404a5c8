//! The coop budget: leaf futures yield when it is spent, and wake themselves.
#![cfg(not(loom))]

mod common;

use ciranda_sync::{Event, Mutex, Queue, Semaphore, mpsc, oneshot};
use common::Task;

/// Runs `f` under a budget of `n` operations (the scheduler opens one of `ciranda_coop::BUDGET`
/// around every task poll).
fn with_budget<R>(n: u8, f: impl FnOnce() -> R) -> R {
    ciranda_coop::with_budget(n, f)
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
        with_budget(5, || t.ready());
        assert_eq!(*m.try_lock().unwrap(), 3);
    });
}

/// Operations that wait complete nothing and spend no budget: a task that polls more pending
/// operations than its budget in one poll (a `select` over many channels) must not have the
/// later ones refused, which would wake it at once and make it spin instead of sleeping.
#[test]
fn pending_operations_spend_no_budget() {
    use ciranda_sync::{Barrier, Condition, Notify, Promise};
    use std::future::Future;
    use std::pin::Pin;
    use std::task::{Context, Waker};

    let m = Mutex::new(0);
    let held = m.try_lock().unwrap();
    let sem = Semaphore::new(0);
    let ev = Event::new();
    let q = Queue::<u8>::new(1);
    let full = Queue::new(1);
    full.try_put(0u8).unwrap();
    q.try_put(0).unwrap();
    let (_tx, mut rx) = mpsc::unbounded_channel::<u8>();
    let (btx, mut brx) = mpsc::channel::<u8>(1);
    btx.try_send(0).unwrap();
    let (_otx, orx) = oneshot::channel::<u8>();
    let notify = Notify::new();
    let promise = Promise::<u8>::new();
    let barrier = Barrier::new(2);
    let cond = Condition::new();
    let cond_lock = Mutex::new(());
    let cond_guard = cond_lock.try_lock().unwrap();
    let taken = q.try_get().unwrap();
    assert_eq!(taken, 0);

    let mut futures: Vec<Pin<Box<dyn Future<Output = ()> + '_>>> = vec![
        Box::pin(async {
            let _ = m.lock().await;
        }),
        Box::pin(async {
            let _ = sem.acquire().await;
        }),
        Box::pin(ev.wait()),
        Box::pin(async {
            let _ = q.get().await;
        }),
        Box::pin(full.put(1)),
        Box::pin(async {
            let _ = rx.recv().await;
        }),
        Box::pin(async {
            let _ = btx.send(1).await;
        }),
        Box::pin(async {
            let _ = orx.await;
        }),
        Box::pin(notify.notified()),
        Box::pin(async {
            let _ = promise.wait().await;
        }),
        Box::pin(async {
            let _ = barrier.wait().await;
        }),
        Box::pin(async {
            let _ = cond.wait(cond_guard).await;
        }),
    ];
    let mut cx = Context::from_waker(Waker::noop());
    // Twice: the first poll of each queues it, the second finds it queued.
    for round in 0..2 {
        with_budget(1, || {
            for (i, f) in futures.iter_mut().enumerate() {
                assert!(
                    f.as_mut().poll(&mut cx).is_pending(),
                    "future {i} completed"
                );
                assert_eq!(
                    ciranda_coop::remaining(),
                    Some(1),
                    "round {round}: pending future {i} spent the budget"
                );
            }
        });
    }
    drop(futures);
    drop(held);
    // The receiver of the bounded channel is still usable: nothing was lost.
    assert_eq!(brx.try_recv(), Ok(0));
}

/// `oneshot::Sender::closed` is a leaf future like the others: once the receiver is gone it is
/// always ready, so a loop over it must still yield when the budget is spent (it did not: it
/// returned `Ready` with no budget check, and a task looping over it kept its worker).
#[test]
fn a_ready_oneshot_closed_yields_when_the_budget_is_spent() {
    let (mut tx, rx) = oneshot::channel::<u8>();
    drop(rx);
    with_budget(0, || {
        let mut closed = Task::new(tx.closed());
        closed.pending();
        assert!(closed.is_woken(), "a yielding future must wake itself");
    });
    with_budget(2, || {
        let mut closed = Task::new(tx.closed());
        closed.ready();
        assert_eq!(
            ciranda_coop::remaining(),
            Some(1),
            "a completed closed() spends a unit"
        );
    });
    // Waiting spends nothing.
    let (mut tx, _rx) = oneshot::channel::<u8>();
    with_budget(1, || {
        Task::new(tx.closed()).pending();
        assert_eq!(ciranda_coop::remaining(), Some(1));
    });
}

/// What the budget is for: on a current-thread runtime, a task that loops over an already
/// completed `closed()` until another task sets a flag must let that task run. Without the
/// budget check it never yielded and the runtime hung (caught by the watchdog).
#[test]
fn a_loop_over_a_completed_oneshot_closed_lets_other_tasks_run() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = ciranda::Runtime::builder()
            .flavor(ciranda::Flavor::CurrentThread)
            .build()
            .expect("a runtime");
        rt.block_on(async {
            let (mut tx, rx) = oneshot::channel::<u8>();
            drop(rx);
            let stop = Arc::new(AtomicBool::new(false));
            let setter = ciranda::spawn({
                let stop = stop.clone();
                async move { stop.store(true, Ordering::SeqCst) }
            });
            let mut rounds = 0u64;
            while !stop.load(Ordering::SeqCst) {
                tx.closed().await;
                rounds += 1;
            }
            setter.await.expect("the setter ran");
            assert!(rounds >= 1);
        });
        let _ = done_tx.send(());
    });
    done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("watchdog: the loop over closed() never let the other task run");
}
