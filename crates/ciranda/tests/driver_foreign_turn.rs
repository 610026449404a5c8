#![cfg(not(loom))]
//! The parking hook and turns of the reactor that none of its parked workers takes.
//!
//! A worker that finds the poller held lists itself for a hand-off and sleeps on its condvar.
//! A parked worker in the poller hands it over when it leaves with work (or comes back to it),
//! but any other thread in the poller leaves without looking at that list: a busy worker's
//! zero-timeout turn, or a thread outside the scheduler that turns the runtime's reactor, such
//! as `ciranda_reactor::block_on` on a thread where the runtime is entered (a plain thread after
//! `Handle::enter`, a blocking call). The sleeping worker must still take the poller over when
//! that turn ends.

use ciranda::Runtime;
use ciranda_reactor::Reactor;
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Spins (never yields) until some thread is inside a turn of the current reactor, or gives
/// up after 10 s; `true` if it saw one.
async fn wait_for_a_turn_elsewhere() -> bool {
    let reactor = Reactor::current();
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if reactor.is_turning() {
            return true;
        }
        std::hint::spin_loop();
    }
    false
}

/// One worker; a task sleeps 700 ms. A plain thread enters the runtime and runs
/// `ciranda_reactor::block_on` on a 300 ms sleep: it holds the poller for that time, while the
/// worker, kept busy until that turn has begun, goes idle and finds the poller taken. Once the
/// plain thread has left, the worker must drive the reactor again: the task's sleep fires.
#[test]
fn a_worker_that_found_the_poller_held_by_another_thread_drives_it_after_that_turn() {
    for round in 0..3 {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        let (done_tx, done_rx) = mpsc::channel();
        rt.spawn(async move {
            ciranda::time::sleep(Duration::from_millis(700)).await;
            let _ = done_tx.send(());
        });
        let busy = rt.spawn(wait_for_a_turn_elsewhere());
        let handle = rt.handle();
        let outside = std::thread::spawn(move || {
            let _entered = handle.enter();
            ciranda_reactor::block_on(ciranda::time::sleep(Duration::from_millis(300)));
        });
        assert!(
            rt.block_on(busy).unwrap(),
            "round {round}: the plain thread never took a turn"
        );
        outside.join().unwrap();
        assert!(
            done_rx.recv_timeout(Duration::from_secs(10)).is_ok(),
            "round {round}: the sleep never fired: the worker sleeps beside a free poller"
        );
    }
}

/// The current-thread flavor: its driver, busy with the `block_on` future until the plain
/// thread's turn has begun, then waits for a timer, finds the poller taken, and must drive
/// the reactor again once the plain thread has left.
#[test]
fn the_current_thread_driver_drives_again_after_another_threads_turn() {
    let (done_tx, done_rx) = mpsc::channel();
    // On a thread of its own: on failure the driver sleeps for good.
    std::thread::spawn(move || {
        let rt = Runtime::builder()
            .flavor(ciranda::Flavor::CurrentThread)
            .build()
            .unwrap();
        let handle = rt.handle();
        let outcome = rt.block_on(async move {
            let outside = std::thread::spawn(move || {
                let _entered = handle.enter();
                ciranda_reactor::block_on(ciranda::time::sleep(Duration::from_millis(300)));
            });
            let saw_turn = wait_for_a_turn_elsewhere().await;
            ciranda::time::sleep(Duration::from_millis(700)).await;
            outside.join().unwrap();
            saw_turn
        });
        let _ = done_tx.send(outcome);
    });
    match done_rx.recv_timeout(Duration::from_secs(10)) {
        Ok(saw_turn) => assert!(saw_turn, "the plain thread never took a turn"),
        Err(_) => panic!("the sleep never fired: the driver sleeps beside a free poller"),
    }
}

/// Two workers and many short turns of a plain thread, each of which a worker going idle may
/// find in progress; the runtime's task needs its timers for a while after the plain thread
/// has left.
#[test]
fn timers_keep_firing_while_a_plain_thread_takes_many_short_turns() {
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let handle = rt.handle();
    let outside = std::thread::spawn(move || {
        let _entered = handle.enter();
        for _ in 0..100 {
            ciranda_reactor::block_on(ciranda::time::sleep(Duration::from_micros(500)));
        }
    });
    let (done_tx, done_rx) = mpsc::channel();
    rt.spawn(async move {
        for _ in 0..50 {
            ciranda::time::sleep(Duration::from_millis(2)).await;
        }
        let _ = done_tx.send(());
    });
    outside.join().unwrap();
    assert!(
        done_rx.recv_timeout(Duration::from_secs(20)).is_ok(),
        "the runtime's timers stopped after the plain thread's turns"
    );
}
