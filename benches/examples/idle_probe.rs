//! Resident bytes per idle task, quickly and for two task shapes: the memory bench's method
//! (`benches/memory.rs`: spawn tasks that are polled once and then wait forever, divide the
//! growth of `/proc/self/statm`'s resident set by their number), without its LTO build.
//!
//! ```text
//! idle_probe [tasks]            # every runtime and shape, each in a child process
//! idle_probe --child <runtime> <shape> <tasks>
//! ```
//!
//! Shapes: `pending` awaits `std::future::pending()` and nothing else (a one-byte async
//! block, the shape of an independent measurement); `counting` is the memory bench's task (it
//! holds an `Arc` and bumps a counter first: a 16-byte async block).

#[path = "../common/mod.rs"]
mod common;

use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::{Duration, Instant};

const RUNTIMES: [&str; 3] = ["ciranda", "tokio", "smol"];
const SHAPES: [&str; 2] = ["pending", "counting"];

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm resident field");
    pages * page_size()
}

/// The page size, from the auxiliary vector (`AT_PAGESZ`), as `benches/memory.rs` reads it.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").expect("read /proc/self/auxv");
    auxv.chunks_exact(16)
        .map(|pair| {
            let key = u64::from_ne_bytes(pair[..8].try_into().unwrap());
            (key, u64::from_ne_bytes(pair[8..].try_into().unwrap()))
        })
        .find(|&(key, _)| key == AT_PAGESZ)
        .map_or(4096, |(_, value)| value)
}

macro_rules! measure {
    ($rt:ident, $shape:expr, $tasks:expr) => {{
        use crate::common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let polled = Arc::new(AtomicUsize::new(0));
        runtime.block_on(async {
            let warm: Vec<_> = (0..1_000).map(|i| rt::spawn(async move { i })).collect();
            for t in warm {
                rt::join(t).await;
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let before = rss();
        let tasks = $tasks;
        runtime.block_on(async {
            for _ in 0..tasks {
                if $shape == "pending" {
                    rt::detach(rt::spawn(async { std::future::pending::<()>().await }));
                } else {
                    let polled = polled.clone();
                    rt::detach(rt::spawn(async move {
                        polled.fetch_add(1, Relaxed);
                        std::future::pending::<()>().await;
                    }));
                }
            }
        });
        if $shape == "counting" {
            let deadline = Instant::now() + Duration::from_secs(60);
            while polled.load(Relaxed) < tasks {
                assert!(Instant::now() < deadline, "tasks were not all polled");
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // Time for the workers to poll the `pending` shape too (it cannot be counted).
        std::thread::sleep(Duration::from_millis(300));
        let after = rss();
        println!("RESULT {:.1}", (after - before) as f64 / tasks as f64);
        std::process::exit(0);
    }};
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        let tasks: usize = args[3].parse().expect("task count");
        let shape = args[2].as_str();
        assert!(SHAPES.contains(&shape), "unknown shape {shape:?}");
        match args[1].as_str() {
            "ciranda" => measure!(ciranda_rt, shape, tasks),
            "tokio" => measure!(tokio_rt, shape, tasks),
            "smol" => measure!(smol_rt, shape, tasks),
            other => panic!("unknown runtime {other:?}"),
        }
    }
    let tasks: usize = args
        .first()
        .map_or(200_000, |t| t.parse().expect("task count"));
    let exe = std::env::current_exe().expect("current_exe");
    println!("resident bytes per idle task, {tasks} tasks, median of 3");
    for shape in SHAPES {
        for runtime in RUNTIMES {
            let mut samples: Vec<f64> = (0..3)
                .map(|_| {
                    let out = Command::new(&exe)
                        .args(["--child", runtime, shape, &tasks.to_string()])
                        .output()
                        .expect("run child");
                    let stdout = String::from_utf8_lossy(&out.stdout);
                    assert!(out.status.success(), "{runtime} child failed: {stdout}");
                    stdout
                        .lines()
                        .find_map(|l| l.strip_prefix("RESULT "))
                        .and_then(|v| v.parse().ok())
                        .unwrap_or_else(|| panic!("{runtime} printed no result: {stdout}"))
                })
                .collect();
            samples.sort_by(f64::total_cmp);
            println!(
                "{shape:<9} {runtime:<8} {:>7.1}  (runs {samples:?})",
                samples[1]
            );
        }
    }
}
