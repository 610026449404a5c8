#![cfg(not(loom))]
//! An idle scheduler uses no CPU: workers park instead of spinning.
//!
//! Reads the process's user+system time from `/proc/self/stat` over 200 ms. The bound is
//! generous (10 % of one core) so a loaded CI machine cannot make it flaky, while a single
//! spinning worker would burn ~100 %.

use ciranda_scheduler::Scheduler;
use std::time::Duration;

fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

#[test]
fn idle_workers_use_no_cpu() {
    let Some(_) = cpu_ticks() else {
        eprintln!("skipped: /proc/self/stat is not available on this platform");
        return;
    };
    let s = Scheduler::builder().worker_threads(4).build().unwrap();
    // Do some work first so every worker has been through the search/park cycle.
    for _ in 0..100 {
        s.block_on(s.spawn(async {})).unwrap();
    }
    std::thread::sleep(Duration::from_millis(50));
    let before = cpu_ticks().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let used = cpu_ticks().unwrap() - before;
    // Clock ticks are usually 100 per second: 200 ms of one busy core is ~20 ticks.
    assert!(
        used <= 2,
        "idle scheduler used {used} clock ticks in 200 ms"
    );
}
