//! `scheduler/spawn_many_remote_busy1` over many runtime instances: the workload is bimodal
//! per instance on a 2-vCPU machine (the mode follows where the workers and the spawning
//! thread land), so one criterion run — one instance per runtime — can land in either mode.
//! This probe builds `instances` fresh runtimes of each kind, alternating, runs `iters`
//! iterations on each and prints every instance's median, so a change can be judged on its
//! distribution rather than on one draw.
//!
//! ```text
//! remote_spawn_probe [instances] [iters]     # defaults: 10 instances, 30 iterations
//! ```

#[path = "../common/mod.rs"]
mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::time::{Duration, Instant};

const NUM_SPAWN: usize = 10_000;
const STALL: Duration = Duration::from_micros(10);

/// Busy work that lets the OS run someone else, as the bench's does.
fn stall() {
    let start = Instant::now();
    while start.elapsed() < STALL {
        std::thread::yield_now();
    }
}

macro_rules! instance {
    ($rt:ident, $iters:expr) => {{
        use common::$rt as rt;
        let workers = common::workers();
        let runtime = rt::Rt::new(workers);
        let flag = Arc::new(AtomicBool::new(true));
        let busy: Vec<_> = (0..2 * workers)
            .map(|_| {
                let flag = flag.clone();
                runtime.spawn(async move {
                    while flag.load(Relaxed) {
                        rt::yield_now().await;
                        stall();
                    }
                })
            })
            .collect();
        let mut times = Vec::with_capacity($iters);
        let mut handles = Vec::with_capacity(NUM_SPAWN);
        for _ in 0..$iters {
            let start = Instant::now();
            for _ in 0..NUM_SPAWN {
                handles.push(runtime.spawn(async {}));
            }
            runtime.block_on(async {
                for h in handles.drain(..) {
                    rt::join(h).await;
                }
            });
            times.push(start.elapsed());
        }
        flag.store(false, Relaxed);
        runtime.block_on(async {
            for h in busy {
                rt::join(h).await;
            }
        });
        times.sort();
        times[times.len() / 2]
    }};
}

fn main() {
    let mut args = std::env::args().skip(1);
    let instances: usize = args.next().map_or(10, |a| a.parse().expect("instances"));
    let iters: usize = args.next().map_or(30, |a| a.parse().expect("iters"));
    let (mut ciranda, mut smol) = (Vec::new(), Vec::new());
    for _ in 0..instances {
        ciranda.push(instance!(ciranda_rt, iters));
        smol.push(instance!(smol_rt, iters));
    }
    let show = |name: &str, v: &mut Vec<Duration>| {
        let list: Vec<String> = v
            .iter()
            .map(|d| format!("{:.2}", d.as_secs_f64() * 1e3))
            .collect();
        v.sort();
        println!(
            "{name:8} median {:.2} ms, max {:.2} ms; instances (ms): {}",
            v[v.len() / 2].as_secs_f64() * 1e3,
            v[v.len() - 1].as_secs_f64() * 1e3,
            list.join(" ")
        );
    };
    show("ciranda", &mut ciranda);
    show("smol", &mut smol);
}
