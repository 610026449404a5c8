//! Bad input to the sync primitives: every constructor and operation with an invalid value
//! panics with a message naming the problem (where `new` is documented to panic) or returns
//! an `Err` that says why (`try_new`, `try_*`, closed channels), and every error type is a
//! `std::error::Error` with a readable `Display`.
//!
//! | input | documented outcome |
//! |---|---|
//! | `Semaphore::new(MAX_PERMITS + 1)` | panic naming `MAX_PERMITS` |
//! | `Semaphore::try_new(MAX_PERMITS + 1)` | `Err(TooManyPermitsError)` |
//! | `add_permits` beyond `MAX_PERMITS` | panic naming `MAX_PERMITS` |
//! | `acquire_many(MAX_PERMITS + 1)` | panic naming `MAX_PERMITS` |
//! | `try_acquire_many(MAX_PERMITS + 1)` | `Err(NoPermits)` |
//! | `acquire` on a closed semaphore | `Err(AcquireError)` |
//! | `Barrier::new(0)` / `Barrier::try_new(0)` | panic / `Err(ZeroPartiesError)` |
//! | `mpsc::channel(0)` / `channel(MAX_PERMITS + 1)` | panic naming the capacity |
//! | `send` / `try_send` on a closed channel | `Err` giving the value back |
//! | `oneshot` send without receiver / receive without sender | `Err(value)` / `Err(RecvError)` |
//! | `Queue::task_done` more often than items taken | panic naming the misuse |
//! | `try_put` on a full queue, `try_get` on an empty one | `Err` (value given back) |
//! | `try_lock` / `try_read` / `try_write` when taken | `Err` saying "would block" |
//! | `Promise::set` twice | `Err(value)` |
//! | `Queue::new(0)`, `Semaphore::new(0)`, `Notify`/`Event`/`Condition::new()` | valid |

use ciranda::sync::{
    Barrier, Mutex, Promise, Queue, RwLock, Semaphore, TryAcquireError, mpsc, oneshot,
};
use futures_util::FutureExt;

fn panic_message(f: impl FnOnce() + std::panic::UnwindSafe) -> String {
    let payload = std::panic::catch_unwind(f).expect_err("expected a panic");
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

fn std_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> String {
    let display = e.to_string();
    assert!(!display.is_empty());
    assert!(!format!("{e:?}").is_empty());
    display
}

#[test]
fn semaphore_limits() {
    let max = Semaphore::MAX_PERMITS;
    let m = panic_message(|| drop(Semaphore::new(max + 1)));
    assert!(m.contains("MAX_PERMITS"), "{m}");
    let e = Semaphore::try_new(max + 1).unwrap_err();
    assert!(std_error(e).contains("MAX_PERMITS"));
    assert!(Semaphore::try_new(max).is_ok());
    assert_eq!(Semaphore::new(0).available_permits(), 0);

    let sem = Semaphore::new(max);
    let m = panic_message(std::panic::AssertUnwindSafe(|| sem.add_permits(1)));
    assert!(m.contains("MAX_PERMITS"), "{m}");
    assert_eq!(
        sem.available_permits(),
        max,
        "the failed add changed nothing"
    );
    let m = panic_message(|| Semaphore::new(0).add_permits(usize::MAX));
    assert!(m.contains("MAX_PERMITS"), "{m}");

    let sem = Semaphore::new(1);
    let m = panic_message(std::panic::AssertUnwindSafe(|| {
        let _ = sem.acquire_many(max + 1).now_or_never();
    }));
    assert!(m.contains("MAX_PERMITS"), "{m}");
    assert_eq!(
        sem.try_acquire_many(max + 1).unwrap_err(),
        TryAcquireError::NoPermits
    );
    assert_eq!(sem.available_permits(), 1);
    // Zero permits is a valid request.
    assert_eq!(sem.try_acquire_many(0).unwrap().num_permits(), 0);

    sem.close();
    let e = sem.acquire().now_or_never().unwrap().unwrap_err();
    assert_eq!(std_error(e), "semaphore closed");
    assert_eq!(
        std_error(sem.try_acquire().unwrap_err()),
        "semaphore closed"
    );
}

#[test]
fn barrier_with_zero_parties() {
    let m = panic_message(|| drop(Barrier::new(0)));
    assert!(m.contains("Barrier::new"), "{m}");
    assert!(!std_error(Barrier::try_new(0).unwrap_err()).is_empty());
    let one = Barrier::new(1);
    assert!(one.wait().now_or_never().unwrap().is_leader());
}

#[test]
fn channel_capacities_and_closed_channels() {
    let m = panic_message(|| drop(mpsc::channel::<u8>(0)));
    assert!(m.contains("capacity"), "{m}");
    let m = panic_message(|| drop(mpsc::channel::<u8>(Semaphore::MAX_PERMITS + 1)));
    assert!(m.contains("MAX_PERMITS"), "{m}");

    let (tx, rx) = mpsc::channel::<String>(1);
    drop(rx);
    let e = tx.send("kept".into()).now_or_never().unwrap().unwrap_err();
    assert_eq!(e.0, "kept", "the value comes back");
    assert!(!std_error(e).is_empty());
    match tx.try_send("again".into()) {
        Err(mpsc::TrySendError::Closed(v)) => assert_eq!(v, "again"),
        other => panic!("{other:?}"),
    }
    let (tx, mut rx) = mpsc::channel::<u8>(1);
    tx.try_send(1).unwrap();
    let full = tx.try_send(2).unwrap_err();
    assert!(std_error(full).contains("full"));
    assert_eq!(rx.try_recv(), Ok(1));
    assert!(std_error(rx.try_recv().unwrap_err()).contains("empty"));

    let (utx, urx) = mpsc::unbounded_channel::<u8>();
    drop(urx);
    assert_eq!(utx.send(3).unwrap_err().0, 3);

    let (otx, orx) = oneshot::channel::<u8>();
    drop(orx);
    assert_eq!(otx.send(4), Err(4));
    let (otx, orx) = oneshot::channel::<u8>();
    drop(otx);
    let e = orx.now_or_never().unwrap().unwrap_err();
    assert!(!std_error(e).is_empty());
}

#[test]
fn queue_misuse() {
    let q = Queue::<u8>::new(1);
    q.try_put(1).unwrap();
    let e = q.try_put(2).unwrap_err();
    assert_eq!(e.0, 2, "the value comes back");
    assert!(!std_error(e).is_empty());
    assert_eq!(q.try_get().unwrap(), 1);
    q.task_done();
    assert!(!std_error(q.try_get().unwrap_err()).is_empty());
    let m = panic_message(std::panic::AssertUnwindSafe(|| q.task_done()));
    assert!(m.contains("task_done"), "{m}");
    // Still consistent after the refused call.
    assert!(q.join().now_or_never().is_some());
    let unbounded = Queue::<u8>::new(0);
    for i in 0..1000 {
        unbounded.try_put(i as u8).unwrap();
    }
    assert_eq!(unbounded.len(), 1000);
}

#[test]
fn try_locks_say_why() {
    let m = Mutex::new(0);
    let g = m.try_lock().unwrap();
    assert!(!std_error(m.try_lock().unwrap_err()).is_empty());
    drop(g);
    let rw = RwLock::new(0);
    let r = rw.try_read().unwrap();
    assert!(rw.try_write().is_err());
    drop(r);
    let w = rw.try_write().unwrap();
    assert!(rw.try_read().is_err());
    drop(w);
    let p = Promise::new();
    p.set(1).unwrap();
    assert_eq!(p.set(2), Err(2));
    assert_eq!(p.wait().now_or_never(), Some(1));
}
