//! The registry's shutdown close: closing looks atomic across shards to a spawner.
//!
//! A spawner that observes one of its tasks cancelled by the shutdown drain must have its
//! next spawn refused at once, whichever shard that spawn lands in. The drain closes the
//! shards one after the other, so without the registry's `closing` flag loom finds the
//! interleaving where shard 0 is drained (cancelling the spawner's first task) while shard 1
//! still accepts the second one.

use super::DropCounter;
use crate::loom::Arc;
use crate::registry::Registry;
use crate::task::raw::{self, Notified, Schedule, TaskRef};
use crate::task::{JoinError, JoinHandle, TaskId};
use loom::thread;
use std::future::pending;

/// Never asked to schedule: the model's tasks are only linked, cancelled and freed.
struct Unscheduled;

impl Schedule for Unscheduled {
    unsafe fn schedule(_this: *const Self, _task: Notified) {
        unreachable!("the registry model never wakes a task");
    }
    unsafe fn requeue(_this: *const Self, _task: Notified) {
        unreachable!("the registry model never runs a task");
    }
    fn unhandled_panic(&self, error: &JoinError) {
        panic!("no model task panics: {error}");
    }
}

/// A task whose future waits forever and counts its drop: the registry's reference, the
/// first queue entry's and the `JoinHandle`.
fn new_task(drops: &DropCounter) -> (TaskRef, Notified, JoinHandle<()>) {
    let guard = drops.guard();
    let future = async move {
        let _guard = guard;
        pending::<()>().await;
    };
    let (registered, raw::NewTask { notified, join }) =
        raw::allocate_registered(future, Unscheduled, TaskId::next(), None);
    (registered, notified, join)
}

/// Spawns like `Handle::spawn_with_name`: links the task into shard `hint`, or cancels it on
/// the spot when the registry refuses. The queue entry is dropped unrun.
fn spawn_into(registry: &Registry, hint: usize, drops: &DropCounter) -> (JoinHandle<()>, bool) {
    let (registered, notified, join) = new_task(drops);
    let linked = match registry.insert(registered, hint) {
        Ok(()) => true,
        Err(refused) => {
            refused.shutdown();
            drop(refused);
            false
        }
    };
    drop(notified);
    (join, linked)
}

#[test]
fn a_spawn_after_an_observed_shutdown_cancellation_is_refused_in_every_shard() {
    loom::model(|| {
        let registry = Arc::new(Registry::new(2));
        let drops = DropCounter::default();
        let spawner = {
            let (registry, drops) = (registry.clone(), drops.clone());
            thread::spawn(move || {
                let (first, _) = spawn_into(&registry, 0, &drops);
                if first.is_finished() {
                    // The drain cancelled our first task: shutdown is under way.
                    let (second, linked) = spawn_into(&registry, 1, &drops);
                    assert!(
                        !linked,
                        "a shard still linked a task after shutdown was seen"
                    );
                    assert!(
                        second.is_finished(),
                        "a refused spawn must be cancelled at once"
                    );
                }
            })
        };
        registry.drain();
        spawner.join().unwrap();
        assert_eq!(drops.made(), drops.dropped(), "every future dropped once");
    });
}

/// Links a task that has already completed (cancelled in place), as a task that finished
/// while linked looks to a walk.
fn link_completed(registry: &Registry, drops: &DropCounter) -> JoinHandle<()> {
    let (registered, notified, join) = new_task(drops);
    registered.shutdown();
    assert!(registry.insert(registered, 0).is_ok());
    drop(notified);
    join
}

#[test]
fn a_step_unlinking_the_head_races_a_push() {
    // The head is a completed task: the walk unlinks it with a CAS while a spawner pushes
    // in front of it. Either way the list must keep both live tasks and lose the finished
    // one exactly once.
    loom::model(|| {
        let registry = Arc::new(Registry::new(1));
        let drops = DropCounter::default();
        let (live_1, _) = spawn_into(&registry, 0, &drops);
        let finished = link_completed(&registry, &drops);
        let spawner = {
            let (registry, drops) = (registry.clone(), drops.clone());
            thread::spawn(move || spawn_into(&registry, 0, &drops).0)
        };
        registry.step_in(0, usize::MAX);
        let live_2 = spawner.join().unwrap();
        assert_eq!(registry.live_count(), 2, "a live task went missing");
        // The pusher's node may have hidden the finished one from that step; the next lap
        // finds it.
        registry.step_in(0, usize::MAX);
        assert_eq!(
            registry.linked_in(0),
            2,
            "the finished task is still linked"
        );
        drop((live_1, live_2, finished));
        registry.drain();
        assert_eq!(drops.made(), drops.dropped(), "every future dropped once");
    });
}

#[test]
fn a_paused_walk_resumes_after_its_kept_node_while_pushes_go_on() {
    // [finished, live, finished]: a step of one node unlinks the head and stops; the next
    // step resumes behind the kept live node while a spawner pushes at the head.
    loom::model(|| {
        let registry = Arc::new(Registry::new(1));
        let drops = DropCounter::default();
        let first = link_completed(&registry, &drops);
        let (live_1, _) = spawn_into(&registry, 0, &drops);
        let last = link_completed(&registry, &drops);
        registry.step_in(0, 2);
        let spawner = {
            let (registry, drops) = (registry.clone(), drops.clone());
            thread::spawn(move || spawn_into(&registry, 0, &drops).0)
        };
        registry.step_in(0, usize::MAX);
        let live_2 = spawner.join().unwrap();
        assert_eq!(registry.live_count(), 2, "a live task went missing");
        assert_eq!(registry.linked_in(0), 2, "a finished task is still linked");
        drop((first, live_1, last, live_2));
        registry.drain();
        assert_eq!(drops.made(), drops.dropped(), "every future dropped once");
    });
}
