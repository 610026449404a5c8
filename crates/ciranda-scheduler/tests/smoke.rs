//! Smoke test: spawn and join.
#![cfg(not(loom))]
use ciranda_scheduler::Scheduler;

#[test]
fn spawn_and_join() {
    let sched = Scheduler::builder().worker_threads(2).build().unwrap();
    let h = sched.spawn(async { 40 + 2 });
    assert_eq!(sched.block_on(h).unwrap(), 42);
}
