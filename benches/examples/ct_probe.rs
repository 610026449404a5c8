//! `current_thread/ping_pong` and `current_thread/chained_spawn` without criterion: one
//! current-thread runtime per process, the bench's workload run in batches; prints the median,
//! 10th and 90th percentiles of a batch's time.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example ct_probe
//! target/release/examples/ct_probe <runtime> <ping_pong|chained_spawn> [batches]
//! ```
//!
//! `runtime` is `ciranda`, `tokio` or `smol`; 1 000 pairs or spawns a batch, 2 000 batches by
//! default.

#[path = "../common/mod.rs"]
mod common;

use std::time::Instant;

macro_rules! probe {
    ($rt:ident, $workload:expr, $batches:expr) => {{
        use common::$rt as rt;

        async fn ping_pong() {
            let pairs: Vec<_> = (0..1_000)
                .map(|_| {
                    rt::spawn(async {
                        let (tx1, rx1) = rt::oneshot();
                        let (tx2, rx2) = rt::oneshot();
                        rt::detach(rt::spawn(async move {
                            rt::orecv(rx1).await;
                            rt::osend(tx2, ());
                        }));
                        rt::osend(tx1, ());
                        rt::orecv(rx2).await;
                    })
                })
                .collect();
            for p in pairs {
                rt::join(p).await;
            }
        }

        fn chain(done: rt::OTx<()>, n: usize) {
            if n == 0 {
                rt::osend(done, ());
            } else {
                rt::detach(rt::spawn(async move { chain(done, n - 1) }));
            }
        }

        let runtime = rt::Rt::current_thread();
        let mut times = Vec::new();
        for _ in 0..$batches {
            let start = Instant::now();
            match $workload {
                "ping_pong" => runtime.block_on(ping_pong()),
                "chained_spawn" => runtime.block_on(async {
                    let (tx, rx) = rt::oneshot();
                    chain(tx, 1_000);
                    rt::orecv(rx).await;
                }),
                other => panic!("unknown workload {other:?}"),
            }
            times.push(start.elapsed());
        }
        println!(
            "{:8} {:14} {}",
            stringify!($rt),
            $workload,
            common::summary(times)
        );
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = args.get(1).map(String::as_str).unwrap_or("ciranda");
    let workload = args.get(2).map(String::as_str).unwrap_or("ping_pong");
    let batches: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(2_000);
    match runtime {
        "ciranda" => probe!(ciranda_rt, workload, batches),
        "tokio" => probe!(tokio_rt, workload, batches),
        "smol" => probe!(smol_rt, workload, batches),
        other => panic!("unknown runtime {other:?}"),
    }
}
