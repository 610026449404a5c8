#![cfg(not(loom))]
//! A worker that leaves the reactor's poller to run a task it was woken for hands the poller
//! to an idle worker, so a task that then holds it (never yields) does not stop timers and
//! I/O. Since issue 21 the scheduler's last searcher wakes another worker only when more
//! tasks are queued, so nothing else would get an idle worker back into the poller.

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
