//! Feature `tracing`: each task gets a `runtime.spawn` span with the fields console-subscriber
//! reads, entered around each poll and closed when the task ends (also by a panic), and
//! waker operations are `runtime::waker` events naming the task's span.
//!
//! A small recording subscriber, installed globally (workers are other threads), stands in
//! for console-subscriber; `benches/tests/console.rs` checks the real one.

#![cfg(all(feature = "tracing", not(loom)))]

use ciranda_scheduler::{Flavor, Scheduler, task, yield_now};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::{Mutex, OnceLock, mpsc};
use std::time::Duration;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

#[derive(Default, Debug, Clone)]
struct SpanRec {
    name: &'static str,
    target: String,
    fields: HashMap<String, String>,
    enters: usize,
    exits: usize,
    closed: bool,
}

#[derive(Default)]
struct Log {
    spans: HashMap<u64, SpanRec>,
    /// `(op, task.id)` of every waker event.
    waker_events: Vec<(String, u64)>,
}

struct Recorder {
    next: AtomicU64,
    log: Mutex<Log>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().into(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().into(), value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.0.insert(field.name().into(), value.to_string());
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let id = self.next.fetch_add(1, SeqCst);
        let mut rec = SpanRec {
            name: attrs.metadata().name(),
            target: attrs.metadata().target().into(),
            ..SpanRec::default()
        };
        attrs.record(&mut Fields(&mut rec.fields));
        let name = rec.fields.get("task.name").cloned();
        self.log.lock().unwrap().spans.insert(id, rec);
        if name.as_deref() == Some("panic-on-new-span") {
            panic!("expected subscriber panic in new_span");
        }
        Id::from_u64(id)
    }
    // Fields recorded after creation are ignored, as console-subscriber ignores them: it
    // reads a task's fields only when the span is created.
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        if event.metadata().target() != "runtime::waker" {
            return;
        }
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let op = fields.get("op").cloned().unwrap_or_default();
        let id = fields["task.id"].parse().unwrap();
        let panics = op == "waker.wake_by_ref" && self.named(id, "panic-on-wake");
        self.log.lock().unwrap().waker_events.push((op, id));
        if panics {
            panic!("expected subscriber panic in a waker event");
        }
    }
    fn enter(&self, span: &Id) {
        if let Some(rec) = self.log.lock().unwrap().spans.get_mut(&span.into_u64()) {
            rec.enters += 1;
        }
        if self.named(span.into_u64(), "panic-on-enter") {
            panic!("expected subscriber panic in enter");
        }
    }
    fn exit(&self, span: &Id) {
        if let Some(rec) = self.log.lock().unwrap().spans.get_mut(&span.into_u64()) {
            rec.exits += 1;
        }
        if self.named(span.into_u64(), "panic-on-exit") {
            panic!("expected subscriber panic in exit");
        }
    }
    fn try_close(&self, span: Id) -> bool {
        // Spans are never cloned by the runtime: the first close is the last.
        if let Some(rec) = self.log.lock().unwrap().spans.get_mut(&span.into_u64()) {
            rec.closed = true;
        }
        if self.named(span.into_u64(), "panic-on-close") {
            panic!("expected subscriber panic in try_close");
        }
        true
    }
}

impl Recorder {
    /// Is span `span` the span of a task named `name`? (The log's lock is released before
    /// the caller panics, so a panic never poisons it.)
    fn named(&self, span: u64, name: &str) -> bool {
        let log = self.log.lock().unwrap();
        log.spans
            .get(&span)
            .and_then(|rec| rec.fields.get("task.name"))
            .is_some_and(|n| n == name)
    }
}

fn recorder() -> &'static Recorder {
    static RECORDER: OnceLock<&'static Recorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder: &'static Recorder = Box::leak(Box::new(Recorder {
            next: AtomicU64::new(1),
            log: Mutex::new(Log::default()),
        }));
        tracing::subscriber::set_global_default(RecorderRef(recorder)).unwrap();
        recorder
    })
}

struct RecorderRef(&'static Recorder);

impl Subscriber for RecorderRef {
    fn enabled(&self, m: &Metadata<'_>) -> bool {
        self.0.enabled(m)
    }
    fn new_span(&self, a: &Attributes<'_>) -> Id {
        self.0.new_span(a)
    }
    fn record(&self, s: &Id, v: &Record<'_>) {
        self.0.record(s, v)
    }
    fn record_follows_from(&self, a: &Id, b: &Id) {
        self.0.record_follows_from(a, b)
    }
    fn event(&self, e: &Event<'_>) {
        self.0.event(e)
    }
    fn enter(&self, s: &Id) {
        self.0.enter(s)
    }
    fn exit(&self, s: &Id) {
        self.0.exit(s)
    }
    fn try_close(&self, s: Id) -> bool {
        self.0.try_close(s)
    }
}

/// The span of the task with runtime id `id`, and its span id.
fn span_of(id: task::TaskId) -> (u64, SpanRec) {
    let log = recorder().log.lock().unwrap();
    log.spans
        .iter()
        .find(|(_, s)| s.fields.get("task.id") == Some(&id.as_u64().to_string()))
        .map(|(k, s)| (*k, s.clone()))
        .unwrap_or_else(|| panic!("no span for task {id}"))
}

#[test]
fn a_task_span_has_consoles_fields_and_follows_the_polls() {
    recorder();
    let sched = Scheduler::builder().worker_threads(2).build().unwrap();
    let line = line!() + 1;
    let handle = task::Builder::new().name("traced").spawn_on(
        async {
            for _ in 0..3 {
                yield_now().await;
            }
        },
        &sched.handle(),
    );
    let id = handle.id();
    sched.block_on(handle).unwrap();
    let (span_id, span) = span_of(id);
    assert_eq!(span.name, "runtime.spawn");
    assert!(span.target.starts_with("runtime"), "{span:?}");
    assert_eq!(span.fields["kind"], "task");
    assert_eq!(span.fields["task.name"], "traced");
    assert_eq!(span.fields["loc.file"], file!());
    assert_eq!(span.fields["loc.line"], line.to_string());
    assert!(span.fields.contains_key("loc.col"));
    assert_eq!(
        (span.enters, span.exits),
        (4, 4),
        "entered around each poll"
    );
    assert!(span.closed, "closed when the task ended");
    let log = recorder().log.lock().unwrap();
    let wakes = log
        .waker_events
        .iter()
        .filter(|(op, id)| op == "waker.wake_by_ref" && *id == span_id)
        .count();
    assert_eq!(
        wakes, 3,
        "yield_now wakes by reference, naming the task's span"
    );
}

#[test]
fn a_panicking_task_closes_its_span_and_blocking_tasks_are_marked() {
    recorder();
    let sched = Scheduler::builder().worker_threads(1).build().unwrap();
    let panicking = sched.spawn(async { panic!("expected traced panic") });
    let id = panicking.id();
    assert!(sched.block_on(panicking).unwrap_err().is_panic());
    let (_, span) = span_of(id);
    assert!(span.closed);
    assert_eq!((span.enters, span.exits), (1, 1));
    let blocking = sched.spawn_blocking(|| 5);
    let id = blocking.id();
    assert_eq!(sched.block_on(blocking).unwrap(), 5);
    let (_, span) = span_of(id);
    assert_eq!(span.fields["kind"], "blocking");
    assert!(!span.fields.contains_key("task.name"));
    assert!(span.closed);
}

#[test]
fn a_cancelled_task_closes_its_span() {
    recorder();
    let sched = Scheduler::builder().worker_threads(1).build().unwrap();
    let pending = sched.spawn(std::future::pending::<()>());
    let id = pending.id();
    pending.abort();
    assert!(sched.block_on(pending).unwrap_err().is_cancelled());
    assert!(span_of(id).1.closed);
}

/// Awaits `join` on a thread of its own, for at most 30 s: a task whose worker died in the
/// middle of its run stays running for good, and its `JoinHandle` never completes.
fn join_within<T: Send + 'static>(
    sched: &Scheduler,
    join: task::JoinHandle<T>,
) -> Result<T, task::JoinError> {
    let handle = sched.handle();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(handle.block_on(join));
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the task never completed, or block_on unwound (a subscriber panic escaped)")
}

/// The subscriber is foreign code, like a hook: a panic in it (creating, entering, leaving or
/// closing a task's span, or recording a waker event) is reported and goes no further. It
/// unwound out of the worker's run of the task, which killed the worker and left the task
/// marked running for good (its `JoinHandle` never completed; on the current-thread flavor it
/// unwound out of `block_on`); out of `spawn`; and, from a waker event, into the task.
#[test]
fn a_panicking_subscriber_takes_down_neither_the_task_nor_its_worker() {
    recorder();
    for flavor in [Flavor::MultiThread, Flavor::CurrentThread] {
        let sched = Scheduler::builder()
            .flavor(flavor)
            .worker_threads(1)
            .build()
            .unwrap();
        for name in [
            "panic-on-new-span",
            "panic-on-enter",
            "panic-on-exit",
            "panic-on-close",
            "panic-on-wake",
        ] {
            let join = task::Builder::new().name(name).spawn_on(
                async {
                    yield_now().await;
                    7
                },
                &sched.handle(),
            );
            let output = join_within(&sched, join);
            assert_eq!(output.ok(), Some(7), "{name}, {flavor:?}");
        }
        // The runtime's only worker still runs tasks.
        let join = sched.spawn(async { 8 });
        assert_eq!(join_within(&sched, join).ok(), Some(8), "{flavor:?}");
    }
}
