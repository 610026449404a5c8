//! Memory per idle task on ciranda, Tokio and smol: spawn 100 000 tasks that each get polled
//! once and then wait forever, and divide the growth of the resident set (`/proc/self/statm`)
//! by the number of tasks. Allocator and queue overheads count, as they do for a user.
//!
//! Each measurement runs in a child process of its own (this binary re-executed with
//! `--child <runtime>`), so that no runtime inherits memory another one freed. Every runtime
//! is measured three times and the median kept. The table is printed and written as
//! `memory.json` beside criterion's output (`$CRITERION_HOME`, else
//! `$CARGO_TARGET_DIR/criterion`, else `<target>/criterion` found from this executable's
//! path) for `report.py`.
//!
//! No criterion here: the quantity is a size, not a time.

#[macro_use]
mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::{Duration, Instant};

const TASKS: usize = 100_000;
const RUNS: usize = 3;
const RUNTIMES: [&str; 3] = ["ciranda", "tokio", "smol"];

/// The system page size, from the auxiliary vector (`AT_PAGESZ`).
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let auxv = std::fs::read("/proc/self/auxv").expect("read /proc/self/auxv");
    auxv.chunks_exact(16)
        .map(|pair| {
            let key = u64::from_ne_bytes(pair[..8].try_into().unwrap());
            let value = u64::from_ne_bytes(pair[8..].try_into().unwrap());
            (key, value)
        })
        .find(|&(key, _)| key == AT_PAGESZ)
        .map_or(4096, |(_, value)| value)
}

/// Resident set size in bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("read /proc/self/statm");
    let resident: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|f| f.parse().ok())
        .expect("statm resident field");
    resident * page_size()
}

/// Spawns `TASKS` idle tasks on `$rt` and prints `RESULT <rss before> <rss after>`.
macro_rules! measure {
    ($rt:ident) => {{
        use crate::common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let polled = Arc::new(AtomicUsize::new(0));
        // Warm up: threads, thread-locals, queues and allocator arenas exist before the
        // first reading.
        runtime.block_on(async {
            let warm: Vec<_> = (0..1_000).map(|i| rt::spawn(async move { i })).collect();
            for t in warm {
                rt::join(t).await;
            }
        });
        std::thread::sleep(Duration::from_millis(50));
        let before = rss();
        runtime.block_on(async {
            for _ in 0..TASKS {
                let polled = polled.clone();
                rt::detach(rt::spawn(async move {
                    polled.fetch_add(1, Relaxed);
                    std::future::pending::<()>().await;
                }));
            }
        });
        let deadline = Instant::now() + Duration::from_secs(60);
        while polled.load(Relaxed) < TASKS {
            assert!(
                Instant::now() < deadline,
                "tasks were not all polled within 60 s"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(50));
        let after = rss();
        println!("RESULT {before} {after}");
        // Exit without dropping 100 000 tasks: the child's job is done.
        std::process::exit(0);
    }};
}

fn child(runtime: &str) -> ! {
    match runtime {
        "ciranda" => measure!(ciranda_rt),
        "tokio" => measure!(tokio_rt),
        "smol" => measure!(smol_rt),
        other => panic!("unknown runtime {other:?}"),
    }
}

struct Sample {
    before: u64,
    after: u64,
}

impl Sample {
    fn bytes_per_task(&self) -> f64 {
        self.after.saturating_sub(self.before) as f64 / TASKS as f64
    }
}

fn run_child(runtime: &str) -> Sample {
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new(exe)
        .args(["--child", runtime])
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{runtime} child failed: {}\n{stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix("RESULT "))
        .unwrap_or_else(|| panic!("{runtime} child printed no result:\n{stdout}"));
    let mut fields = line.split_whitespace().map(|f| f.parse::<u64>().unwrap());
    Sample {
        before: fields.next().unwrap(),
        after: fields.next().unwrap(),
    }
}

fn criterion_dir() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // <target>/<profile>/deps/memory-<hash>
    let exe = std::env::current_exe().expect("current_exe");
    exe.ancestors()
        .nth(3)
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("criterion")
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(i) = args.iter().position(|a| a == "--child") {
        child(args.get(i + 1).map(String::as_str).unwrap_or(""));
    }
    // `cargo bench -- FILTER`: run only if the filter could mean this target.
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if !filters.is_empty() && !filters.iter().any(|f| "memory".contains(f.as_str())) {
        return;
    }

    let runs = if common::quick() { 1 } else { RUNS };
    let mut rows = Vec::new();
    for name in RUNTIMES {
        let mut samples: Vec<Sample> = (0..runs).map(|_| run_child(name)).collect();
        samples.sort_by(|a, b| a.bytes_per_task().total_cmp(&b.bytes_per_task()));
        let median = samples.swap_remove(samples.len() / 2);
        rows.push((name, median));
    }

    println!(
        "\nmemory: resident bytes per idle task ({TASKS} tasks, {} workers, median of {runs})",
        common::workers()
    );
    println!(
        "{:<10} {:>14} {:>14} {:>12}",
        "runtime", "rss before", "rss after", "bytes/task"
    );
    for (name, s) in &rows {
        println!(
            "{:<10} {:>14} {:>14} {:>12.1}",
            name,
            s.before,
            s.after,
            s.bytes_per_task()
        );
    }

    let entries: Vec<String> = rows
        .iter()
        .map(|(name, s)| {
            format!(
                "    \"{name}\": {{\"bytes_per_task\": {:.1}, \"rss_before\": {}, \"rss_after\": {}}}",
                s.bytes_per_task(),
                s.before,
                s.after
            )
        })
        .collect();
    let json = format!(
        "{{\n  \"tasks\": {TASKS},\n  \"workers\": {},\n  \"runs\": {runs},\n  \"results\": {{\n{}\n  }}\n}}\n",
        common::workers(),
        entries.join(",\n")
    );
    let dir = criterion_dir();
    std::fs::create_dir_all(&dir).expect("create criterion dir");
    let path = dir.join("memory.json");
    std::fs::write(&path, json).expect("write memory.json");
    println!("written: {}", path.display());
}
