//! `Handle::metrics()` and `Handle::dump()`: the counters move as the runtime works, and the
//! dump names each task's parent, spawn location and poll count.

#![cfg(not(loom))]

use ciranda_scheduler::{Flavor, Handle, Scheduler, task, yield_now};
use std::future::pending;
use std::sync::mpsc;
use std::time::{Duration, Instant};

fn sched(workers: usize) -> Scheduler {
    Scheduler::builder()
        .worker_threads(workers)
        .build()
        .unwrap()
}

/// Polls `cond` until it holds, for at most 30 s.
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

#[test]
fn spawned_and_alive_counts() {
    let sched = sched(2);
    let before = sched.handle().metrics().spawned_tasks_count();
    // From outside the workers, and from a task (a worker's own counter).
    let outside: Vec<_> = (0..50).map(|_| sched.spawn(pending::<()>())).collect();
    let inside = sched
        .block_on(sched.spawn(async {
            (0..30)
                .map(|_| ciranda_scheduler::spawn(pending::<()>()))
                .collect::<Vec<_>>()
        }))
        .unwrap();
    let m = sched.handle().metrics();
    assert!(m.spawned_tasks_count() >= before + 81, "{m:?}");
    assert_eq!(m.num_alive_tasks(), 80, "{m:?}");
    for h in outside.iter().chain(&inside) {
        h.abort();
    }
    for h in outside.into_iter().chain(inside) {
        assert!(sched.block_on(h).unwrap_err().is_cancelled());
    }
    assert_eq!(sched.handle().metrics().num_alive_tasks(), 0);
}

#[test]
fn a_yielding_task_adds_polls() {
    let sched = sched(1);
    let polls = |h: &Handle| h.metrics().worker_poll_count(0);
    let before = polls(&sched.handle());
    sched
        .block_on(sched.spawn(async {
            for _ in 0..100 {
                yield_now().await;
            }
        }))
        .unwrap();
    // A worker publishes its poll count when it parks (and every few dozen ticks).
    eventually("the polls are published", || {
        polls(&sched.handle()) >= before + 101
    });
}

#[test]
fn a_parked_worker_counts_its_parks_and_busy_time() {
    let sched = sched(1);
    let handle = sched.handle();
    let parks = handle.metrics().worker_park_count(0);
    for _ in 0..5 {
        // Each round wakes the idle worker for one task; it parks again afterwards.
        sched.block_on(sched.spawn(async {})).unwrap();
        eventually("the worker parks", || handle.is_idle());
    }
    eventually("park count grows", || {
        handle.metrics().worker_park_count(0) >= parks + 5
    });
    sched
        .block_on(sched.spawn(async {
            std::thread::sleep(Duration::from_millis(20));
        }))
        .unwrap();
    eventually("busy time is published at the next park", || {
        handle.metrics().worker_busy_duration(0) >= Duration::from_millis(20)
    });
}

#[test]
fn a_current_thread_driver_publishes_its_busy_time_when_block_on_returns() {
    // The driver never runs out of ready entries here (the task, then the woken `block_on`
    // future), so it never parks: its busy stretch must still count once `block_on` returns,
    // as a worker's does when it exits.
    let sched = Scheduler::builder()
        .flavor(ciranda_scheduler::Flavor::CurrentThread)
        .build()
        .unwrap();
    let spun = sched.block_on(async {
        ciranda_scheduler::spawn(async {
            let started = Instant::now();
            while started.elapsed() < Duration::from_millis(30) {
                std::hint::spin_loop();
            }
            started.elapsed()
        })
        .await
        .unwrap()
    });
    let m = sched.handle().metrics();
    assert_eq!(m.worker_poll_count(0), 1, "{m:?}");
    // The task's poll lies inside the driver's busy stretch, whatever the load.
    assert!(
        m.worker_busy_duration(0) >= spun,
        "{m:?}, the task spun {spun:?}"
    );
}

#[test]
fn queue_depths() {
    let sched = sched(1);
    let (started_tx, started_rx) = mpsc::channel();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    // Occupy the only worker, then queue tasks behind it from outside.
    let blocker = sched.spawn(async move {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let queued: Vec<_> = (0..10).map(|_| sched.spawn(async {})).collect();
    let m = sched.handle().metrics();
    // They sit in the global queue, or (once the worker takes a batch) in its local queue.
    assert_eq!(
        m.global_queue_depth() + m.worker_local_queue_depth(0),
        10,
        "{m:?}"
    );
    release_tx.send(()).unwrap();
    sched.block_on(blocker).unwrap();
    for h in queued {
        sched.block_on(h).unwrap();
    }
    let m = sched.handle().metrics();
    assert_eq!(m.global_queue_depth(), 0);
    assert_eq!(m.worker_local_queue_depth(0), 0);
}

#[test]
fn steals_are_counted() {
    let sched = sched(2);
    let handle = sched.handle();
    // A task spawns tasks onto its own worker, then blocks that worker until one of them has
    // run: the other worker can only have got it by stealing.
    sched
        .block_on(sched.spawn(async {
            let ran = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let spawned: Vec<_> = (0..64)
                .map(|_| {
                    let ran = ran.clone();
                    ciranda_scheduler::spawn(async move {
                        ran.store(true, std::sync::atomic::Ordering::SeqCst);
                    })
                })
                .collect();
            eventually("another worker runs a task", || {
                ran.load(std::sync::atomic::Ordering::SeqCst)
            });
            for h in spawned {
                h.await.unwrap();
            }
        }))
        .unwrap();
    let m = handle.metrics();
    let steals: u64 = (0..2).map(|i| m.worker_steal_count(i)).sum();
    assert!(steals >= 1, "{m:?}");
}

#[test]
fn blocking_thread_counts() {
    let sched = Scheduler::builder()
        .worker_threads(1)
        .blocking_keep_alive(Duration::from_secs(60))
        .build()
        .unwrap();
    let handle = sched.handle();
    assert_eq!(handle.metrics().blocking_threads(), 0);
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (started_tx, started_rx) = mpsc::channel();
    let busy = sched.spawn_blocking(move || {
        started_tx.send(()).unwrap();
        release_rx.recv().unwrap();
    });
    started_rx.recv().unwrap();
    let m = handle.metrics();
    assert_eq!((m.blocking_threads(), m.idle_blocking_threads()), (1, 0));
    release_tx.send(()).unwrap();
    sched.block_on(busy).unwrap();
    eventually("the blocking thread goes idle", || {
        let m = handle.metrics();
        (m.blocking_threads(), m.idle_blocking_threads()) == (1, 1)
    });
}

#[test]
#[should_panic(expected = "worker index 3 is out of range: the runtime has 2 worker(s)")]
fn a_worker_index_out_of_range_panics() {
    let sched = sched(2);
    sched.handle().metrics().worker_poll_count(3);
}

/// A `RuntimeMetrics::default()` has no workers; its panic said they were "numbered 0 to 0".
#[test]
#[should_panic(expected = "worker index 0 is out of range: these metrics have no workers")]
fn a_worker_index_of_default_metrics_panics_saying_there_are_no_workers() {
    ciranda_scheduler::RuntimeMetrics::default().worker_poll_count(0);
}

fn info(handle: &Handle, id: task::TaskId) -> task::TaskInfo {
    handle
        .dump()
        .tasks()
        .iter()
        .find(|t| t.id() == id)
        .cloned()
        .unwrap_or_else(|| panic!("task {id} is in the dump"))
}

#[test]
fn dump_parents_and_locations() {
    let sched = sched(2);
    let handle = sched.handle();
    let (tx, rx) = mpsc::channel();
    let outside_line = line!() + 1;
    let parent = sched.spawn(async move {
        let child_line = line!() + 1;
        let child = ciranda_scheduler::spawn(pending::<()>());
        let named_line = line!() + 1;
        let named = task::Builder::new().name("named").spawn(pending::<()>());
        tx.send((child.id(), child_line, named.id(), named_line))
            .unwrap();
        drop((child, named)); // detached: the tasks stay, waiting
        pending::<()>().await
    });
    let (child, child_line, named, named_line) = rx.recv().unwrap();
    let p = info(&handle, parent.id());
    assert_eq!(p.parent(), None, "spawned from outside any task");
    assert_eq!(p.location().file(), file!());
    assert_eq!(p.location().line(), outside_line);
    let c = info(&handle, child);
    assert_eq!(c.parent(), Some(parent.id()));
    assert_eq!(
        (c.location().file(), c.location().line()),
        (file!(), child_line)
    );
    let n = info(&handle, named);
    assert_eq!(n.parent(), Some(parent.id()));
    assert_eq!(n.location().line(), named_line);
    assert_eq!(n.name(), Some("named"));
    // A spawn from a blocking function records its caller too.
    let b = sched.spawn_blocking(|| {
        let line = line!() + 1;
        (ciranda_scheduler::spawn(pending::<()>()).id(), line)
    });
    let (from_blocking, line) = sched.block_on(b).unwrap();
    let fb = info(&handle, from_blocking);
    assert_eq!(
        (fb.location().file(), fb.location().line()),
        (file!(), line)
    );
    // The tree: children indented under the parent.
    let text = handle.dump().to_string();
    let parent_line = text
        .lines()
        .find(|l| l.starts_with(&format!("{} ", parent.id())))
        .unwrap_or_else(|| panic!("parent at the top level:\n{text}"));
    assert!(
        parent_line.contains(&format!("{}:{outside_line}", file!())),
        "{text}"
    );
    assert!(text.contains(&format!("\n  {child} - ")), "{text}");
    assert!(text.contains(&format!("\n  {named} \"named\" ")), "{text}");
    parent.abort();
}

#[test]
fn orphans_go_to_the_top_level() {
    let sched = sched(1);
    let handle = sched.handle();
    let parent = sched.spawn(async { ciranda_scheduler::spawn(pending::<()>()).id() });
    let orphan = sched.block_on(parent).unwrap();
    let o = info(&handle, orphan);
    assert!(o.parent().is_some(), "it had a parent");
    let text = handle.dump().to_string();
    assert!(
        text.lines().any(|l| l.starts_with(&format!("{orphan} - "))),
        "the orphan is at the top level:\n{text}"
    );
}

/// A parent is a task of the same runtime. A task of runtime A that spawns on runtime B's
/// handle (a server handing work to a runtime of its own) is not listed in B: B's task has no
/// parent, as `TaskInfo::parent` says. It was given A's task, an id that B's `tasks()` never
/// lists, both when A's task ran on a worker and on a current-thread driver.
#[test]
fn a_task_of_another_runtime_is_no_parent() {
    let b = sched(1);
    let b_handle = b.handle();
    for flavor in [Flavor::MultiThread, Flavor::CurrentThread] {
        let a = Scheduler::builder()
            .flavor(flavor)
            .worker_threads(1)
            .build()
            .unwrap();
        let to_b = b_handle.clone();
        let spawner = a.spawn(async move {
            let across = to_b.spawn(pending::<()>());
            let within = ciranda_scheduler::spawn(pending::<()>());
            (across, within)
        });
        let spawner_id = spawner.id();
        let (across, within) = a.block_on(spawner).unwrap();
        assert_eq!(
            info(&b_handle, across.id()).parent(),
            None,
            "spawned on B by a task of A ({flavor:?})"
        );
        assert_eq!(
            info(&a.handle(), within.id()).parent(),
            Some(spawner_id),
            "spawned on A by a task of A ({flavor:?})"
        );
        across.abort();
        within.abort();
    }
}

#[test]
fn poll_counts_and_timing() {
    let sched = Scheduler::builder()
        .worker_threads(1)
        .task_timing(true)
        .build()
        .unwrap();
    let handle = sched.handle();
    let (tx, rx) = mpsc::channel();
    let task = sched.spawn(async move {
        for _ in 0..9 {
            yield_now().await;
        }
        std::thread::sleep(Duration::from_millis(5));
        tx.send(()).unwrap();
        pending::<()>().await
    });
    rx.recv().unwrap();
    // The task goes idle inside its last poll; the worker records the poll's time just
    // after it returns.
    eventually("the tenth poll returns and is timed", || {
        let t = info(&handle, task.id());
        t.state() == task::TaskState::Idle && t.busy_duration() >= Duration::from_millis(5)
    });
    let t = info(&handle, task.id());
    assert_eq!(t.poll_count(), 10);
    assert!(t.is_timed());
    std::thread::sleep(Duration::from_millis(10));
    assert!(info(&handle, task.id()).idle_duration() >= Duration::from_millis(10));
    let text = handle.dump().to_string();
    assert!(text.contains("polls=10 busy="), "{text}");
    assert!(!text.contains("busy=-"), "{text}");
    // Without task timing, the durations are zero and shown as `-`.
    let plain = sched_untimed_dump();
    assert!(plain.contains("busy=- idle=-"), "{plain}");
}

fn sched_untimed_dump() -> String {
    let sched = sched(1);
    let h = sched.spawn(pending::<()>());
    let text = sched.handle().dump().to_string();
    h.abort();
    text
}

/// A `fmt::Write` that refuses to grow past `limit` bytes.
struct Bounded {
    text: String,
    limit: usize,
}

impl std::fmt::Write for Bounded {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        if self.text.len() + s.len() > self.limit {
            return Err(std::fmt::Error);
        }
        self.text.push_str(s);
        Ok(())
    }
}

/// One link of a chain of spawns: each task spawns the next (`remaining` more) and waits for
/// ever; the last one's id is sent by its spawner.
fn link(
    remaining: usize,
    last: mpsc::Sender<task::TaskId>,
) -> std::pin::Pin<Box<dyn Future<Output = ()> + Send>> {
    Box::pin(async move {
        if remaining > 0 {
            let next = ciranda_scheduler::spawn(link(remaining - 1, last.clone()));
            if remaining == 1 {
                last.send(next.id()).unwrap();
            }
        }
        drop(last);
        pending::<()>().await
    })
}

/// A chain of 100 000 spawns (each task spawned by the one before) is drawn without
/// overflowing the stack and in a size linear in the number of tasks: indenting each line
/// by its depth drew about 10 GB for it (the sum of the depths), so printing the dump of
/// a program stuck in a deep recursion of spawns ran out of memory.
#[test]
fn a_deep_chain_of_spawns_is_drawn_in_linear_size() {
    const DEPTH: usize = 100_000;
    let sched = sched(1);
    let (tx, rx) = mpsc::channel();
    let root = sched.spawn(link(DEPTH, tx));
    let deepest = rx.recv_timeout(Duration::from_secs(120)).unwrap();
    let dump = sched.handle().dump();
    assert_eq!(dump.tasks().len(), DEPTH + 1);
    // A line is about a hundred bytes without its indentation.
    let limit = (DEPTH + 1) * 400;
    let mut out = Bounded {
        text: String::new(),
        limit,
    };
    assert!(
        std::fmt::write(&mut out, format_args!("{dump}")).is_ok(),
        "the dump of a {DEPTH}-deep chain is larger than {limit} bytes"
    );
    let text = out.text;
    assert_eq!(text.lines().count(), DEPTH + 1);
    assert!(
        text.starts_with(&format!("{} - ", root.id())),
        "{}",
        &text[..200]
    );
    let second = text.lines().nth(1).unwrap();
    assert!(
        second.starts_with("  ") && !second.starts_with("   "),
        "{second}"
    );
    // Down to 32 levels a task is indented by its depth; below, at 32 levels with its depth
    // written out.
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    assert_eq!(indent(lines[32]), 64, "{}", lines[32]);
    assert!(!lines[32].contains("depth="), "{}", lines[32]);
    assert_eq!(indent(lines[33]), 64, "{}", lines[33]);
    assert!(lines[33].ends_with(" depth=33"), "{}", lines[33]);
    let last = text.lines().last().unwrap();
    assert_eq!(indent(last), 64, "{last}");
    assert!(
        last.trim_start().starts_with(&format!("{deepest} - ")),
        "{last}"
    );
    assert!(last.ends_with(&format!(" depth={DEPTH}")), "{last}");
}
