#![cfg(not(loom))]
//! A worker woken out of the reactor's poller to run a task leaves the poller to an idle
//! worker, so a task that then holds it (never yields) does not stop timers and I/O. Today
//! the scheduler's last-searcher wake does that; a wake policy that drops it must hand the
//! poller off some other way (issue 21 tried one: a last searcher that wakes another worker
//! only when more tasks are queued failed this test at round 0).

use ciranda::Runtime;
use ciranda::time::sleep;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::{Duration, Instant};

#[test]
fn a_timer_fires_while_the_worker_woken_from_the_poller_runs_a_hog() {
    for round in 0..20 {
        let rt = Runtime::builder().worker_threads(2).build().unwrap();
        let fired = Arc::new(AtomicBool::new(false));
        let flag = fired.clone();
        let sleeper = rt.spawn(async move {
            sleep(Duration::from_millis(30)).await;
            flag.store(true, SeqCst);
        });
        // Both workers go idle: one waits in the poller for the sleep, the other on its
        // condition variable. (Not an assertion: any interleaving must pass.)
        std::thread::sleep(Duration::from_millis(5));
        let hog = rt.spawn(async move {
            // Never yields: spins until the timer fired elsewhere, or gives up.
            let deadline = Instant::now() + Duration::from_secs(10);
            while !fired.load(SeqCst) && Instant::now() < deadline {
                std::hint::spin_loop();
            }
            fired.load(SeqCst)
        });
        assert!(
            rt.block_on(hog).unwrap(),
            "round {round}: the sleep never fired while the hog ran"
        );
        rt.block_on(sleeper).unwrap();
    }
}
