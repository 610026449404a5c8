//! A failed notification: the hook's `unpark` of the worker a notifier chose panicked (user
//! code). The notifier gives that worker back (`Idle::unpark_failed`, from
//! `Shared::notify_parked`'s guard), racing the worker's own return from `park`.

use super::block_on;
use super::park::{Turning, runtime};

/// A later spawn must still reach the worker: without the give-back the chosen worker stays
/// counted searching while it sleeps, the later notifier wakes nobody, and loom reports the
/// deadlock. Either way the worker ends counted once and listed nowhere.
#[test]
fn a_failed_unpark_gives_the_worker_back() {
    loom::model(|| {
        let (handle, workers) = runtime(1);
        let turning = Turning::start(&handle, workers);
        let idle = &handle.shared.idle;
        if let Some(chosen) = idle.worker_to_notify() {
            // The hook's `unpark(chosen)` would run here, and it panicked.
            idle.unpark_failed(chosen);
        }
        assert_eq!(block_on(handle.spawn(async { 7 })).unwrap(), 7);
        turning.stop();
        let (searching, unparked, sleepers) = idle.counts_for_model();
        assert_eq!(unparked, 1, "the worker is counted unparked");
        assert_eq!(sleepers, 0, "the worker is left on no sleeper list");
        assert!(searching <= 1);
        handle.shared.registry.drain();
    });
}
