#![cfg(not(loom))]
//! The cooperative budget is one counter (`ciranda-coop`) shared by the scheduler and the sync
//! primitives, so a task on a bare `ciranda_scheduler::Scheduler` that loops over
//! always-ready channel receives yields too. Before the budget had one home, the sync crate
//! spent it only through a hook that the facade installed when a `ciranda::Runtime` was built:
//! without one in the process the loop never yielded. This binary must never build a
//! `ciranda::Runtime`.

use ciranda::sync::mpsc;
use ciranda_scheduler::Scheduler;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll};

/// Counts the polls of the future it wraps.
struct CountPolls<F> {
    inner: Pin<Box<F>>,
    polls: Arc<AtomicUsize>,
}

impl<F: Future> Future for CountPolls<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        self.polls.fetch_add(1, SeqCst);
        self.inner.as_mut().poll(cx)
    }
}

#[test]
fn ready_receives_in_a_scheduler_task_spend_the_budget_without_the_facade() {
    const MESSAGES: usize = 3 * ciranda_scheduler::coop::BUDGET as usize;
    let sched = Scheduler::builder().worker_threads(1).build().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    for i in 0..MESSAGES {
        tx.send(i).unwrap();
    }
    let polls = Arc::new(AtomicUsize::new(0));
    let task = CountPolls {
        inner: Box::pin(async move {
            let mut received = 0;
            while received < MESSAGES {
                // Every message is already there: only the budget can make this yield.
                assert_eq!(rx.recv().await, Some(received));
                received += 1;
            }
            received
        }),
        polls: polls.clone(),
    };
    assert_eq!(sched.block_on(sched.spawn(task)).unwrap(), MESSAGES);
    // 3 × BUDGET ready receives at BUDGET per poll: the task yielded at least twice.
    let polls = polls.load(SeqCst);
    assert!(
        polls >= 3,
        "{polls} polls: the receives did not spend the budget"
    );
}
