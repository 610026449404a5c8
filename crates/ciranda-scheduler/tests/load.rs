#![cfg(not(loom))]
//! Volume and fairness: a million tasks, deep spawn chains, yielding tasks vs. others.

use ciranda_scheduler::Scheduler;
use ciranda_scheduler::task::yield_now;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};

#[test]
fn one_million_tiny_tasks() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let c = counter.clone();
    let total = s.block_on(s.spawn(async move {
        let mut handles = Vec::with_capacity(1000);
        let mut sum = 0u64;
        for batch in 0..1000u64 {
            for i in 0..1000u64 {
                let c = c.clone();
                handles.push(ciranda_scheduler::spawn(async move {
                    c.fetch_add(1, SeqCst);
                    batch * 1000 + i
                }));
            }
            for h in handles.drain(..) {
                sum += h.await.unwrap();
            }
        }
        sum
    }));
    assert_eq!(counter.load(SeqCst), 1_000_000);
    assert_eq!(total.unwrap(), (0..1_000_000u64).sum());
    assert!(s.handle().tasks().is_empty());
}

#[test]
fn one_million_tasks_spawned_from_outside() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let counter = Arc::new(AtomicUsize::new(0));
    let handles: Vec<_> = (0..1_000_000)
        .map(|_| {
            let c = counter.clone();
            s.spawn(async move {
                c.fetch_add(1, SeqCst);
            })
        })
        .collect();
    s.block_on(async {
        for h in handles {
            h.await.unwrap();
        }
    });
    assert_eq!(counter.load(SeqCst), 1_000_000);
}

fn chain(depth: usize, done: Arc<AtomicUsize>) {
    if depth == 0 {
        done.fetch_add(1, SeqCst);
        return;
    }
    drop(ciranda_scheduler::spawn(
        async move { chain(depth - 1, done) },
    ));
}

#[test]
fn chained_spawn_ten_thousand_links() {
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    let done = Arc::new(AtomicUsize::new(0));
    let d = done.clone();
    s.block_on(async move { chain(10_000, d) });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while done.load(SeqCst) == 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(done.load(SeqCst), 1);
}

#[test]
fn chained_await_ten_thousand_links() {
    // Each link awaits the next one's JoinHandle: 10 000 tasks pending at once.
    fn link(depth: u32) -> std::pin::Pin<Box<dyn std::future::Future<Output = u32> + Send>> {
        Box::pin(async move {
            if depth == 0 {
                0
            } else {
                ciranda_scheduler::spawn(link(depth - 1)).await.unwrap() + 1
            }
        })
    }
    let s = Scheduler::builder().worker_threads(2).build().unwrap();
    assert_eq!(s.block_on(s.spawn(link(10_000))).unwrap(), 10_000);
}

#[test]
fn a_yielding_task_cannot_starve_others() {
    // One worker, one task that yields forever: the others must still run to completion.
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let st = stop.clone();
    let spinner = s.spawn(async move {
        let mut yields = 0u64;
        while !st.load(SeqCst) {
            yield_now().await;
            yields += 1;
        }
        yields
    });
    let done = Arc::new(AtomicUsize::new(0));
    let others: Vec<_> = (0..100)
        .map(|_| {
            let d = done.clone();
            s.spawn(async move {
                for _ in 0..10 {
                    yield_now().await;
                }
                d.fetch_add(1, SeqCst);
            })
        })
        .collect();
    s.block_on(async {
        for h in others {
            h.await.unwrap();
        }
    });
    assert_eq!(done.load(SeqCst), 100);
    stop.store(true, SeqCst);
    assert!(s.block_on(spinner).unwrap() > 0);
}

#[test]
fn a_self_waking_task_cannot_starve_the_injector() {
    // A task that wakes itself without returning Pending through yield_now (busy loop of
    // wake_by_ref + Pending) still lets tasks spawned from outside in.
    struct Busy(Arc<AtomicBool>);
    impl std::future::Future for Busy {
        type Output = ();
        fn poll(
            self: std::pin::Pin<&mut Self>,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<()> {
            if self.0.load(SeqCst) {
                return std::task::Poll::Ready(());
            }
            cx.waker().wake_by_ref();
            std::task::Poll::Pending
        }
    }
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let busy = s.spawn(Busy(stop.clone()));
    for i in 0..1000 {
        assert_eq!(s.block_on(s.spawn(async move { i })).unwrap(), i);
    }
    stop.store(true, SeqCst);
    s.block_on(busy).unwrap();
}

#[test]
fn budget_forces_a_yield_on_always_ready_join_handles() {
    // Awaiting many already-finished JoinHandles in one poll spends the coop budget, so the
    // awaiting task yields at least once instead of monopolising the worker.
    let s = Scheduler::builder().worker_threads(1).build().unwrap();
    let polls = s.block_on(s.spawn(async {
        let handles: Vec<_> = (0..1000)
            .map(|i| ciranda_scheduler::spawn(async move { i }))
            .collect();
        yield_now().await; // let them all finish
        struct CountPolls<F>(F, usize);
        impl<F: std::future::Future + Unpin> std::future::Future for CountPolls<F> {
            type Output = usize;
            fn poll(
                mut self: std::pin::Pin<&mut Self>,
                cx: &mut std::task::Context<'_>,
            ) -> std::task::Poll<usize> {
                self.1 += 1;
                match std::pin::Pin::new(&mut self.0).poll(cx) {
                    std::task::Poll::Ready(_) => std::task::Poll::Ready(self.1),
                    std::task::Poll::Pending => std::task::Poll::Pending,
                }
            }
        }
        let all = Box::pin(async move {
            let mut sum = 0;
            for h in handles {
                sum += h.await.unwrap();
            }
            sum
        });
        CountPolls(all, 0).await
    }));
    assert!(
        polls.unwrap() > 1,
        "1000 ready handles in one poll must exhaust the 128 budget"
    );
}
