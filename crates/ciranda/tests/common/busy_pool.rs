//! A runtime whose blocking pool cannot take a job at once, for tests of what happens to
//! queued jobs (a shutdown drops them unrun).

use std::time::Duration;

/// A runtime with one worker and one blocking thread, that thread held for `hold` by a
/// blocking call that has started when this returns: jobs spawned meanwhile stay queued.
pub fn runtime_with_busy_blocking_pool(hold: Duration) -> ciranda::Runtime {
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .max_blocking_threads(1)
        .build()
        .unwrap();
    let (started_tx, started_rx) = std::sync::mpsc::channel();
    drop(rt.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        std::thread::sleep(hold);
    }));
    started_rx.recv().unwrap();
    rt
}
