//! Where the memory bench's bytes per idle task go on ciranda: spawns `N` tasks from
//! `block_on` (as `benches/memory.rs` does), then reports the injector's depth when the
//! spawn loop returns, and, once every task has been polled, the growth of the resident set
//! beside glibc's own accounting (`mallinfo2`: bytes in use and bytes free in the arenas).
//! Free-but-resident bytes are what queues and backlogs left behind.
//!
//! ```text
//! cargo build --profile bench -p ciranda-benches --example memory_probe
//! target/release/examples/memory_probe [tasks] [rounds]
//! ```

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Duration;

#[repr(C)]
#[derive(Default)]
struct MallInfo2 {
    arena: usize,
    ordblks: usize,
    smblks: usize,
    hblks: usize,
    hblkhd: usize,
    usmblks: usize,
    fsmblks: usize,
    uordblks: usize,
    fordblks: usize,
    keepcost: usize,
}

unsafe extern "C" {
    fn mallinfo2() -> MallInfo2;
}

fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<usize>().expect("a number"));
    let tasks = args.next().unwrap_or(100_000);
    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .unwrap();
    rt.block_on(async {
        let warm: Vec<_> = (0..1_000)
            .map(|i| ciranda::spawn(async move { i }))
            .collect();
        for t in warm {
            t.await.unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(50));
    let polled = Arc::new(AtomicUsize::new(0));
    // SAFETY: mallinfo2 only reads the allocator's counters.
    let m0 = unsafe { mallinfo2() };
    let r0 = rss();
    let depth = rt.block_on(async {
        for _ in 0..tasks {
            let polled = polled.clone();
            drop(ciranda::spawn(async move {
                polled.fetch_add(1, Relaxed);
                std::future::pending::<()>().await;
            }));
        }
        ciranda::Handle::current().metrics().global_queue_depth()
    });
    let at_end = polled.load(Relaxed);
    while polled.load(Relaxed) < tasks {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(50));
    let r1 = rss();
    // SAFETY: as above.
    let m1 = unsafe { mallinfo2() };
    let per = |a: usize, b: usize| (b as f64 - a as f64) / tasks as f64;
    println!(
        "rss/task {:.1}  in-use/task {:.1}  free-in-arenas/task {:.1}  arena-growth/task {:.1}  injector at spawn end {depth}  polled at spawn end {at_end}",
        per(r0 as usize, r1 as usize),
        per(m0.uordblks + m0.hblkhd, m1.uordblks + m1.hblkhd),
        per(m0.fordblks, m1.fordblks),
        per(m0.arena, m1.arena),
    );
    std::process::exit(0);
}
