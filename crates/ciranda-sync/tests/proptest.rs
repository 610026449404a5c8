//! Property tests: random schedules on `Semaphore` and `Queue`.
#![cfg(not(loom))]

mod common;

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::task::Poll;

use ciranda_sync::{Put, Queue, Semaphore, SemaphorePermit};
use common::Task;
use futures_util::FutureExt;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum SemOp {
    Acquire(usize),
    Release(usize),
    Cancel(usize),
    Poll(usize),
    TryAcquire(usize),
}

fn sem_op() -> impl Strategy<Value = SemOp> {
    prop_oneof![
        (1usize..=3).prop_map(SemOp::Acquire),
        any::<usize>().prop_map(SemOp::Release),
        any::<usize>().prop_map(SemOp::Cancel),
        any::<usize>().prop_map(SemOp::Poll),
        (1usize..=3).prop_map(SemOp::TryAcquire),
    ]
}

proptest! {
    /// available + held == total whenever no waiter can hold a partial assignment; permits are
    /// never over-granted; grants go to a prefix of the waiters in arrival order; and when
    /// everything is dropped all permits are back.
    #[test]
    fn semaphore_accounting(total in 1usize..=4, ops in proptest::collection::vec(sem_op(), 1..60)) {
        let sem = Semaphore::new(total);
        let mut held: Vec<SemaphorePermit<'_>> = Vec::new();
        // Pending acquires in arrival order, with their batch sizes.
        let mut pending: Vec<(Task<_>, usize)> = Vec::new();
        for op in ops {
            match op {
                SemOp::Acquire(k) => {
                    let mut t = Task::new(sem.acquire_many(k));
                    match t.poll() {
                        Poll::Ready(p) => held.push(p.unwrap()),
                        Poll::Pending => pending.push((t, k)),
                    }
                }
                SemOp::TryAcquire(k) => {
                    if let Ok(p) = sem.try_acquire_many(k) {
                        held.push(p);
                    }
                }
                SemOp::Release(i) if !held.is_empty() => {
                    drop(held.swap_remove(i % held.len()));
                }
                SemOp::Cancel(i) if !pending.is_empty() => {
                    pending.remove(i % pending.len());
                }
                SemOp::Poll(i) if !pending.is_empty() => {
                    let i = i % pending.len();
                    if let Poll::Ready(p) = pending[i].0.poll() {
                        held.push(p.unwrap());
                        pending.remove(i);
                    }
                }
                _ => {}
            }
            let held_n: usize = held.iter().map(|p| p.num_permits()).sum();
            let granted_n: usize = pending.iter().filter(|(t, _)| t.is_woken()).map(|(_, k)| k).sum();
            prop_assert!(held_n + granted_n <= total, "over-granted");
            prop_assert!(sem.available_permits() + held_n + granted_n <= total);
            // A waiter is woken only when granted, and grants follow arrival order.
            let woken: Vec<bool> = pending.iter().map(|(t, _)| t.is_woken()).collect();
            prop_assert!(woken.windows(2).all(|w| w[0] || !w[1]), "grants out of order: {woken:?}");
            if pending.iter().all(|(t, _)| t.is_woken()) {
                prop_assert_eq!(sem.available_permits() + held_n + granted_n, total);
            }
        }
        drop(pending);
        drop(held);
        prop_assert_eq!(sem.available_permits(), total);
    }
}

#[derive(Debug, Clone)]
enum QueueOp {
    TryPut,
    Put,
    TryGet,
    TaskDone,
    CancelPut(usize),
    PollPut(usize),
    CheckJoin,
}

/// The model's blocked putters in arrival order: (task, value, admitted).
type Putters<'q> = Vec<(Task<Put<'q, u32>>, u32, bool)>;

fn queue_op() -> impl Strategy<Value = QueueOp> {
    prop_oneof![
        Just(QueueOp::TryPut),
        Just(QueueOp::Put),
        Just(QueueOp::TryGet),
        Just(QueueOp::TaskDone),
        any::<usize>().prop_map(QueueOp::CancelPut),
        any::<usize>().prop_map(QueueOp::PollPut),
        Just(QueueOp::CheckJoin),
    ]
}

proptest! {
    /// The queue behaves like a model FIFO (with FIFO putters, admitted in arrival order when a
    /// get makes room, whose items enter only when they are polled again, and never-enqueued
    /// cancelled puts, admitted or not), and `join` completes exactly when `task_done` has
    /// matched every put.
    #[test]
    fn queue_matches_model(maxsize in 0usize..=3, ops in proptest::collection::vec(queue_op(), 1..80)) {
        let q = Queue::new(maxsize);
        let mut next = 0u32;
        let mut items: VecDeque<u32> = VecDeque::new();
        let mut putters: Putters<'_> = Vec::new();
        let mut puts = 0usize;
        let mut taken = 0usize;
        let mut done = 0usize;
        let full = |len: usize| maxsize != 0 && len >= maxsize;
        // Rooms promised to admitted putters.
        let reserved = |putters: &Putters<'_>| putters.iter().filter(|p| p.2).count();
        // Admits the first waiting putters while there is room; each must have been woken.
        let admit = |putters: &mut Putters<'_>, len: usize| -> Result<(), TestCaseError> {
            while !full(len + reserved(&*putters)) {
                let Some(p) = putters.iter_mut().find(|p| !p.2) else { break };
                prop_assert!(p.0.is_woken(), "an admitted putter is woken");
                p.2 = true;
            }
            Ok(())
        };
        for op in ops {
            let waiting = putters.iter().any(|p| !p.2);
            match op {
                QueueOp::TryPut => {
                    let v = next;
                    next += 1;
                    let r = q.try_put(v);
                    if full(items.len() + reserved(&putters)) || waiting {
                        prop_assert!(r.is_err());
                        prop_assert_eq!(r.unwrap_err().into_inner(), v);
                    } else {
                        prop_assert!(r.is_ok());
                        items.push_back(v);
                        puts += 1;
                    }
                }
                QueueOp::Put => {
                    let v = next;
                    next += 1;
                    let mut t = Task::new(q.put(v));
                    if full(items.len() + reserved(&putters)) || waiting {
                        t.pending();
                        putters.push((t, v, false));
                    } else {
                        t.ready();
                        items.push_back(v);
                        puts += 1;
                    }
                }
                QueueOp::TryGet => {
                    let r = q.try_get();
                    match items.pop_front() {
                        None => prop_assert!(r.is_err()),
                        Some(v) => {
                            prop_assert_eq!(r, Ok(v));
                            taken += 1;
                            admit(&mut putters, items.len())?;
                        }
                    }
                }
                QueueOp::TaskDone => {
                    let r = catch_unwind(AssertUnwindSafe(|| q.task_done()));
                    if taken > done {
                        prop_assert!(r.is_ok());
                        done += 1;
                    } else {
                        prop_assert!(r.is_err(), "task_done beyond taken must panic");
                    }
                }
                QueueOp::CancelPut(i) if !putters.is_empty() => {
                    // Its item must never show up, even if it was admitted; an admitted one's
                    // room passes on.
                    let (_, _, admitted) = putters.remove(i % putters.len());
                    if admitted {
                        admit(&mut putters, items.len())?;
                    }
                }
                QueueOp::PollPut(i) if !putters.is_empty() => {
                    let i = i % putters.len();
                    if putters[i].2 {
                        // Admitted: its item enters now, into the room promised to it.
                        let (mut t, v, _) = putters.remove(i);
                        t.ready();
                        items.push_back(v);
                        puts += 1;
                    } else {
                        putters[i].0.pending();
                    }
                }
                QueueOp::CheckJoin => {
                    let joined = q.join().now_or_never().is_some();
                    prop_assert_eq!(joined, puts == done);
                }
                _ => {}
            }
            prop_assert_eq!(q.len(), items.len());
            prop_assert_eq!(q.is_full(), full(items.len() + reserved(&putters)));
        }
        drop(putters);
        // Drain: FIFO order is what the model says.
        let rest: Vec<u32> = std::iter::from_fn(|| q.try_get().ok()).collect();
        prop_assert_eq!(rest, Vec::from(items));
    }
}
