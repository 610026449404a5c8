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
