//! Behaviour tests for `Queue`.
#![cfg(not(loom))]

mod common;

use std::sync::Arc;

use ciranda_sync::Queue;
use common::{Task, block_on};

#[test]
fn fifo_try_put_try_get_len() {
    let q = Queue::new(2);
    assert_eq!(q.maxsize(), 2);
    assert!(q.is_empty());
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(q.is_full());
    assert_eq!(q.try_put(3).unwrap_err().into_inner(), 3);
    assert_eq!(q.len(), 2);
    assert_eq!(q.try_get(), Ok(1));
    assert_eq!(q.try_get(), Ok(2));
    assert!(q.try_get().is_err());
}

#[test]
fn unbounded_never_full() {
    let q = Queue::new(0);
    for i in 0..1000 {
        q.try_put(i).unwrap();
    }
    assert!(!q.is_full());
    assert_eq!(q.len(), 1000);
}

#[test]
fn getters_served_fifo_by_direct_hand_off() {
    let q = Queue::new(0);
    let mut a = Task::new(q.get());
    let mut b = Task::new(q.get());
    a.pending();
    b.pending();
    q.try_put('x').unwrap();
    q.try_put('y').unwrap();
    assert_eq!(q.len(), 0); // both handed straight to the getters
    // Polling b first cannot steal a's item.
    assert_eq!(b.ready(), 'y');
    assert_eq!(a.ready(), 'x');
}

#[test]
fn dropped_getter_passes_its_item_on() {
    let q = Queue::new(0);
    let mut a = Task::new(q.get());
    let mut b = Task::new(q.get());
    a.pending();
    b.pending();
    q.try_put(1).unwrap();
    drop(a);
    assert!(b.is_woken());
    assert_eq!(b.ready(), 1);

    // With nobody behind, the item goes back to the front of the queue.
    let mut c = Task::new(q.get());
    c.pending();
    q.try_put(2).unwrap();
    q.try_put(3).unwrap();
    drop(c);
    assert_eq!(q.try_get(), Ok(2));
    assert_eq!(q.try_get(), Ok(3));
}

#[test]
fn putters_served_fifo_and_dropped_put_never_enqueues() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = Task::new(q.put(1));
    let mut b = Task::new(q.put(2));
    let mut c = Task::new(q.put(3));
    a.pending();
    b.pending();
    c.pending();
    drop(b);
    assert_eq!(q.try_get(), Ok(0));
    assert!(a.is_woken());
    assert!(!c.is_woken());
    a.ready();
    assert_eq!(q.try_get(), Ok(1));
    assert!(c.is_woken());
    c.ready();
    assert_eq!(q.try_get(), Ok(3));
    assert!(q.try_get().is_err());
}

type PutTask<'q> = Task<ciranda_sync::Put<'q, u32>>;

/// Fills `q` (of size 1) with 0, queues `put(1)` then `put(2)`, and takes the 0 with
/// `try_get`, which admits `put(1)`: returns the two puts, both pending.
fn admit_first_of_two_putters(q: &Queue<u32>) -> (PutTask<'_>, PutTask<'_>) {
    q.try_put(0).unwrap();
    let mut a = Task::new(q.put(1));
    let mut b = Task::new(q.put(2));
    a.pending();
    b.pending();
    assert_eq!(q.try_get(), Ok(0));
    (a, b)
}

/// A `get` that makes room admits the first waiting `put`, but its item enters only when that
/// `put` is polled again: a `put` dropped before then (it lost a `select!`, a `timeout` fired)
/// has not put, as with asyncio's `Queue` and Tokio's bounded channel; the room it was
/// promised passes to the next waiting putter, and nobody else takes it meanwhile.
#[test]
fn an_admitted_put_dropped_before_its_next_poll_never_enqueues() {
    let q = Queue::new(1);
    let (a, mut b) = admit_first_of_two_putters(&q);
    assert!(a.is_woken());
    assert_eq!(q.len(), 0);
    assert!(q.is_full(), "the room is promised to the admitted put");
    assert_eq!(q.try_put(9).unwrap_err().into_inner(), 9);
    assert!(!b.is_woken());
    drop(a);
    assert!(
        b.is_woken(),
        "the dropped put's room passes to the next putter"
    );
    b.ready();
    assert_eq!(q.try_get(), Ok(2));
    assert!(q.try_get().is_err(), "the dropped put's item never entered");
}

/// An admitted `put` whose item enters while a getter waits hands it to that getter, and the
/// room it was promised goes to the next waiting putter.
#[test]
fn an_admitted_put_hands_its_item_to_a_getter_that_came_meanwhile() {
    let q = Queue::new(1);
    let (mut a, mut b) = admit_first_of_two_putters(&q);
    let mut g = Task::new(q.get());
    g.pending();
    a.ready();
    assert!(g.is_woken());
    assert!(b.is_woken());
    assert_eq!(g.ready(), 1);
    b.ready();
    assert_eq!(q.try_get(), Ok(2));
    q.task_done();
    q.task_done();
    q.task_done();
    assert!(Task::new(q.join()).poll().is_ready());
}

#[test]
fn join_waits_for_task_done() {
    let q = Queue::new(0);
    Task::new(q.join()).ready();
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut j = Task::new(q.join());
    j.pending();
    q.try_get().unwrap();
    q.task_done();
    j.pending();
    q.try_get().unwrap();
    q.task_done();
    assert!(j.is_woken());
    j.ready();
}

#[test]
#[should_panic(expected = "task_done() called more times")]
fn task_done_overcalled_panics() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.try_get().unwrap();
    q.task_done();
    q.task_done();
}

#[test]
#[should_panic(expected = "task_done() called more times")]
fn task_done_before_get_panics() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.task_done();
}

#[test]
fn producers_and_consumers_on_threads() {
    let q = Arc::new(Queue::new(4));
    let producers: Vec<_> = (0..2u32)
        .map(|p| {
            let q = q.clone();
            std::thread::spawn(move || {
                block_on(async {
                    for i in 0..1000 {
                        q.put((p, i)).await;
                    }
                })
            })
        })
        .collect();
    let consumers: Vec<_> = (0..2)
        .map(|_| {
            let q = q.clone();
            std::thread::spawn(move || {
                block_on(async {
                    let mut got = Vec::new();
                    for _ in 0..1000 {
                        got.push(q.get().await);
                        q.task_done();
                    }
                    got
                })
            })
        })
        .collect();
    for p in producers {
        p.join().unwrap();
    }
    let mut all: Vec<_> = consumers
        .into_iter()
        .flat_map(|c| c.join().unwrap())
        .collect();
    block_on(q.join());
    all.sort();
    let expected: Vec<_> = (0..2u32)
        .flat_map(|p| (0..1000).map(move |i| (p, i)))
        .collect();
    assert_eq!(all, expected);
}

/// A queued getter re-polled with a new waker clones it with the lock released; the clone puts
/// an item, which goes to the getter; the poll then drops the unused clone, which panics. The
/// item must stay the getter's: a re-poll returns it.
#[test]
fn a_getter_whose_repoll_unwinds_after_its_item_came_keeps_it() {
    let q = Arc::new(Queue::new(0));
    let mut get = Task::new(q.get());
    get.pending();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.try_put(7).unwrap()
    });
    get.poll_panics_with(&waker);
    assert_eq!(get.ready(), 7);
    assert!(q.is_empty());
}

/// As above, but the getter is dropped after the panic: the item goes back to the queue.
#[test]
fn a_getter_dropped_after_its_repoll_unwound_gives_its_item_back() {
    let q = Arc::new(Queue::new(0));
    let mut get = Task::new(q.get());
    get.pending();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.try_put(7).unwrap()
    });
    get.poll_panics_with(&waker);
    drop(get);
    assert_eq!(q.try_get(), Ok(7));
}

/// A first poll of a getter on an empty queue clones its waker to queue up; the clone puts an
/// item, which the poll takes instead, then drops the unused clone, which panics. The poll never
/// returns the item, so it must go back to the queue.
#[test]
fn a_first_get_that_unwinds_after_taking_its_item_gives_it_back() {
    let q = Arc::new(Queue::new(0));
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.try_put(7).unwrap()
    });
    let mut get = Task::new(q.get());
    get.poll_panics_with(&waker);
    drop(get);
    assert_eq!(q.try_get(), Ok(7));
    // Taken once, so marked done once.
    q.task_done();
    block_on(q.join());
}

/// A queued `join` re-polled with a new waker: the clone marks the last item done (releasing
/// the joiner) and puts another; the poll drops the unused clone, which panics. The joiner was
/// released and stays released: a re-poll returns.
#[test]
fn a_joiner_whose_repoll_unwinds_after_its_release_stays_released() {
    let q = Arc::new(Queue::new(0));
    q.try_put(1).unwrap();
    q.try_get().unwrap();
    let mut join = Task::new(q.join());
    join.pending();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || {
            q.task_done();
            q.try_put(2).unwrap();
        }
    });
    join.poll_panics_with(&waker);
    join.ready();
}

/// The environment variable that makes
/// `a_first_put_whose_hand_off_wake_and_unused_clone_both_panic_does_not_abort`'s child run
/// the scenario instead of spawning it.
const PUT_HAND_OFF_CHILD: &str = "CIRANDA_TEST_QUEUE_PUT_HAND_OFF_CHILD";

/// A first `put` on a full queue clones its waker to queue up; the clone takes the queued item
/// and queues a getter whose waker panics when woken, so the put hands its item to that getter
/// instead; the getter's wake-up panics, and so does the drop of the unused clone. Two panics
/// in one poll: the second, run while the first unwinds, aborted the process, so the scenario
/// runs in a child process of this test binary. The poll must unwind once, with the getter
/// holding the item and the put complete.
#[test]
fn a_first_put_whose_hand_off_wake_and_unused_clone_both_panic_does_not_abort() {
    if std::env::var_os(PUT_HAND_OFF_CHILD).is_some() {
        put_hand_off_scenario();
        println!("put hand-off scenario: unwound once, nothing lost");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "a_first_put_whose_hand_off_wake_and_unused_clone_both_panic_does_not_abort",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(PUT_HAND_OFF_CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains("put hand-off scenario: unwound once"),
        "child failed ({:?}); its stdout:\n{stdout}\nits stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}

fn put_hand_off_scenario() {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::task::{Context, Poll, Wake, Waker};

    struct PanicsOnWake;

    impl Wake for PanicsOnWake {
        fn wake(self: Arc<Self>) {
            panic!("expected test panic: waker wake");
        }
    }

    type Getter = Pin<Box<ciranda_sync::Get<'static, u32>>>;
    // The getter queued from the clone's callback borrows the queue for as long as it lives.
    let q: &'static Queue<u32> = Box::leak(Box::new(Queue::new(1)));
    q.try_put(1).unwrap();
    let getter: Arc<Mutex<Option<Getter>>> = Arc::default();
    let waker = common::calls_back_on_clone({
        let getter = getter.clone();
        move || {
            let mut getter = getter.lock().unwrap();
            if getter.is_some() {
                return;
            }
            assert_eq!(q.try_get(), Ok(1));
            let mut get = Box::pin(q.get());
            let panics_on_wake = Waker::from(Arc::new(PanicsOnWake));
            let polled = get.as_mut().poll(&mut Context::from_waker(&panics_on_wake));
            assert!(polled.is_pending(), "the queue is empty");
            *getter = Some(get);
        }
    });
    let mut put = Task::new(q.put(2));
    put.poll_panics_with(&waker);
    let mut get = getter
        .lock()
        .unwrap()
        .take()
        .expect("queued from the clone");
    let polled = get.as_mut().poll(&mut Context::from_waker(Waker::noop()));
    assert_eq!(polled, Poll::Ready(2), "the item went to the getter");
    put.ready();
    assert!(q.is_empty());
}

// ---- shutdown (asyncio 3.13's `Queue.shutdown`) ----

use ciranda_sync::QueueShutDown;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicUsize, Ordering};

/// Runs `f`, expecting it to panic with a message containing `expected`.
#[track_caller]
fn panics_with<R>(expected: &str, f: impl FnOnce() -> R) {
    let payload = catch_unwind(AssertUnwindSafe(f))
        .err()
        .expect("expected a panic");
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(message.contains(expected), "panic message: {message:?}");
}

const GET_SHUT_DOWN: &str = "Queue::get on a queue that was shut down and is empty \
                             (use Queue::get_checked to handle shutdown)";
const PUT_SHUT_DOWN: &str =
    "Queue::put on a queue that was shut down (use Queue::put_checked to handle shutdown)";

/// An item that counts its drops.
#[derive(Debug)]
struct Counted(u32, Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.1.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn shutdown_refuses_puts_and_lets_gets_drain_then_fail() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    assert!(!q.is_shut_down());
    q.shutdown();
    assert!(q.is_shut_down());
    assert_eq!(q.try_put(3).unwrap_err().into_inner(), 3);
    assert_eq!(
        block_on(q.put_checked(4)).unwrap_err().into_inner(),
        4,
        "the item is handed back"
    );
    assert_eq!(q.len(), 2);
    assert_eq!(block_on(q.get()), 1, "items queued before are still got");
    assert_eq!(block_on(q.get_checked()), Ok(2));
    assert_eq!(block_on(q.get_checked()), Err(QueueShutDown(())));
    let err = q.try_get().unwrap_err();
    assert!(err.is_shut_down());
    assert_eq!(err.to_string(), "queue is shut down and empty");
    // Idempotent.
    q.shutdown();
    assert!(q.is_shut_down());
    assert!(q.try_get().unwrap_err().is_shut_down());
    // task_done and join still work.
    q.task_done();
    q.task_done();
    block_on(q.join());
}

#[test]
fn try_get_error_tells_empty_from_shut_down() {
    let q = Queue::<u8>::new(0);
    let err = q.try_get().unwrap_err();
    assert!(!err.is_shut_down());
    assert_eq!(err.to_string(), "queue is empty (would block)");
    q.try_put(1).unwrap();
    q.shutdown();
    assert_eq!(q.try_get(), Ok(1));
    assert!(q.try_get().unwrap_err().is_shut_down());
}

#[test]
fn queue_shut_down_error_traits() {
    let err = QueueShutDown(5u8);
    assert_eq!(err.to_string(), "queue is shut down");
    assert_eq!(format!("{err:?}"), "QueueShutDown { .. }");
    let boxed: Box<dyn std::error::Error> = Box::new(QueueShutDown(()));
    assert_eq!(boxed.to_string(), "queue is shut down");
    assert_eq!(err.clone().into_inner(), 5);
}

#[test]
fn plain_put_on_a_shut_down_queue_panics_and_drops_its_item() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::new(0);
    q.shutdown();
    panics_with(PUT_SHUT_DOWN, || block_on(q.put(Counted(1, drops.clone()))));
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(q.is_empty());
}

#[test]
fn plain_get_gets_queued_items_then_panics() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.shutdown();
    assert_eq!(block_on(q.get()), 1);
    panics_with(GET_SHUT_DOWN, || block_on(q.get()));
}

/// Putters waiting for room are woken by the shutdown and fail with their own items; the queued
/// item stays for the gets.
#[test]
fn shutdown_wakes_blocked_putters() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = Task::new(q.put_checked(1));
    let mut b = Task::new(q.put(2));
    let mut c = Task::new(q.put_checked(3));
    a.pending();
    b.pending();
    c.pending();
    q.shutdown();
    assert!(a.is_woken() && b.is_woken() && c.is_woken());
    // Polled out of order: each gets its own item back.
    assert_eq!(c.ready().unwrap_err().into_inner(), 3);
    panics_with(PUT_SHUT_DOWN, || b.poll());
    assert_eq!(a.ready().unwrap_err().into_inner(), 1);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(0));
    assert!(q.try_get().unwrap_err().is_shut_down());
}

/// A put that a `get` made room for but that was not polled since fails once the queue is shut
/// down, and the room is given back.
#[test]
fn an_admitted_put_polled_after_shutdown_fails_and_frees_its_room() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = Task::new(q.put_checked(1));
    a.pending();
    assert_eq!(q.try_get(), Ok(0));
    assert!(a.is_woken(), "admitted");
    assert!(q.is_full(), "the room is promised to the admitted put");
    q.shutdown();
    assert_eq!(a.ready().unwrap_err().into_inner(), 1);
    assert!(!q.is_full());
    assert!(q.is_empty());
    // Same, but the admitted put is dropped instead.
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut a = Task::new(q.put(1));
    a.pending();
    assert_eq!(q.try_get(), Ok(0));
    q.shutdown();
    drop(a);
    assert!(!q.is_full());
    assert!(q.is_empty());
}

/// Getters waiting on the empty queue are woken by the shutdown and fail.
#[test]
fn shutdown_wakes_blocked_getters() {
    let q = Queue::<u32>::new(0);
    let mut a = Task::new(q.get_checked());
    let mut b = Task::new(q.get());
    a.pending();
    b.pending();
    q.shutdown();
    assert!(a.is_woken() && b.is_woken());
    assert_eq!(a.ready(), Err(QueueShutDown(())));
    panics_with(GET_SHUT_DOWN, || b.poll());
}

/// A getter already handed an item keeps it through both kinds of shutdown.
#[test]
fn a_getter_handed_an_item_before_shutdown_keeps_it() {
    for immediate in [false, true] {
        let q = Queue::new(0);
        let mut get = Task::new(q.get());
        get.pending();
        q.try_put(7).unwrap();
        if immediate {
            q.shutdown_immediate();
        } else {
            q.shutdown();
        }
        assert_eq!(get.ready(), 7);
        q.task_done();
        block_on(q.join());
    }
}

/// A getter dropped after it was handed an item, once the queue is shut down: the item goes to
/// a getter woken by the shutdown (it would otherwise fail), or stays queued.
#[test]
fn a_cancelled_getters_item_goes_to_the_next_getter_or_stays_queued_after_shutdown() {
    let q = Queue::new(0);
    let mut a = Task::new(q.get());
    let mut b = Task::new(q.get_checked());
    a.pending();
    b.pending();
    q.try_put(1).unwrap(); // handed to a
    q.shutdown(); // b is woken with nothing
    drop(a);
    assert_eq!(b.ready(), Ok(1));
    assert!(q.try_get().unwrap_err().is_shut_down());

    let q = Queue::new(0);
    let mut a = Task::new(q.get());
    a.pending();
    q.try_put(1).unwrap();
    q.shutdown();
    drop(a);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get(), Ok(1));
}

#[test]
fn shutdown_immediate_drops_queued_items_and_counts_them_done() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::new(0);
    for i in 0..4 {
        q.try_put(Counted(i, drops.clone())).unwrap();
    }
    let taken = q.try_get().unwrap();
    assert_eq!(taken.0, 0);
    let mut join = Task::new(q.join());
    join.pending();
    q.shutdown_immediate();
    assert!(q.is_shut_down());
    assert!(q.is_empty());
    assert_eq!(
        drops.load(Ordering::SeqCst),
        3,
        "the queued items were dropped"
    );
    assert!(q.try_get().unwrap_err().is_shut_down());
    join.pending(); // the taken item is not done yet
    drop(taken);
    q.task_done();
    assert!(join.is_woken());
    join.ready();
    panics_with("task_done() called more times", || q.task_done());
}

#[test]
fn shutdown_immediate_releases_a_waiting_join_when_nothing_was_taken() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    let mut join = Task::new(q.join());
    join.pending();
    q.shutdown_immediate();
    assert!(join.is_woken());
    join.ready();
    block_on(q.join());
}

#[test]
fn shutdown_immediate_after_shutdown_drains_and_repeats_are_no_ops() {
    let q = Queue::new(0);
    q.try_put(1).unwrap();
    q.try_put(2).unwrap();
    q.shutdown();
    assert_eq!(q.len(), 2);
    q.shutdown_immediate();
    assert!(q.is_empty());
    block_on(q.join());
    q.shutdown_immediate();
    q.shutdown();
    assert!(q.is_shut_down() && q.is_empty());
    block_on(q.join());
}

/// After `shutdown_immediate`, an item given back by a cancelled getter is dropped and counted
/// done, not queued.
#[test]
fn a_cancelled_getters_item_after_shutdown_immediate_is_dropped_and_counted_done() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Queue::new(0);
    let mut get = Task::new(q.get());
    get.pending();
    q.try_put(Counted(1, drops.clone())).unwrap();
    let mut join = Task::new(q.join());
    join.pending();
    q.shutdown_immediate();
    join.pending(); // the getter's item is not done
    drop(get);
    assert_eq!(drops.load(Ordering::SeqCst), 1);
    assert!(q.is_empty());
    assert!(join.is_woken());
    join.ready();
}

/// Checked futures dropped before completing keep the cancel promises: a put never enqueues, a
/// get passes its item on.
#[test]
fn cancelled_checked_futures_lose_nothing() {
    let q = Queue::new(1);
    q.try_put(0).unwrap();
    let mut put = Task::new(q.put_checked(1));
    put.pending();
    drop(put);
    assert_eq!(q.try_get(), Ok(0));
    assert!(q.try_get().is_err(), "the dropped put never enqueued");

    let mut a = Task::new(q.get_checked());
    let mut b = Task::new(q.get_checked());
    a.pending();
    b.pending();
    q.try_put(5).unwrap();
    drop(a);
    assert!(b.is_woken());
    assert_eq!(b.ready(), Ok(5));

    // A checked get woken by the shutdown and dropped unpolled loses nothing either.
    let mut a = Task::new(q.get_checked());
    a.pending();
    q.shutdown();
    drop(a);
    assert!(q.try_get().unwrap_err().is_shut_down());
}

/// On a runtime: tasks blocked in `put_checked` on a full queue and in `get_checked` on an empty
/// one all fail when another task shuts the queues down; plain `put`/`get` tasks panic with the
/// documented message. (The sleep only makes it likely that they are blocked by then; the
/// outcome is the same if they are not.)
#[test]
fn shutdown_on_a_runtime_fails_blocked_tasks() {
    ciranda::run(async {
        let full = Arc::new(Queue::new(1));
        let empty = Arc::new(Queue::<u32>::new(0));
        full.put(0).await;
        let putters: Vec<_> = (1..=3)
            .map(|i| {
                let q = full.clone();
                ciranda::spawn(async move { q.put_checked(i).await })
            })
            .collect();
        let getters: Vec<_> = (0..3)
            .map(|_| {
                let q = empty.clone();
                ciranda::spawn(async move { q.get_checked().await })
            })
            .collect();
        let plain_put = ciranda::spawn({
            let q = full.clone();
            async move { q.put(9).await }
        });
        let plain_get = ciranda::spawn({
            let q = empty.clone();
            async move { q.get().await }
        });
        ciranda::time::sleep(std::time::Duration::from_millis(20)).await;
        full.shutdown();
        empty.shutdown_immediate();
        for (i, putter) in (1..=3).zip(putters) {
            let err = putter.await.expect("no panic").unwrap_err();
            assert_eq!(err.into_inner(), i);
        }
        for getter in getters {
            assert_eq!(getter.await.expect("no panic"), Err(QueueShutDown(())));
        }
        let err = plain_put.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.panic_message().unwrap().contains(PUT_SHUT_DOWN));
        let err = plain_get.await.unwrap_err();
        assert!(err.is_panic());
        assert!(err.panic_message().unwrap().contains(GET_SHUT_DOWN));
        assert_eq!(full.get().await, 0);
        assert!(full.get_checked().await.is_err());
    });
}

// ---- shutdown and wakers we did not write ----

struct PanicsOnWake;

impl std::task::Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        panic!("expected test panic: waker wake");
    }
}

/// A blocked getter whose waker panics when the shutdown wakes it: the panic goes on into the
/// `shutdown` caller, yet the flag is set and every other waiter was woken.
#[test]
fn shutdown_wakes_everyone_even_if_a_waker_panics() {
    use std::task::{Context, Waker};
    let q = Queue::<u32>::new(0);
    let mut bad = Box::pin(q.get_checked());
    let waker = Waker::from(Arc::new(PanicsOnWake));
    assert!(std::future::Future::poll(bad.as_mut(), &mut Context::from_waker(&waker)).is_pending());
    let mut good = Task::new(q.get_checked());
    good.pending();
    panics_with("expected test panic: waker wake", || q.shutdown());
    assert!(q.is_shut_down());
    assert!(good.is_woken());
    assert_eq!(good.ready(), Err(QueueShutDown(())));
    let polled = std::future::Future::poll(bad.as_mut(), &mut Context::from_waker(Waker::noop()));
    assert_eq!(polled, std::task::Poll::Ready(Err(QueueShutDown(()))));
}

/// An item whose drop panics, dropped by `shutdown_immediate`: the panic goes on into the caller,
/// and the waiting `join` was still released.
#[test]
fn shutdown_immediate_wakes_join_even_if_an_item_drop_panics() {
    struct PanicsOnDrop;
    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("expected test panic: item drop");
        }
    }
    let q = Queue::new(0);
    q.try_put(PanicsOnDrop).unwrap();
    let mut join = Task::new(q.join());
    join.pending();
    panics_with("expected test panic: item drop", || q.shutdown_immediate());
    assert!(join.is_woken());
    join.ready();
    assert!(q.is_empty());
}

/// A first `get_checked` on an empty queue clones its waker to queue up; the clone shuts the
/// queue down, so the retry fails instead of queuing, and the poll then drops the unused clone,
/// which panics. A re-poll fails cleanly; nothing is left queued.
#[test]
fn a_first_get_whose_waker_clone_shuts_the_queue_down() {
    let q = Arc::new(Queue::<u32>::new(0));
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.shutdown()
    });
    let mut get = Task::new(q.get_checked());
    get.poll_panics_with(&waker);
    assert_eq!(get.ready(), Err(QueueShutDown(())));
}

/// A queued getter re-polled with a new waker: the clone shuts the queue down (the getter is
/// woken with nothing); the poll drops the unused clone, which panics. A re-poll fails.
#[test]
fn a_queued_getter_whose_waker_clone_shuts_the_queue_down() {
    let q = Arc::new(Queue::<u32>::new(0));
    let mut get = Task::new(q.get_checked());
    get.pending();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.shutdown_immediate()
    });
    get.poll_panics_with(&waker);
    assert_eq!(get.ready(), Err(QueueShutDown(())));
}

/// A queued putter re-polled with a new waker: the clone shuts the queue down (the putter is
/// woken to fail); the poll drops the unused clone, which panics. The item stays the putter's:
/// a re-poll hands it back.
#[test]
fn a_queued_putter_whose_waker_clone_shuts_the_queue_down_keeps_its_item() {
    let q = Arc::new(Queue::new(1));
    q.try_put(0).unwrap();
    let mut put = Task::new(q.put_checked(1));
    put.pending();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.shutdown()
    });
    put.poll_panics_with(&waker);
    assert_eq!(put.ready().unwrap_err().into_inner(), 1);
    assert_eq!(q.try_get(), Ok(0));
}

/// A first `put_checked` on a full queue clones its waker to queue up; the clone shuts the
/// queue down, so the retry fails; the poll then drops the unused clone, which panics. The item
/// must not be lost with the unwinding poll's result: a re-poll hands it back.
#[test]
fn a_first_put_whose_waker_clone_shuts_the_queue_down_keeps_its_item() {
    let drops = Arc::new(AtomicUsize::new(0));
    let q = Arc::new(Queue::new(1));
    q.try_put(Counted(0, drops.clone())).unwrap();
    let waker = common::calls_back_on_clone({
        let q = q.clone();
        move || q.shutdown()
    });
    let mut put = Task::new(q.put_checked(Counted(1, drops.clone())));
    put.poll_panics_with(&waker);
    assert_eq!(
        drops.load(Ordering::SeqCst),
        0,
        "the refused item was not dropped"
    );
    assert_eq!(put.ready().unwrap_err().into_inner().0, 1);
    assert_eq!(q.len(), 1);
    assert_eq!(q.try_get().map(|c| c.0).ok(), Some(0));
}

// ---- try_put_checked, Debug ----

use ciranda_sync::TryPutCheckedError;

/// `try_put_checked` says why it refused: `Full` while the queue has no room (also when the
/// room a get made is promised to a waiting put), `ShutDown` once the queue is shut down (full
/// or not); the item comes back either way. `try_put` refuses the same items, with a
/// `TryPutError` that cannot tell.
#[test]
fn try_put_checked_tells_full_from_shut_down() {
    let q = Queue::new(1);
    // With a getter waiting, the item is handed to it.
    let mut get = Task::new(q.get());
    get.pending();
    q.try_put_checked(1).unwrap();
    assert!(get.is_woken());
    assert_eq!(get.ready(), 1);
    q.try_put_checked(2).unwrap();
    let full = q.try_put_checked(3).unwrap_err();
    assert!(full.is_full() && !full.is_shut_down());
    assert_eq!(full, TryPutCheckedError::Full(3));
    assert_eq!(full.to_string(), "queue is full (would block)");
    assert_eq!(format!("{full:?}"), "Full(..)");
    assert_eq!(full.into_inner(), 3);
    // A get makes room for a waiting put: the room is promised to it.
    let mut put = Task::new(q.put(4));
    put.pending();
    assert_eq!(q.try_get(), Ok(2));
    assert!(put.is_woken());
    assert_eq!(q.try_put_checked(5), Err(TryPutCheckedError::Full(5)));
    put.ready();
    // Shut down while full: `ShutDown`, not `Full`.
    q.shutdown();
    let shut = q.try_put_checked(6).unwrap_err();
    assert!(shut.is_shut_down() && !shut.is_full());
    assert_eq!(shut, TryPutCheckedError::ShutDown(6));
    assert_eq!(shut.to_string(), "queue is shut down");
    assert_eq!(format!("{shut:?}"), "ShutDown(..)");
    assert_eq!(shut.clone().into_inner(), 6);
    let boxed: Box<dyn std::error::Error> = Box::new(shut);
    assert_eq!(boxed.to_string(), "queue is shut down");
    assert_eq!(q.try_put(7).unwrap_err().into_inner(), 7);
    // Shut down and empty: still `ShutDown`.
    assert_eq!(q.try_get(), Ok(4));
    assert_eq!(q.try_put_checked(8), Err(TryPutCheckedError::ShutDown(8)));
    assert!(q.is_empty());
    // Nothing refused was counted: the three items put (and taken) are the ones to mark done.
    for _ in 0..3 {
        q.task_done();
    }
    block_on(q.join());
}

/// `Debug` writes with the queue's lock released: a formatter's writer that calls back into the
/// queue (foreign code, as a waker is) does not deadlock, and the fields are one look at the
/// queue from before the call-back. The old code held the lock while writing, and such a
/// writer hung.
#[test]
fn debug_writes_with_the_lock_released() {
    use std::fmt::Write;

    struct PutsAtLen<'a> {
        queue: &'a Queue<u32>,
        out: String,
    }

    impl Write for PutsAtLen<'_> {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            if s == "len" {
                self.queue.try_put(9).unwrap();
            }
            self.out.push_str(s);
            Ok(())
        }
    }

    let shown = common::within_10s(|| {
        let q = Queue::new(0);
        q.try_put(1).unwrap();
        let mut writer = PutsAtLen {
            queue: &q,
            out: String::new(),
        };
        write!(writer, "{q:?}").unwrap();
        assert_eq!(q.len(), 2, "the writer's put went in");
        assert_eq!(
            format!("{q:?}"),
            "Queue { maxsize: 0, len: 2, unfinished: 2, shut_down: false }"
        );
        writer.out
    });
    assert_eq!(
        shown,
        "Queue { maxsize: 0, len: 1, unfinished: 1, shut_down: false }"
    );
}
