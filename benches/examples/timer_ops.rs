//! Single timer operations in a loop, for instruction counts (`valgrind --tool=callgrind`)
//! where wall time is too noisy: the shapes of `benches/timers.rs` on a current-thread
//! runtime, so that one thread does all the work and every run does the same work.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example timer_ops
//! valgrind --tool=callgrind target/release/examples/timer_ops register_drop 100000
//! ```
//!
//! Operations: `register_drop` (a 60 s sleep polled once and dropped), `timeout_ready`
//! (`timeout(1 s, ready)`), `many_sleeps` (N tasks sleeping seeded-random 0–10 ms, all
//! awaited; a third argument sets the longest sleep in ms, default 10), `none` (the runtime
//! alone: subtract it).

use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Waker};
use std::time::Duration;

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().expect("operation");
    let n: usize = args.next().map_or(100_000, |a| a.parse().expect("count"));
    // Longer under valgrind, which runs ~50 times slower: the sleeps must still be pending
    // when first polled.
    let max_ms: u64 = args
        .next()
        .map_or(10, |a| a.parse().expect("max sleep, ms"));
    let rt = ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::CurrentThread)
        .build()
        .expect("runtime");
    rt.block_on(async move {
        match op.as_str() {
            "register_drop" => {
                let mut cx = Context::from_waker(Waker::noop());
                for _ in 0..n {
                    let mut sleep = pin!(ciranda::time::sleep(Duration::from_secs(60)));
                    assert!(sleep.as_mut().poll(&mut cx).is_pending());
                }
            }
            "timeout_ready" => {
                for _ in 0..n {
                    let out = ciranda::time::timeout(Duration::from_secs(1), async { 1 }).await;
                    assert_eq!(black_box(out), Ok(1));
                }
            }
            "many_sleeps" => {
                let mut x: u64 = 0x5EED_0F5A_9E55;
                let tasks: Vec<_> = (0..n)
                    .map(|_| {
                        x ^= x << 13;
                        x ^= x >> 7;
                        x ^= x << 17;
                        let d = Duration::from_nanos(x % (max_ms * 1_000_000));
                        ciranda::spawn(ciranda::time::sleep(d))
                    })
                    .collect();
                for t in tasks {
                    t.await.expect("sleeper");
                }
            }
            "none" => {}
            other => panic!("unknown operation {other}"),
        }
    });
}
