//! Fuzz-style property test of the task life cycle: random sequences of spawn (tasks that
//! finish at once, wait on a gate, wait forever, yield, sleep or panic), abort (through the
//! `JoinHandle` or an `AbortHandle`), wake (opening a task's gate, or calling its stored
//! waker from outside — also after it finished), drop of the `JoinHandle`, a bounded await,
//! and finally shutdown with whatever is left.
//!
//! Checked for every case: each task's future is dropped exactly once; each output is dropped
//! exactly once if the task produced one; every `JoinHandle` still held resolves, with the
//! outcome its history allows (a value iff the future finished, a panic iff it panicked,
//! otherwise cancelled); the runtime never hangs.

use ciranda::Runtime;
use ciranda::sync::Notify;
use ciranda::task::{AbortHandle, JoinHandle};
use ciranda_tests::support::quiet_expected_panics;
use proptest::prelude::*;
use std::future::{Future, pending, poll_fn};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

const MARK: &str = "expected test panic";

#[derive(Clone, Copy, Debug)]
enum Kind {
    Immediate,
    Gate,
    Forever,
    PanicAfterGate,
    Yields(u8),
    SleepMs(u8),
}

#[derive(Clone, Debug)]
enum Op {
    Spawn(Kind),
    Abort(usize),
    AbortViaHandle(usize),
    OpenGate(usize),
    StrayWake(usize),
    DropHandle(usize),
    AwaitBriefly(usize),
    Pause,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        Just(Kind::Immediate),
        Just(Kind::Gate),
        Just(Kind::Forever),
        Just(Kind::PanicAfterGate),
        (0u8..5).prop_map(Kind::Yields),
        (0u8..4).prop_map(Kind::SleepMs),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => kind().prop_map(Op::Spawn),
        1 => (0usize..32).prop_map(Op::Abort),
        1 => (0usize..32).prop_map(Op::AbortViaHandle),
        2 => (0usize..32).prop_map(Op::OpenGate),
        2 => (0usize..32).prop_map(Op::StrayWake),
        1 => (0usize..32).prop_map(Op::DropHandle),
        1 => (0usize..32).prop_map(Op::AwaitBriefly),
        1 => Just(Op::Pause),
    ]
}

/// Per-task bookkeeping shared with the task's future.
struct Track {
    future_drops: AtomicUsize,
    output_drops: AtomicUsize,
    finished: AtomicBool,
    panicked: AtomicBool,
    gate: Notify,
    waker: Mutex<Option<Waker>>,
}

struct FutureGuard(Arc<Track>);
impl Drop for FutureGuard {
    fn drop(&mut self) {
        self.0.future_drops.fetch_add(1, SeqCst);
    }
}

struct Output(Arc<Track>);
impl Drop for Output {
    fn drop(&mut self) {
        self.0.output_drops.fetch_add(1, SeqCst);
    }
}

struct Task {
    track: Arc<Track>,
    kind: Kind,
    handle: Option<JoinHandle<Output>>,
    abort: AbortHandle,
    /// The handle already returned its result (through `AwaitBriefly`).
    result: Option<Result<(), (bool, bool)>>,
}

fn spawn(rt: &Runtime, kind: Kind) -> Task {
    let track = Arc::new(Track {
        future_drops: AtomicUsize::new(0),
        output_drops: AtomicUsize::new(0),
        finished: AtomicBool::new(false),
        panicked: AtomicBool::new(false),
        gate: Notify::new(),
        waker: Mutex::new(None),
    });
    let guard = FutureGuard(track.clone());
    let t = track.clone();
    let handle = rt.spawn(async move {
        let _guard = guard;
        // Keep a waker for stray wake-ups from outside (also after the task finished).
        poll_fn(|cx| {
            *t.waker.lock().unwrap() = Some(cx.waker().clone());
            Poll::Ready(())
        })
        .await;
        match kind {
            Kind::Immediate => {}
            Kind::Gate => t.gate.notified().await,
            Kind::Forever => pending::<()>().await,
            Kind::PanicAfterGate => {
                t.gate.notified().await;
                t.panicked.store(true, SeqCst);
                panic!("{MARK}: fuzz task");
            }
            Kind::Yields(n) => {
                for _ in 0..n {
                    ciranda::task::yield_now().await;
                }
            }
            Kind::SleepMs(ms) => ciranda::time::sleep(Duration::from_millis(u64::from(ms))).await,
        }
        t.finished.store(true, SeqCst);
        Output(t.clone())
    });
    Task {
        track,
        kind,
        abort: handle.abort_handle(),
        handle: Some(handle),
        result: None,
    }
}

/// (finished, panicked) from a handle's result; drops the output.
fn outcome(r: Result<Output, ciranda::task::JoinError>) -> Result<(), (bool, bool)> {
    match r {
        Ok(output) => {
            drop(output);
            Ok(())
        }
        Err(e) => Err((e.is_panic(), e.is_cancelled())),
    }
}

fn run_case(ops: &[Op]) -> Result<(), TestCaseError> {
    quiet_expected_panics(MARK);
    let rt = Runtime::builder()
        .worker_threads(2)
        .on_unhandled_panic(|_| {})
        .build()
        .unwrap();
    let mut tasks: Vec<Task> = Vec::new();
    for op in ops {
        let pick = |i: &usize| (!tasks.is_empty()).then(|| i % tasks.len());
        match op {
            Op::Spawn(kind) => tasks.push(spawn(&rt, *kind)),
            Op::Abort(i) => {
                if let Some(t) = pick(i).map(|i| &tasks[i]) {
                    if let Some(h) = &t.handle {
                        h.abort();
                    }
                }
            }
            Op::AbortViaHandle(i) => {
                if let Some(i) = pick(i) {
                    tasks[i].abort.abort();
                }
            }
            Op::OpenGate(i) => {
                if let Some(i) = pick(i) {
                    tasks[i].track.gate.notify_one();
                }
            }
            Op::StrayWake(i) => {
                if let Some(i) = pick(i) {
                    let waker = tasks[i].track.waker.lock().unwrap().clone();
                    if let Some(w) = waker {
                        w.wake_by_ref();
                        w.wake();
                    }
                }
            }
            Op::DropHandle(i) => {
                if let Some(i) = pick(i) {
                    tasks[i].handle = None;
                }
            }
            Op::AwaitBriefly(i) => {
                if let Some(i) = pick(i) {
                    let t = &mut tasks[i];
                    if let Some(h) = &mut t.handle {
                        let r = rt.block_on(async {
                            ciranda::time::timeout(Duration::from_millis(5), h).await
                        });
                        if let Ok(r) = r {
                            t.result = Some(outcome(r));
                            t.handle = None; // consumed
                        }
                    }
                }
            }
            Op::Pause => std::thread::sleep(Duration::from_micros(200)),
        }
    }
    // Shut down with whatever is left (under a watchdog: a hang fails the case).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        drop(rt);
        let _ = tx.send(());
    });
    prop_assert!(
        rx.recv_timeout(Duration::from_secs(30)).is_ok(),
        "shutdown hung"
    );
    let mut cx = Context::from_waker(Waker::noop());
    for (n, t) in tasks.iter_mut().enumerate() {
        if let Some(mut h) = t.handle.take() {
            prop_assert!(
                h.is_finished(),
                "task {n}: handle unresolved after shutdown"
            );
            match Pin::new(&mut h).poll(&mut cx) {
                Poll::Ready(r) => t.result = Some(outcome(r)),
                Poll::Pending => prop_assert!(false, "task {n}: finished handle pending"),
            }
        }
        // Stray wakes after everything is gone are harmless.
        let waker = t.track.waker.lock().unwrap().take();
        if let Some(w) = waker {
            w.wake();
        }
    }
    for (n, t) in tasks.iter().enumerate() {
        let tr = &t.track;
        let finished = tr.finished.load(SeqCst);
        let panicked = tr.panicked.load(SeqCst);
        prop_assert_eq!(
            tr.future_drops.load(SeqCst),
            1,
            "task {} ({:?}): future dropped {} times",
            n,
            t.kind,
            tr.future_drops.load(SeqCst)
        );
        prop_assert_eq!(
            tr.output_drops.load(SeqCst),
            usize::from(finished),
            "task {} ({:?}): output dropped {} times",
            n,
            t.kind,
            tr.output_drops.load(SeqCst)
        );
        if matches!(t.kind, Kind::Forever) {
            prop_assert!(!finished);
        }
        if let Some(result) = &t.result {
            match result {
                Ok(()) => prop_assert!(finished, "task {}: a value without finishing", n),
                Err((is_panic, is_cancelled)) => {
                    prop_assert!(!finished, "task {}: finished but reported an error", n);
                    prop_assert_eq!(*is_panic, panicked, "task {}", n);
                    prop_assert_eq!(*is_cancelled, !panicked, "task {}", n);
                }
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn spawn_abort_wake_drop_sequences_drop_every_future_once(
        ops in prop::collection::vec(op(), 1..60)
    ) {
        run_case(&ops)?;
    }
}

#[test]
fn a_long_fixed_sequence_of_every_operation() {
    // A deterministic case touching every operation on every kind, many times over.
    let kinds = [
        Kind::Immediate,
        Kind::Gate,
        Kind::Forever,
        Kind::PanicAfterGate,
        Kind::Yields(3),
        Kind::SleepMs(1),
    ];
    let mut ops = Vec::new();
    for round in 0..40usize {
        for k in kinds {
            ops.push(Op::Spawn(k));
        }
        let n = ops.len();
        ops.extend([
            Op::StrayWake(n + round),
            Op::OpenGate(round * 7),
            Op::Abort(round * 5 + 1),
            Op::AwaitBriefly(round * 3),
            Op::DropHandle(round * 11 + 2),
            Op::AbortViaHandle(round * 13 + 3),
            Op::OpenGate(round * 2 + 1),
            Op::StrayWake(round),
            Op::Pause,
        ]);
    }
    run_case(&ops).unwrap();
}
