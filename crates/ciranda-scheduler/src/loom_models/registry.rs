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
use crate::task::raw::{self, Notified, Schedule};
use crate::task::{JoinError, JoinHandle, TaskId};
use loom::thread;
use std::future::pending;

/// Never asked to schedule: the model's tasks are only linked, cancelled and freed.
struct Unscheduled;

impl Schedule for Unscheduled {
    fn schedule(&self, _task: Notified) {
        unreachable!("the registry model never wakes a task");
    }
    fn requeue(&self, _task: Notified) {
        unreachable!("the registry model never runs a task");
    }
    fn unhandled_panic(&self, error: &JoinError) {
        panic!("no model task panics: {error}");
    }
}

/// Spawns like `Handle::spawn_with_name`: links the task into shard `hint`, or cancels it on
/// the spot when the registry refuses. The queue entry is dropped unrun.
fn spawn_into(registry: &Registry, hint: usize, drops: &DropCounter) -> (JoinHandle<()>, bool) {
    let guard = drops.guard();
    let future = async move {
        let _guard = guard;
        pending::<()>().await;
    };
    let (registered, raw::NewTask { notified, join }) =
        raw::allocate_registered(future, Unscheduled, TaskId::next(), None);
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
