//! Per-task timing for the task dump (`TaskInfo::busy_duration` / `idle_duration`), on only
//! when asked for (`Builder::task_timing(true)`, or a `slow_poll_threshold`, which times
//! every poll anyway).
//!
//! Off by default because it costs two clock reads and a lock per poll; the task header
//! stays free of it (a table beside the tasks, keyed by id, instead of 16 bytes more in every
//! task). Entries are made at spawn and removed when the worker sees the task complete.

use crate::loom::Mutex;
use crate::task::TaskId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

const SHARDS: usize = 16;

/// What the table keeps per live task.
#[derive(Clone, Copy)]
struct Times {
    busy: Duration,
    /// When the last poll ended (the spawn, before the first poll).
    last_end: Instant,
}

/// One lock per shard, each on its own cache line, so workers timing different tasks
/// rarely meet.
#[repr(align(128))]
struct Shard(Mutex<HashMap<TaskId, Times>>);

pub(crate) struct TaskTimes {
    shards: Box<[Shard]>,
}

impl TaskTimes {
    pub(crate) fn new() -> TaskTimes {
        TaskTimes {
            shards: (0..SHARDS)
                .map(|_| Shard(Mutex::new(HashMap::new())))
                .collect(),
        }
    }

    fn shard(&self, id: TaskId) -> &Mutex<HashMap<TaskId, Times>> {
        &self.shards[(id.as_u64() as usize) % SHARDS].0
    }

    /// A task was spawned now.
    pub(crate) fn spawned(&self, id: TaskId) {
        self.shard(id).lock().insert(
            id,
            Times {
                busy: Duration::ZERO,
                last_end: Instant::now(),
            },
        );
    }

    /// A poll of `id` ran from `started` for `took`; a completed task is forgotten.
    pub(crate) fn polled(&self, id: TaskId, started: Instant, took: Duration, completed: bool) {
        let mut shard = self.shard(id).lock();
        if completed {
            shard.remove(&id);
            return;
        }
        let times = shard.entry(id).or_insert(Times {
            busy: Duration::ZERO,
            last_end: started,
        });
        times.busy += took;
        times.last_end = started + took;
    }

    /// `(busy, idle)` of a live task, idle counted up to `now`.
    pub(crate) fn get(&self, id: TaskId, now: Instant) -> Option<(Duration, Duration)> {
        let times = *self.shard(id).lock().get(&id)?;
        Some((times.busy, now.saturating_duration_since(times.last_end)))
    }
}
