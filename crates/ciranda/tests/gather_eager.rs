//! `gather` and `try_gather` are eager, like asyncio's: called inside a runtime they spawn
//! their children at the call, so the children run before the gather is awaited; dropping a
//! gather never polled cancels them; built where no runtime is current they spawn at the first
//! poll instead.
//!
//! Every wait for children is bounded, so a lazy gather fails these tests instead of hanging.

use ciranda::sync::Event;
use ciranda::time::{sleep, timeout};
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

/// How long a test waits for children that an eager gather has started already.
const BOUND: Duration = Duration::from_secs(5);

struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Waits (at most [`BOUND`]) until `counter` reaches `target`, then checks it did.
async fn wait_for(counter: &AtomicUsize, target: usize, what: &str) {
    let start = std::time::Instant::now();
    while counter.load(SeqCst) < target && start.elapsed() < BOUND {
        sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(counter.load(SeqCst), target, "{what}");
}

/// Children that count themselves in, and the last one in sets `all_in`.
fn counting_children(
    n: usize,
    started: &Arc<AtomicUsize>,
    all_in: &Arc<Event>,
) -> impl Iterator<Item = impl Future<Output = usize> + Send + 'static> {
    let (started, all_in) = (started.clone(), all_in.clone());
    (0..n).map(move |i| {
        let (started, all_in) = (started.clone(), all_in.clone());
        async move {
            if started.fetch_add(1, SeqCst) + 1 == n {
                all_in.set();
            }
            i * 10
        }
    })
}

#[ciranda::test]
async fn gather_children_run_before_it_is_awaited() {
    let started = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Event::new());
    let gathering = ciranda::gather(counting_children(4, &started, &all_in));
    // The caller does something else; the children run meanwhile.
    timeout(BOUND, all_in.wait())
        .await
        .expect("gather's children did not run before it was awaited");
    assert_eq!(gathering.await, [0, 10, 20, 30]);
}

#[ciranda::test]
async fn try_gather_children_run_before_it_is_awaited() {
    let started = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Event::new());
    let children = counting_children(4, &started, &all_in);
    let gathering = ciranda::try_gather(children.map(|child| async move {
        let value = child.await;
        if value == 20 {
            Err(format!("child {value} failed"))
        } else {
            Ok(value)
        }
    }));
    timeout(BOUND, all_in.wait())
        .await
        .expect("try_gather's children did not run before it was awaited");
    assert_eq!(gathering.await, Err("child 20 failed".to_string()));

    let started = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Event::new());
    let children = counting_children(3, &started, &all_in);
    let gathering =
        ciranda::try_gather(children.map(|child| async move { Ok::<_, ()>(child.await) }));
    timeout(BOUND, all_in.wait())
        .await
        .expect("try_gather's children did not run before it was awaited");
    assert_eq!(gathering.await, Ok(vec![0, 10, 20]));
}

#[ciranda::test]
async fn dropping_a_gather_never_polled_cancels_its_children() {
    for fallible in [false, true] {
        let started = Arc::new(AtomicUsize::new(0));
        let dropped = Arc::new(AtomicUsize::new(0));
        let (s, d) = (started.clone(), dropped.clone());
        let children = (0..4).map(move |_| {
            let (started, guard) = (s.clone(), DropCounter(d.clone()));
            async move {
                let _guard = guard;
                started.fetch_add(1, SeqCst);
                pending::<Result<(), ()>>().await
            }
        });
        if fallible {
            let gathering = ciranda::try_gather(children);
            wait_for(&started, 4, "try_gather's children started").await;
            drop(gathering);
        } else {
            let gathering = ciranda::gather(children);
            wait_for(&started, 4, "gather's children started").await;
            drop(gathering);
        }
        wait_for(&dropped, 4, "children cancelled by the drop").await;
    }
}

#[ciranda::test]
async fn an_input_panic_surfaces_from_the_call_and_aborts_the_children_spawned() {
    for fallible in [false, true] {
        let dropped = Arc::new(AtomicUsize::new(0));
        let d = dropped.clone();
        let children = (0..4).map(move |i| {
            assert!(i != 2, "bad input {i}");
            let guard = DropCounter(d.clone());
            async move {
                let _guard = guard;
                pending::<Result<(), ()>>().await
            }
        });
        let call = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            if fallible {
                drop(ciranda::try_gather(children));
            } else {
                drop(ciranda::gather(children));
            }
        }));
        let payload = call.expect_err("the input's panic comes out of the call");
        assert_eq!(payload.downcast_ref::<String>().unwrap(), "bad input 2");
        wait_for(&dropped, 2, "the two children spawned were cancelled").await;
    }
}

#[ciranda::test]
async fn a_gather_spawns_its_children_at_the_line_that_called_it() {
    let gathering = ciranda::gather((0..2).map(|_| pending::<()>()));
    let line = line!() - 1;
    let tasks = ciranda::Handle::current().tasks();
    let children: Vec<_> = tasks
        .iter()
        .filter(|task| task.location().file().ends_with("gather_eager.rs"))
        .collect();
    assert_eq!(children.len(), 2, "{tasks:?}");
    assert!(children.iter().all(|task| task.location().line() == line));
    drop(gathering);
}

#[ciranda::test]
async fn gather_futures_are_send_unpin_and_debug() {
    fn check<F: Future + Send + Unpin + std::fmt::Debug + 'static>(_: &F) {}
    let gathering = ciranda::gather([async { 1 }]);
    check(&gathering);
    let trying = ciranda::try_gather([async { Ok::<_, ()>(1) }]);
    check(&trying);
    assert_eq!(gathering.await, [1]);
    assert!(format!("{trying:?}").starts_with("TryGather { spawned: true"));
    assert_eq!(trying.await, Ok(vec![1]));
}

/// A gather built where no runtime is current (a plain thread) cannot spawn there: it spawns
/// its children when first polled, inside `block_on` or `run`, as before it was eager.
#[test]
fn a_gather_built_outside_a_runtime_spawns_when_first_polled() {
    for flavor in [ciranda::Flavor::CurrentThread, ciranda::Flavor::MultiThread] {
        let rt = ciranda::Runtime::builder()
            .flavor(flavor)
            .worker_threads(2)
            .build()
            .unwrap();
        let started = Arc::new(AtomicUsize::new(0));
        let all_in = Arc::new(Event::new());
        let gathering = ciranda::gather(counting_children(3, &started, &all_in));
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(started.load(SeqCst), 0, "nothing runs outside a runtime");
        assert_eq!(
            format!("{gathering:?}"),
            "Gather { spawned: false, running: 0, finished: 0 }"
        );
        assert_eq!(rt.block_on(gathering), [0, 10, 20]);

        let ok = ciranda::try_gather((0..3u32).map(|i| async move { Ok::<_, String>(i) }));
        assert_eq!(rt.block_on(ok), Ok(vec![0, 1, 2]));
        let failed = ciranda::try_gather((0..3u32).map(|i| async move {
            if i == 1 {
                sleep(Duration::from_millis(10)).await;
                return Err(format!("child {i} failed"));
            }
            pending::<Result<u32, String>>().await
        }));
        assert_eq!(rt.block_on(failed), Err("child 1 failed".to_string()));

        // Dropped before any poll: no child ran, and every future made was dropped.
        let (made, ran, dropped) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (m, r, d) = (made.clone(), ran.clone(), dropped.clone());
        let unpolled = ciranda::gather((0..3).map(move |_| {
            m.fetch_add(1, SeqCst);
            let (ran, guard) = (r.clone(), DropCounter(d.clone()));
            async move {
                let _guard = guard;
                ran.fetch_add(1, SeqCst);
            }
        }));
        drop(unpolled);
        assert_eq!(ran.load(SeqCst), 0);
        assert_eq!(dropped.load(SeqCst), made.load(SeqCst));
        drop(rt);
    }
    // `ciranda::run` makes its own runtime.
    let squares = ciranda::gather((1..=3u64).map(|i| async move { i * i }));
    assert_eq!(ciranda::run(squares), [1, 4, 9]);
}

/// On a plain thread under `Handle::enter`, spawning works: the gather is eager there too.
#[test]
fn a_gather_built_under_enter_is_eager() {
    let rt = ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::MultiThread)
        .worker_threads(2)
        .build()
        .unwrap();
    let started = Arc::new(AtomicUsize::new(0));
    let all_in = Arc::new(Event::new());
    let gathering = {
        let _entered = rt.enter();
        ciranda::gather(counting_children(3, &started, &all_in))
    };
    let start = std::time::Instant::now();
    while !all_in.is_set() && start.elapsed() < BOUND {
        std::thread::sleep(Duration::from_millis(5));
    }
    assert_eq!(
        started.load(SeqCst),
        3,
        "the workers ran the children at once"
    );
    assert_eq!(rt.block_on(gathering), [0, 10, 20]);
}
