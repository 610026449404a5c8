//! The task combinators' cost per child, which no criterion row covers: `gather`,
//! `try_gather`, a `JoinSet` and a `TaskGroup` of `children` trivial futures, spawned from a
//! task on the benches' worker count (`CIRANDA_BENCH_WORKERS`, default 2). Prints each
//! workload's median, minimum and 90th percentile per iteration, and the median per child.
//! For comparing two builds of ciranda (alternate the binaries); ciranda only.
//!
//! ```text
//! gather_probe [children] [iterations]     # defaults: 10 000 children, 60 iterations
//! ```

#[path = "../common/mod.rs"]
mod common;

use ciranda::task::{JoinSet, TaskGroup};
use std::convert::Infallible;
use std::hint::black_box;
use std::time::{Duration, Instant};

fn report(label: &str, children: usize, times: &mut [Duration]) {
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "{label}: median {median:?} min {:?} p90 {:?}; {:.1} ns a child",
        times[0],
        times[times.len() * 9 / 10],
        median.as_nanos() as f64 / children as f64,
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let children: usize = args
        .first()
        .map_or(10_000, |n| n.parse().expect("children"));
    let iters: usize = args.get(1).map_or(60, |n| n.parse().expect("iterations"));
    let runtime = common::ciranda_rt::Rt::new(common::workers());
    // Each iteration runs in a spawned task, so that the children are spawned from a worker.
    let in_task = |work: fn(
        usize,
    ) -> std::pin::Pin<
        Box<dyn std::future::Future<Output = Duration> + Send>,
    >| {
        runtime.block_on(async move { ciranda::spawn(work(children)).await.unwrap() })
    };
    let measure = |label: &str, one: &dyn Fn() -> Duration| {
        for _ in 0..iters / 10 + 1 {
            one(); // warm-up
        }
        let mut times: Vec<Duration> = (0..iters).map(|_| one()).collect();
        report(label, children, &mut times);
    };
    measure("gather", &|| {
        in_task(|children| {
            Box::pin(async move {
                let start = Instant::now();
                let out = ciranda::gather((0..children).map(|i| async move { i })).await;
                black_box(out);
                start.elapsed()
            })
        })
    });
    measure("try_gather", &|| {
        in_task(|children| {
            Box::pin(async move {
                let start = Instant::now();
                let out = ciranda::try_gather(
                    (0..children).map(|i| async move { Ok::<_, Infallible>(i) }),
                )
                .await;
                black_box(out.unwrap());
                start.elapsed()
            })
        })
    });
    measure("join_set", &|| {
        in_task(|children| {
            Box::pin(async move {
                let start = Instant::now();
                let mut set = JoinSet::new();
                for i in 0..children {
                    set.spawn(async move { i });
                }
                while let Some(out) = set.join_next().await {
                    black_box(out.unwrap());
                }
                start.elapsed()
            })
        })
    });
    measure("task_group", &|| {
        in_task(|children| {
            Box::pin(async move {
                let start = Instant::now();
                let mut group = TaskGroup::<usize, Infallible>::new();
                for i in 0..children {
                    group.spawn(async move { Ok(i) });
                }
                black_box(group.join().await.unwrap());
                start.elapsed()
            })
        })
    });
}
