//! `TaskGroup::spawner`: members that join a group from inside another member, from other
//! tasks, and while `join` waits (asyncio's `tg.create_task` on a group passed along).

use ciranda::sync::Event;
use ciranda::task::{GroupSpawner, TaskGroup};
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Waker};

struct DropCounter(Arc<AtomicUsize>);
impl Drop for DropCounter {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// Sets `parked` each time the inner future returns `Pending`.
struct ReportsPending<F> {
    inner: Pin<Box<F>>,
    parked: Arc<Event>,
}

impl<F: Future> Future for ReportsPending<F> {
    type Output = F::Output;
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let poll = self.inner.as_mut().poll(cx);
        if poll.is_pending() {
            self.parked.set();
        }
        poll
    }
}

#[ciranda::test]
async fn a_member_spawns_siblings_and_join_waits_for_them_in_spawn_order() {
    let mut group = TaskGroup::<u32, String>::new();
    let spawner = group.spawner();
    group.spawn(async move {
        for i in 1..=3 {
            let spawner_inner = spawner.clone();
            spawner
                .spawn(async move {
                    // A grandchild, spawned from a child spawned from a member.
                    ciranda::time::sleep(std::time::Duration::from_millis(2)).await;
                    spawner_inner.spawn(async move { Ok(100 + i) }).unwrap();
                    Ok(i)
                })
                .unwrap();
        }
        Ok(0)
    });
    let results = group.join().await.unwrap();
    // Index order is spawn order: the member, its three children, then the grandchildren
    // in the order the children spawned them (any order, as they ran concurrently).
    assert_eq!(results.len(), 7);
    assert_eq!(&results[..4], &[0, 1, 2, 3]);
    let mut grandchildren = results[4..].to_vec();
    grandchildren.sort_unstable();
    assert_eq!(grandchildren, vec![101, 102, 103]);
}

#[ciranda::test]
async fn a_spawn_while_join_waits_is_joined_too() {
    let mut group = TaskGroup::<&'static str, String>::new();
    let spawner = group.spawner();
    let go = Arc::new(Event::new());
    let gate = go.clone();
    group.spawn(async move {
        gate.wait().await;
        Ok("first")
    });
    let parked = Arc::new(Event::new());
    let join = ciranda::spawn(ReportsPending {
        inner: Box::pin(group.join()),
        parked: parked.clone(),
    });
    // `join` has returned `Pending` at least once: it waits for the first member.
    parked.wait().await;
    spawner.spawn(async { Ok("second") }).unwrap();
    go.set();
    assert_eq!(join.await.unwrap().unwrap(), vec!["first", "second"]);
    // Done: the spawner is refused and gives the future back.
    let refused = spawner.spawn(async { Ok("third") }).unwrap_err();
    assert!(refused.is_finished());
    assert_eq!(refused.into_future().await, Ok("third"));
}

#[ciranda::test]
async fn a_spawn_after_the_last_member_ended_but_before_join_returned_is_joined() {
    // A member spawns its successor as its very last act: the set is empty for a moment, but
    // a spawn is under way, and `join` must wait for it instead of returning.
    let mut group = TaskGroup::<usize, String>::new();
    let spawner = group.spawner();
    // Not an `async fn`: the recursion needs the `Send` bound spelled out.
    #[allow(clippy::manual_async_fn)]
    fn chain(
        spawner: GroupSpawner<usize, String>,
        left: usize,
    ) -> impl Future<Output = Result<usize, String>> + Send + 'static {
        async move {
            if left > 0 {
                let next = spawner.clone();
                spawner.spawn(chain(next, left - 1)).unwrap();
            }
            Ok(left)
        }
    }
    group.spawn(chain(spawner, 50));
    assert_eq!(
        group.join().await.unwrap(),
        (0..=50).rev().collect::<Vec<_>>()
    );
}

#[ciranda::test]
async fn spawns_racing_the_end_of_join_are_either_joined_or_refused() {
    // Outside tasks keep spawning while the group's members end; every spawn the group
    // accepted must come out of `join`, and every one after `join` returned is refused.
    // (`join` may also outlast them: a feeder stops after 300 spawns.)
    for _ in 0..50 {
        let mut group = TaskGroup::<usize, String>::new();
        group.spawn(async { Ok(0) });
        let accepted = Arc::new(AtomicUsize::new(1));
        let mut feeders = Vec::new();
        for _ in 0..2 {
            let spawner = group.spawner();
            let accepted = accepted.clone();
            feeders.push(ciranda::spawn(async move {
                for i in 1..=300 {
                    match spawner.spawn(async move { Ok(i) }) {
                        Ok(_) => {
                            accepted.fetch_add(1, SeqCst);
                        }
                        Err(refused) => {
                            assert!(refused.is_finished(), "{refused}");
                            return;
                        }
                    }
                    if i % 8 == 0 {
                        ciranda::task::yield_now().await;
                    }
                }
            }));
        }
        let results = group.join().await.unwrap();
        for feeder in feeders {
            feeder.await.unwrap();
        }
        assert_eq!(results.len(), accepted.load(SeqCst));
    }
}

#[ciranda::test]
async fn a_failed_group_refuses_spawns_and_gives_the_future_back() {
    struct SetOnDrop(Arc<Event>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.set();
        }
    }
    let mut group = TaskGroup::<(), String>::new();
    let spawner = group.spawner();
    let cancelled = Arc::new(Event::new());
    let guard = SetOnDrop(cancelled.clone());
    spawner
        .spawn(async move {
            let _guard = guard;
            pending().await
        })
        .unwrap();
    group.spawn(async { Err("broken".to_string()) });
    // The pending member is dropped when the failure cancels it, after the group recorded
    // the failure.
    cancelled.wait().await;
    let refused = spawner.spawn(async { Ok(()) }).unwrap_err();
    assert!(refused.is_shutting_down());
    assert!(!refused.is_finished());
    assert!(refused.to_string().contains("shutting down"), "{refused}");
    assert_eq!(refused.into_future().await, Ok(()));
    let error = group.join().await.unwrap_err();
    assert_eq!(error.errors(), ["broken".to_string()]);
    assert!(error.cancelled().is_empty());
    assert!(error.panics().is_empty());
    assert!(spawner.spawn(async { Ok(()) }).unwrap_err().is_finished());
}

#[ciranda::test]
async fn a_spawned_member_failure_fails_the_group() {
    let mut group = TaskGroup::<u32, String>::new();
    let spawner = group.spawner();
    let dropped = Arc::new(AtomicUsize::new(0));
    let guard = DropCounter(dropped.clone());
    group.spawn(async move {
        let _guard = guard;
        pending().await
    });
    spawner
        .spawn(async { Err("from a spawner".to_string()) })
        .unwrap();
    let error = group.join().await.unwrap_err();
    assert_eq!(error.errors(), ["from a spawner".to_string()]);
    assert_eq!(dropped.load(SeqCst), 1);
}

#[ciranda::test]
async fn dropping_the_group_cancels_spawned_members_and_refuses_spawners() {
    let group = TaskGroup::<(), String>::new();
    let spawner = group.spawner();
    let dropped = Arc::new(AtomicUsize::new(0));
    for _ in 0..3 {
        let guard = DropCounter(dropped.clone());
        spawner
            .spawn(async move {
                let _guard = guard;
                pending().await
            })
            .unwrap();
    }
    assert_eq!(group.len(), 3);
    drop(group);
    let refused = spawner.spawn(async { Ok(()) }).unwrap_err();
    assert!(refused.is_finished());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while dropped.load(SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "members never cancelled"
        );
        ciranda::time::sleep(std::time::Duration::from_millis(1)).await;
    }
}

/// A waker whose clone spawns into the group: `join` must not hold a lock of the group
/// while it clones the caller's waker.
struct SpawnsOnClone {
    spawner: GroupSpawner<u32, String>,
    inner: Waker,
    /// Spawns made by clones, over every poll.
    spawned: Arc<AtomicUsize>,
}

#[ciranda::test]
async fn join_does_not_hold_the_group_while_it_clones_the_waker() {
    // `Wake` has no clone hook, so the test clones through a raw waker vtable instead.
    use std::task::{RawWaker, RawWakerVTable};

    unsafe fn clone(data: *const ()) -> RawWaker {
        // SAFETY: `data` is an `Arc<SpawnsOnClone>` leaked by `waker_for`; we add a count.
        let this = unsafe { &*(data as *const SpawnsOnClone) };
        if this.spawned.fetch_add(1, SeqCst) == 0 {
            this.spawner.spawn(async { Ok(7) }).unwrap();
        }
        // SAFETY: the waker being cloned holds a count, so the `Arc` is alive.
        unsafe { Arc::increment_strong_count(data as *const SpawnsOnClone) };
        RawWaker::new(data, &VTABLE)
    }
    unsafe fn wake(data: *const ()) {
        // SAFETY: takes over the count of this waker.
        let this = unsafe { Arc::from_raw(data as *const SpawnsOnClone) };
        this.inner.wake_by_ref();
    }
    unsafe fn wake_by_ref(data: *const ()) {
        // SAFETY: the waker holds a count.
        let this = unsafe { &*(data as *const SpawnsOnClone) };
        this.inner.wake_by_ref();
    }
    unsafe fn drop_waker(data: *const ()) {
        // SAFETY: gives up this waker's count.
        drop(unsafe { Arc::from_raw(data as *const SpawnsOnClone) });
    }
    static VTABLE: RawWakerVTable = RawWakerVTable::new(clone, wake, wake_by_ref, drop_waker);

    let mut group = TaskGroup::<u32, String>::new();
    let spawner = group.spawner();
    let go = Arc::new(Event::new());
    let gate = go.clone();
    group.spawn(async move {
        gate.wait().await;
        Ok(1)
    });
    let mut join = Box::pin(group.join());
    let spawned = Arc::new(AtomicUsize::new(0));
    let results = std::future::poll_fn(|cx| {
        let state = Arc::new(SpawnsOnClone {
            spawner: spawner.clone(),
            inner: cx.waker().clone(),
            spawned: spawned.clone(),
        });
        let data = Arc::into_raw(state) as *const ();
        // SAFETY: the vtable's functions uphold the `RawWaker` contract over the `Arc`.
        let waker = unsafe { Waker::from_raw(RawWaker::new(data, &VTABLE)) };
        let poll = join.as_mut().poll(&mut Context::from_waker(&waker));
        go.set();
        poll
    })
    .await
    .unwrap();
    // The member spawned from the clone (in the first poll that parked) is joined.
    assert_eq!(results, vec![1, 7]);
}
