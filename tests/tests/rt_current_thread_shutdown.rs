//! Shutting a current-thread scheduler down while another thread drives it through a handle.
//!
//! The work-stealing flavor's shutdown waits for its workers to finish their current poll, so
//! when dropping the scheduler returns, every task's future has been dropped. The
//! current-thread flavor has no workers, but a thread inside `Handle::block_on` runs its tasks
//! all the same: its shutdown must wait for that thread's current poll too.

#![cfg(not(loom))]

use ciranda_scheduler::{Flavor, Scheduler};
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::mpsc;
use std::time::{Duration, Instant};

struct DropCounter(Arc<AtomicUsize>);

impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// How long the task's one poll takes: the shutdown starts in the middle of it.
const LONG_POLL: Duration = Duration::from_secs(1);

/// Runs `body` on a thread of its own and fails (instead of hanging) if it takes longer than
/// a generous bound.
fn within_a_minute<T: Send + 'static>(body: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(body());
    });
    rx.recv_timeout(Duration::from_secs(60))
        .expect("watchdog: the test hung (or panicked; see its output)")
}

/// A scheduler whose only task is polled, at length, by another thread driving it through a
/// handle; `shut_down` is called once that poll has begun. Returns how many of the task's
/// futures had been dropped when `shut_down` returned, and how long it took.
fn shut_down_during_a_poll_elsewhere(shut_down: fn(Scheduler)) -> (usize, Duration) {
    let sched = Scheduler::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap();
    let dropped = Arc::new(AtomicUsize::new(0));
    let (in_poll_tx, in_poll_rx) = mpsc::channel();
    let guard = DropCounter(dropped.clone());
    let task = sched.spawn(async move {
        let _guard = guard;
        in_poll_tx.send(()).unwrap();
        std::thread::sleep(LONG_POLL); // blocking work inside a poll, on the driving thread
        pending::<()>().await;
    });
    let handle = sched.handle();
    let driver = std::thread::spawn(move || handle.block_on(task));
    in_poll_rx.recv_timeout(Duration::from_secs(30)).unwrap();
    let started = Instant::now();
    shut_down(sched);
    let took = started.elapsed();
    let dropped_at_return = dropped.load(SeqCst);
    let joined = driver.join().unwrap();
    assert!(joined.unwrap_err().is_cancelled());
    assert_eq!(
        dropped.load(SeqCst),
        1,
        "the future is dropped once in the end"
    );
    (dropped_at_return, took)
}

/// Dropping the scheduler returned while the driving thread was still inside the task's poll,
/// so that task's future (and whatever it held: a socket, a file lock, a listener's port) was
/// dropped afterwards on the driving thread, with no bound. It waits for the poll, as for a
/// worker's.
#[test]
fn dropping_waits_for_the_poll_of_a_thread_driving_through_a_handle() {
    let (dropped, took) = within_a_minute(|| shut_down_during_a_poll_elsewhere(drop));
    assert_eq!(
        dropped, 1,
        "drop returned after {took:?} with the future alive"
    );
}

/// `shutdown_timeout` waits for it too, up to its timeout.
#[test]
fn shutdown_timeout_waits_for_the_poll_of_a_thread_driving_through_a_handle() {
    let (dropped, took) = within_a_minute(|| {
        shut_down_during_a_poll_elsewhere(|sched| sched.shutdown_timeout(Duration::from_secs(30)))
    });
    assert_eq!(
        dropped, 1,
        "shutdown_timeout returned after {took:?} with the future alive"
    );
}

/// ... and no longer: a poll that outlasts the timeout is left to finish on its thread, which
/// then drops the future.
#[test]
fn shutdown_timeout_does_not_wait_past_its_timeout_for_a_driving_thread() {
    let (_, took) = within_a_minute(|| {
        shut_down_during_a_poll_elsewhere(|sched| sched.shutdown_timeout(Duration::from_millis(10)))
    });
    assert!(took < LONG_POLL, "shutdown_timeout(10 ms) took {took:?}");
}

/// A task that drops its own scheduler shuts it down from the driving thread: that thread
/// holds the driver role until the shutdown returns, so the shutdown must not wait for it.
#[test]
fn a_task_dropping_its_own_scheduler_does_not_wait_for_itself() {
    within_a_minute(|| {
        let sched = Scheduler::builder()
            .flavor(Flavor::CurrentThread)
            .build()
            .unwrap();
        let handle = sched.handle();
        let owner = Arc::new(std::sync::Mutex::new(Some(sched)));
        let dropped = Arc::new(AtomicUsize::new(0));
        let guard = DropCounter(dropped.clone());
        let sibling = handle.spawn(async move {
            let _guard = guard;
            pending::<()>().await;
        });
        let task = handle.spawn(async move {
            let sched = owner.lock().unwrap().take();
            drop(sched);
        });
        // This thread drives (it does not own the scheduler: the task does). The task may
        // count as finished or as cancelled by the shutdown it made: either way it is over.
        let _ = handle.block_on(task);
        assert_eq!(dropped.load(SeqCst), 1);
        assert!(sibling.is_finished());
    });
}

/// What that means for a server: a listener held by a task of a current-thread runtime that
/// another thread drives is closed by the time dropping the runtime returns, so its port can
/// be bound again at once (the task was inside a poll, doing some blocking work, when the
/// runtime was dropped; the listener used to stay open until that poll ended).
#[test]
fn a_listener_held_by_a_task_is_closed_when_dropping_the_runtime_returns() {
    within_a_minute(|| {
        let rt = ciranda::Runtime::builder()
            .flavor(Flavor::CurrentThread)
            .build()
            .unwrap();
        let (addr_tx, addr_rx) = mpsc::channel();
        let server = rt.spawn(async move {
            let listener = ciranda::net::TcpListener::bind("127.0.0.1:0")
                .await
                .unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                std::thread::sleep(Duration::from_millis(50)); // work inside each poll
                ciranda::task::yield_now().await;
            }
        });
        let handle = rt.handle();
        let driver = std::thread::spawn(move || handle.block_on(server));
        let addr = addr_rx.recv_timeout(Duration::from_secs(30)).unwrap();
        std::thread::sleep(Duration::from_millis(20)); // inside one of those polls, most likely
        drop(rt);
        std::net::TcpListener::bind(addr).expect("the port is free once drop(rt) returned");
        assert!(driver.join().unwrap().unwrap_err().is_cancelled());
    });
}
