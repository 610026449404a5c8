#![cfg(not(loom))]
//! A foreign executor's `block_on` nested inside a ciranda task (synchronous library code
//! that drives its own futures, `futures::executor::block_on` in a callback) polls ciranda's
//! leaf futures inside the task's poll, so they see the task's cooperative budget. Once that
//! budget was spent, every leaf refused (woke its waker and returned `Pending`), the nested
//! executor polled again at once, and the task's poll could never end to open a new budget:
//! the worker spun forever. Now the budget is given again after as many refusals in a row as
//! it has units, so such a loop makes progress.

use ciranda::runtime::Runtime;
use ciranda::sync::{Mutex, Semaphore, mpsc};
use ciranda_tests::support::within;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::{self, Thread};

/// A minimal foreign executor: polls `future` on this thread, parking between polls until its
/// own waker (not ciranda's) is called. Counts its polls in `polls`.
fn foreign_block_on<F: Future>(future: F, polls: &AtomicUsize) -> F::Output {
    struct Unparker(Thread);
    impl Wake for Unparker {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unparker(thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        polls.fetch_add(1, SeqCst);
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        thread::park();
    }
}

const OPERATIONS: usize = 20 * ciranda_scheduler::coop::BUDGET as usize;

fn run_nested(workers: usize) {
    within(30, "a foreign block_on inside a task", move || {
        let rt = Runtime::builder().worker_threads(workers).build().unwrap();
        rt.block_on(async {
            let polls = Arc::new(AtomicUsize::new(0));
            let counted = polls.clone();
            let total = ciranda::spawn(async move {
                let mutex = Mutex::new(0usize);
                let semaphore = Semaphore::new(1);
                let (tx, mut rx) = mpsc::unbounded_channel();
                // Synchronous code in the middle of the task drives its own future to the end.
                foreign_block_on(
                    async {
                        for i in 0..OPERATIONS {
                            *mutex.lock().await += 1;
                            drop(semaphore.acquire().await.unwrap());
                            tx.send(i).unwrap();
                            assert_eq!(rx.recv().await, Some(i));
                        }
                    },
                    &counted,
                );
                mutex.into_inner()
            })
            .await
            .unwrap();
            assert_eq!(total, OPERATIONS);
            // Refusals cost re-polls, but a bounded number: `REFUSALS_BEFORE_REFILL` (one
            // budget's worth) per refill, so at most one re-poll per unit spent. Each
            // iteration spends three units (lock, acquire, recv; an unbounded send is not
            // a wait).
            let polls = polls.load(SeqCst);
            assert!(
                polls <= 3 * OPERATIONS + 8,
                "{polls} polls of the nested future for {OPERATIONS} iterations"
            );
        });
    });
}

#[test]
fn a_foreign_block_on_inside_a_task_finishes_on_one_worker() {
    run_nested(1);
}

#[test]
fn a_foreign_block_on_inside_a_task_finishes_on_two_workers() {
    run_nested(2);
}

#[test]
fn a_foreign_block_on_inside_a_current_thread_task_finishes() {
    within(
        30,
        "a foreign block_on inside a current-thread task",
        || {
            let rt = Runtime::builder()
                .flavor(ciranda::Flavor::CurrentThread)
                .build()
                .unwrap();
            let sum = rt.block_on(async {
                ciranda::spawn(async {
                    let (tx, mut rx) = mpsc::unbounded_channel();
                    let polls = AtomicUsize::new(0);
                    foreign_block_on(
                        async {
                            let mut sum = 0;
                            for i in 0..OPERATIONS {
                                tx.send(i).unwrap();
                                sum += rx.recv().await.unwrap();
                            }
                            sum
                        },
                        &polls,
                    )
                })
                .await
                .unwrap()
            });
            assert_eq!(sum, (0..OPERATIONS).sum::<usize>());
        },
    );
}

/// The refill does not weaken the budget for ordinary tasks: a task looping over ready
/// receives still yields to the scheduler once per budget.
#[test]
fn a_task_looping_over_ready_receives_still_yields_once_per_budget() {
    within(30, "a ready loop", || {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(async {
            let (tx, mut rx) = mpsc::unbounded_channel();
            for i in 0..OPERATIONS {
                tx.send(i).unwrap();
            }
            let other_ran = Arc::new(AtomicUsize::new(0));
            let seen = other_ran.clone();
            let looper = ciranda::spawn(async move {
                // Start only once the counter runs: spawned after this task, on a loaded
                // machine it could otherwise come in after the whole loop.
                while seen.load(SeqCst) == 0 {
                    ciranda::task::yield_now().await;
                }
                let mut interleavings = 0;
                let mut last = seen.load(SeqCst);
                for _ in 0..OPERATIONS {
                    rx.recv().await.unwrap();
                    let now = seen.load(SeqCst);
                    if now != last {
                        interleavings += 1;
                        last = now;
                    }
                }
                interleavings
            });
            // A task that counts each time it gets the worker.
            let counter = ciranda::spawn(async move {
                loop {
                    other_ran.fetch_add(1, SeqCst);
                    ciranda::task::yield_now().await;
                }
            });
            let interleavings = looper.await.unwrap();
            counter.abort();
            // 20 budgets' worth of receives: the loop was interrupted about once per budget.
            assert!(
                interleavings >= 10,
                "the ready loop let the other task run only {interleavings} times"
            );
        });
    });
}

/// `timeout` yields instead of reporting `Elapsed` when the budget was spent before its poll
/// (the inner future's refusals say nothing). In code that polls in place that yield must
/// count as a refusal too, or a passed deadline around a future that never touches the
/// budget is never reported.
#[test]
fn a_timeout_in_a_foreign_block_on_inside_a_task_elapses_after_the_budget_is_spent() {
    within(30, "a timeout in a foreign block_on inside a task", || {
        let rt = Runtime::builder().worker_threads(1).build().unwrap();
        rt.block_on(async {
            ciranda::spawn(async {
                let (tx, mut rx) = mpsc::unbounded_channel();
                let polls = AtomicUsize::new(0);
                foreign_block_on(
                    async {
                        // Spend the task's budget.
                        for i in 0..usize::from(ciranda_scheduler::coop::BUDGET) {
                            tx.send(i).unwrap();
                            rx.recv().await.unwrap();
                        }
                        let waited = ciranda::time::timeout(
                            std::time::Duration::ZERO,
                            std::future::pending::<()>(),
                        )
                        .await;
                        assert!(waited.is_err(), "a passed deadline must elapse");
                    },
                    &polls,
                );
            })
            .await
            .unwrap();
        });
    });
}
