//! A second review of the scheduler's runtime surface: each test here failed before the fix
//! named beside it.

#![cfg(not(loom))]

use ciranda_scheduler::{Flavor, Scheduler};

fn current_thread() -> Scheduler {
    Scheduler::builder()
        .flavor(Flavor::CurrentThread)
        .build()
        .unwrap()
}

/// On the current-thread flavor, tasks spawned or woken from outside the driver wait in the
/// flavor's remote queue, not in the injector: `global_queue_depth` read the injector only,
/// so it said 0 with a backlog waiting for the next `block_on`.
#[test]
fn current_thread_global_queue_depth_counts_tasks_waiting_for_the_driver() {
    let sched = current_thread();
    // Spawned between `block_on` calls: they wait for the next one.
    let queued: Vec<_> = (0..3).map(|_| sched.spawn(async {})).collect();
    assert_eq!(sched.handle().metrics().global_queue_depth(), 3);
    // Spawned from another thread: the same queue.
    let handle = sched.handle();
    let more =
        std::thread::spawn(move || (0..2).map(|_| handle.spawn(async {})).collect::<Vec<_>>())
            .join()
            .unwrap();
    assert_eq!(sched.handle().metrics().global_queue_depth(), 5);
    for h in queued.into_iter().chain(more) {
        sched.block_on(h).unwrap();
    }
    assert_eq!(sched.handle().metrics().global_queue_depth(), 0);
}
