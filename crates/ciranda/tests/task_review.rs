//! Task combinators at their edges: a group spawner used where it cannot spawn, spawners
//! racing the drop of their group, and where `as_completed` and a gather built outside a
//! runtime say their children were spawned.

use ciranda::task::TaskGroup;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A spawner used on a plain thread panics there ("outside a runtime", as documented), and
/// no member came of it: the group must carry on as if the call had not been made. The spawn
/// used to take its member's index before it failed, so `join` later found a hole in the
/// outputs and panicked itself ("every member succeeded"), losing the group's results.
#[ciranda::test]
async fn a_spawner_that_panicked_outside_a_runtime_leaves_the_group_whole() {
    let mut group = TaskGroup::<u32, String>::new();
    group.spawn(async { Ok(1) });
    let spawner = group.spawner();
    let outside = std::thread::spawn(move || spawner.spawn(async { Ok(2) }).map(drop))
        .join()
        .expect_err("spawning outside a runtime panics");
    let message = panic_text(&*outside);
    assert!(message.contains("outside a runtime"), "{message}");
    group.spawn(async { Ok(3) });
    let members = group.len();
    assert_eq!(group.join().await.unwrap(), vec![1, 3]);
    assert_eq!(members, 2, "the spawn that panicked is no member");
}

/// A multi-thread runtime with two workers, whatever `CIRANDA_FLAVOR` says: the race below
/// needs a spawner on a worker while another thread drops the group.
fn two_workers() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::MultiThread)
        .worker_threads(2)
        .build()
        .unwrap()
}

/// Counts the member futures alive: made with one, dropped with it (run, cancelled or given
/// back by a refused spawn).
struct Alive(Arc<AtomicUsize>);

impl Alive {
    fn new(count: &Arc<AtomicUsize>) -> Alive {
        count.fetch_add(1, SeqCst);
        Alive(count.clone())
    }
}

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.fetch_sub(1, SeqCst);
    }
}

/// Dropping a group cancels every member, also one a spawner on another thread adds at that
/// very moment: the spawner either is refused or has its member cancelled. The set closed to
/// spawners only after it had aborted what they had added, so a member added in between was
/// neither aborted nor refused: it ran on after its group was gone (here, for ever). Many
/// members wait to be aborted, so the drop holds the set's list long enough for the feeder's
/// next insertion to queue on its lock (and, by the lock's fairness, be handed it the moment
/// the aborts are done, in that very gap). The old code lost a member in about one round in
/// twenty, so fifty rounds catch it in most runs.
#[test]
fn a_member_added_while_the_group_is_dropped_is_cancelled() {
    const WAITING: usize = 10_000;
    let rt = two_workers();
    for _ in 0..50 {
        rt.block_on(async {
            let alive = Arc::new(AtomicUsize::new(0));
            let feeding = Arc::new(AtomicBool::new(false));
            let group = TaskGroup::<(), ()>::new();
            let spawner = group.spawner();
            let member = |alive: &Arc<AtomicUsize>| {
                let alive = Alive::new(alive);
                async move {
                    let _alive = alive;
                    pending::<Result<(), ()>>().await
                }
            };
            for _ in 0..WAITING {
                spawner.spawn(member(&alive)).unwrap();
            }
            let feeder = {
                let (alive, feeding) = (alive.clone(), feeding.clone());
                ciranda::spawn(async move {
                    while spawner.spawn(member(&alive)).is_ok() {
                        feeding.store(true, SeqCst);
                    }
                })
            };
            // This thread is no worker: it drops the group while the feeder adds members.
            while !feeding.load(SeqCst) {
                std::thread::yield_now();
            }
            drop(group);
            feeder.await.unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            while alive.load(SeqCst) > 0 {
                assert!(
                    Instant::now() < deadline,
                    "{} member(s) still running after their group was dropped",
                    alive.load(SeqCst)
                );
                ciranda::task::yield_now().await;
            }
        });
    }
}

/// A member whose spawn is under way while its group is dropped never runs: its task may
/// exist before the spawner's insertion finds the set closed and aborts it, and a worker that
/// reached it in between used to poll it once, since its start check looked at "a member
/// failed", not at "the group is closed".
///
/// The runtime's only worker is kept busy (by a task that waits for `release`) while plain
/// threads feed the group through spawners and the group is dropped; the worker is released
/// only after that. Every start check of this round's members therefore comes after the group
/// was closed, so with the fix no member's future is ever polled, whatever the timing: any
/// poll is the defect. The old code polled one in about one round in four (a feeder between
/// its spawn and its insertion when the worker came back), so 200 rounds catch it in every run.
#[test]
fn a_member_whose_spawn_is_under_way_while_the_group_is_dropped_never_runs() {
    const FEEDERS: usize = 3;
    let rt = ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::MultiThread)
        .worker_threads(1)
        .build()
        .unwrap();
    // Spins until `done`, failing the test after a generous bound instead of hanging.
    let wait_until = |done: &dyn Fn() -> bool, what: &str| {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done() {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::yield_now();
        }
    };
    let polled = Arc::new(AtomicUsize::new(0));
    for round in 0..200 {
        let alive = Arc::new(AtomicUsize::new(0));
        let (busy, release) = (
            Arc::new(AtomicBool::new(false)),
            Arc::new(AtomicBool::new(false)),
        );
        {
            let (busy, release) = (busy.clone(), release.clone());
            // Blocks the worker on purpose: no member can be polled until `release`.
            rt.spawn(async move {
                busy.store(true, SeqCst);
                while !release.load(SeqCst) {
                    std::thread::yield_now();
                }
            });
        }
        wait_until(&|| busy.load(SeqCst), "the worker is busy");
        let group = TaskGroup::<(), ()>::new();
        let spawned = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|scope| {
            for _ in 0..FEEDERS {
                let spawner = group.spawner();
                let (alive, polled, spawned) = (alive.clone(), polled.clone(), spawned.clone());
                let rt = &rt;
                scope.spawn(move || {
                    let _runtime = rt.enter();
                    loop {
                        let (alive, polled) = (Alive::new(&alive), polled.clone());
                        let member = async move {
                            let _alive = alive;
                            polled.fetch_add(1, SeqCst);
                            pending::<Result<(), ()>>().await
                        };
                        if spawner.spawn(member).is_err() {
                            break; // the group is gone
                        }
                        spawned.fetch_add(1, SeqCst);
                    }
                });
            }
            wait_until(&|| spawned.load(SeqCst) >= FEEDERS, "the feeders spawn");
            drop(group);
            release.store(true, SeqCst);
        });
        wait_until(&|| alive.load(SeqCst) == 0, "every member was cancelled");
        assert_eq!(
            polled.load(SeqCst),
            0,
            "round {round}: a member ran after its group was dropped"
        );
    }
}

/// Asserts that `expected` of the current runtime's live tasks were spawned at `line` of this
/// file (the message lists the tasks).
fn assert_live_tasks_spawned_at(line: u32, expected: usize) {
    let tasks = ciranda::Handle::current().tasks();
    let count = tasks
        .iter()
        .filter(|task| {
            task.location().file().ends_with("task_review.rs") && task.location().line() == line
        })
        .count();
    assert_eq!(count, expected, "{tasks:?}");
}

/// `as_completed`'s children are spawned where it is called, as `gather`'s are: the task dump
/// (`Handle::tasks`, `Handle::dump`) showed ciranda's own source file for them instead.
#[ciranda::test]
async fn as_completed_spawns_its_children_at_the_line_that_called_it() {
    let stream = ciranda::task::as_completed((0..2).map(|_| pending::<()>()));
    let line = line!() - 1;
    assert_live_tasks_spawned_at(line, 2);
    drop(stream);
}

/// A gather built where no runtime is current spawns its children at its first poll, inside
/// the runtime, but they were still asked for at the line that built it: the task dump
/// (`Handle::tasks`, `Handle::dump`) gave ciranda's own `src/task/gather.rs` as their spawn
/// location instead, the line of the deferred spawn.
#[test]
fn a_gather_built_outside_a_runtime_shows_its_callers_line_as_its_childrens_location() {
    let mut gathering = ciranda::gather((0..2).map(|_| pending::<()>()));
    let line = line!() - 1;
    let rt = ciranda::Runtime::new().unwrap();
    rt.block_on(async {
        // One poll spawns the children, which stay pending.
        std::future::poll_fn(|cx| {
            assert!(std::pin::Pin::new(&mut gathering).poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        assert_live_tasks_spawned_at(line, 2);
        let dump = ciranda::Handle::current().dump().to_string();
        let here = format!("task_review.rs:{line} ");
        assert_eq!(dump.matches(&here).count(), 2, "{dump}");
        assert!(!dump.contains("gather.rs"), "{dump}");
    });
    drop(gathering);
}

/// A `fmt::Write` that spawns a member into the group for every piece of text it is given.
struct SpawningWriter<'a> {
    spawner: &'a ciranda::task::GroupSpawner<u32, ()>,
    spawned: u32,
}

impl std::fmt::Write for SpawningWriter<'_> {
    fn write_str(&mut self, _: &str) -> std::fmt::Result {
        self.spawned += 1;
        let value = self.spawned;
        self.spawner
            .spawn(async move { Ok(value) })
            .map_err(|_| std::fmt::Error)?;
        Ok(())
    }
}

/// A spawner's `Debug` writes into the caller's formatter, which may be any code at all,
/// including code that spawns into the same group. It used to write while holding the group's
/// lock, so such a writer deadlocked on its first spawn.
#[test]
fn a_spawners_debug_output_may_spawn_into_its_group() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = ciranda::Runtime::new().expect("runtime");
        let outcome = runtime.block_on(async {
            let group = TaskGroup::<u32, ()>::new();
            let spawner = group.spawner();
            let mut writer = SpawningWriter {
                spawner: &spawner,
                spawned: 0,
            };
            std::fmt::write(&mut writer, format_args!("{spawner:?}")).expect("every spawn works");
            let spawned = writer.spawned;
            drop(spawner);
            (spawned, group.join().await.expect("no member fails"))
        });
        let _ = done.send(outcome);
    });
    let (spawned, mut outputs) = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("formatting a GroupSpawner into a writer that spawns into its group deadlocked");
    assert!(spawned > 0, "the writer was called");
    outputs.sort_unstable();
    assert_eq!(outputs, (1..=spawned).collect::<Vec<_>>());
}
