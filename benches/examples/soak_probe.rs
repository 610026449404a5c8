//! A soak run: one process serves HTTP and hammers itself for a while with the traffic of a
//! long-lived service (pooled HTTP/1.1 and HTTP/2 requests, connections that close after one
//! request, connections dropped before or in the middle of a request head), plus timer,
//! `TaskGroup` and `Queue` churn. Every interval it prints what would grow if something
//! leaked: live heap bytes (a counting global allocator), live tasks, open file descriptors
//! and the resident set. After the warm-up interval these must level off.
//!
//! ```text
//! cargo run --release -p ciranda-benches --example soak_probe -- [seconds] [interval] [current_thread]
//! ```
//!
//! It exits with a failure if an interval completed no operation, or if the peak of live heap
//! bytes, tasks, descriptors or unreaped children in the second half of the run (the first
//! sample is the warm-up) is more than half again the first half's, plus a margin (2 MiB of
//! heap, 128 tasks or descriptors, 8 children).

#[path = "../../crates/ciranda-http/examples/hello_server/service.rs"]
mod service;

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

/// Bytes currently allocated by the whole process.
static LIVE: AtomicI64 = AtomicI64::new(0);

/// The system allocator, keeping a count of live bytes.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is a relaxed atomic and never allocates.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as i64, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        LIVE.fetch_add(size as i64 - layout.size() as i64, Relaxed);
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        LIVE.fetch_sub(layout.size() as i64, Relaxed);
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Operations completed by the load tasks, so a stalled soak is seen too.
static DONE: AtomicU64 = AtomicU64::new(0);

struct Sample {
    heap: i64,
    tasks: usize,
    fds: usize,
    rss_kib: u64,
    zombies: usize,
    done: u64,
}

/// Children of this process that exited and were not reaped.
fn zombies() -> usize {
    let me = std::process::id().to_string();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return 0;
    };
    procs
        .filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("stat")).ok())
        .filter(|stat| {
            // After the command's closing parenthesis: state, then the parent's pid.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let mut fields = rest.split_whitespace();
            fields.next() == Some("Z") && fields.next() == Some(me.as_str())
        })
        .count()
}

fn sample(handle: &ciranda::Handle) -> Sample {
    let fds = std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let rss_kib = std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| s.split_whitespace().nth(1)?.parse::<u64>().ok())
        .map_or(0, |pages| pages * 4);
    Sample {
        heap: LIVE.load(Relaxed),
        tasks: handle.metrics().num_alive_tasks(),
        fds,
        rss_kib,
        zombies: zombies(),
        done: DONE.load(Relaxed),
    }
}

/// One request with `Connection: close` on a fresh blocking connection, read to the end.
fn close_after_one(addr: SocketAddr) {
    let Ok(mut s) = std::net::TcpStream::connect(addr) else {
        return;
    };
    let _ = s.write_all(b"GET / HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n");
    let mut sink = Vec::new();
    let _ = s.read_to_end(&mut sink);
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let seconds: u64 = args.next().map_or(120, |s| s.parse().expect("seconds"));
    let interval: u64 = args.next().map_or(10, |s| s.parse().expect("interval"));
    let flavor = match args.next().as_deref() {
        Some("current_thread") => ciranda::Flavor::CurrentThread,
        _ => ciranda::Flavor::MultiThread,
    };
    let runtime = ciranda::Runtime::builder()
        .flavor(flavor)
        .build()
        .expect("runtime");
    let handle = runtime.handle().clone();
    let stop = Arc::new(AtomicBool::new(false));

    let addr = runtime.block_on(async {
        // Every loopback address reaches it, so a client can be made to see many hosts.
        let listener = ciranda::net::TcpListener::bind("0.0.0.0:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let served =
            ciranda_http::server::serve(listener, hyper::service::service_fn(service::hello))
                .header_read_timeout(Duration::from_millis(500))
                .idle_timeout(Duration::from_secs(2));
        ciranda::spawn(async move {
            let _ = served.await;
        });
        addr
    });

    // Pooled HTTP/1.1 and HTTP/2 clients.
    for (tasks, h2) in [(8, false), (4, true)] {
        let mut builder = ciranda_http::Client::builder();
        if h2 {
            builder = builder.http2_prior_knowledge();
        }
        let client = builder.build().expect("client");
        for _ in 0..tasks {
            let client = client.clone();
            let stop = stop.clone();
            handle.spawn(async move {
                let url = format!("http://{addr}/");
                while !stop.load(Relaxed) {
                    if let Ok(r) = client.get(&url).await {
                        let _ = r.bytes().await;
                    }
                    DONE.fetch_add(1, Relaxed);
                }
            });
        }
    }

    // Clients that see a new host for every request (127.0.0.1 to 127.0.0.50), paced (one
    // request per 10 ms, a lap of the hosts in half a second) so that what their pools hold
    // does not depend on how fast the machine runs: one keeps a connection per host (its idle
    // timeout is longer than a lap), the other's connections expire between two visits.
    for idle in [Duration::from_secs(30), Duration::from_millis(50)] {
        let client = ciranda_http::Client::builder()
            .pool_idle_timeout(idle)
            .build()
            .expect("client");
        let stop = stop.clone();
        let port = addr.port();
        handle.spawn(async move {
            let mut host = 0u32;
            while !stop.load(Relaxed) {
                host = host % 50 + 1;
                if let Ok(r) = client.get(format!("http://127.0.0.{host}:{port}/")).await {
                    let _ = r.bytes().await;
                }
                DONE.fetch_add(1, Relaxed);
                ciranda::time::sleep(Duration::from_millis(10)).await;
            }
        });
    }

    // Connection churn: one request per connection, from a blocking thread.
    {
        let stop = stop.clone();
        handle.spawn_blocking(move || {
            while !stop.load(Relaxed) {
                close_after_one(addr);
                DONE.fetch_add(1, Relaxed);
            }
        });
    }

    // Connections dropped before a request, or in the middle of its head.
    {
        let stop = stop.clone();
        handle.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                if let Ok(mut s) = ciranda::net::TcpStream::connect(addr).await {
                    if n % 2 == 0 {
                        use ciranda::io::AsyncWriteExt;
                        let _ = s.write_all(b"GET / HTTP/1.1\r\nHo").await;
                    }
                }
                DONE.fetch_add(1, Relaxed);
                ciranda::time::sleep(Duration::from_millis(1)).await;
            }
        });
    }

    // Child processes: run to the end with piped output, and killed by a dropped handle.
    {
        let stop = stop.clone();
        handle.spawn(async move {
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                if n % 2 == 0 {
                    let _ = ciranda::process::Command::new("echo")
                        .arg("soak")
                        .output()
                        .await;
                } else if let Ok(child) = ciranda::process::Command::new("sleep")
                    .arg("10")
                    .kill_on_drop(true)
                    .spawn()
                {
                    let _ = ciranda::time::timeout(Duration::from_millis(2), async {
                        let mut child = child;
                        child.wait().await
                    })
                    .await;
                }
                DONE.fetch_add(1, Relaxed);
            }
        });
    }

    // Files through the blocking pool.
    {
        let stop = stop.clone();
        handle.spawn(async move {
            let dir = std::env::temp_dir().join(format!("ciranda-soak-{}", std::process::id()));
            let _ = ciranda::fs::create_dir_all(&dir).await;
            let mut n = 0u64;
            while !stop.load(Relaxed) {
                n += 1;
                let path = dir.join(format!("f{}", n % 8));
                let _ = ciranda::fs::write(&path, n.to_le_bytes()).await;
                let _ = ciranda::fs::read(&path).await;
                DONE.fetch_add(1, Relaxed);
            }
            let _ = ciranda::fs::remove_dir_all(&dir).await;
        });
    }

    // Timer, TaskGroup and Queue churn, with cancellation.
    {
        let stop = stop.clone();
        handle.spawn(async move {
            let queue = Arc::new(ciranda::sync::Queue::<u64>::new(4));
            let mut round = 0u64;
            while !stop.load(Relaxed) {
                round += 1;
                let mut group = ciranda::task::TaskGroup::<u64, std::io::Error>::new();
                let spawner = group.spawner();
                for i in 0..16u64 {
                    let queue = queue.clone();
                    group.spawn(async move {
                        // A put that may lose to its timeout, and a get that may too.
                        let _ = ciranda::time::timeout(
                            Duration::from_micros(200 + i * 50),
                            queue.put(i),
                        )
                        .await;
                        let _ =
                            ciranda::time::timeout(Duration::from_micros(100), queue.get()).await;
                        ciranda::time::sleep(Duration::from_micros(i * 30)).await;
                        Ok(i)
                    });
                }
                let _ = spawner.spawn(async move { Ok(round) });
                drop(spawner);
                let _ = group.join().await;
                while queue.try_get().is_ok() {}
                // A timeout that never fires, dropped early.
                let _ = ciranda::time::timeout(
                    Duration::from_secs(3600),
                    ciranda::time::sleep(Duration::from_micros(10)),
                )
                .await;
                DONE.fetch_add(1, Relaxed);
            }
        });
    }

    let start = Instant::now();
    let mut samples = Vec::new();
    println!("    t  heap bytes   tasks  fds  rss KiB  zombies  ops");
    while start.elapsed() < Duration::from_secs(seconds) {
        // Waiting inside the runtime drives it on the current-thread flavor.
        runtime.block_on(ciranda::time::sleep(Duration::from_secs(interval)));
        let s = sample(&handle);
        println!(
            "{:5} {:11} {:7} {:4} {:8} {:8} {:8}",
            start.elapsed().as_secs(),
            s.heap,
            s.tasks,
            s.fds,
            s.rss_kib,
            s.zombies,
            s.done
        );
        samples.push(s);
    }
    stop.store(true, Relaxed);
    drop(runtime);

    // The pools' idle timeouts make every count swing between samples, so compare the
    // largest value of the first half (after the warm-up sample) with that of the second:
    // a leak of anything per request or per connection grows the second far past the first.
    let steady = samples.get(1..).unwrap_or_default();
    if steady.len() < 2 {
        println!("soak: too short to judge (needs at least three samples)");
        return ExitCode::SUCCESS;
    }
    let (early, late) = steady.split_at(steady.len() / 2);
    let peak = |part: &[Sample], of: fn(&Sample) -> i64| part.iter().map(of).max().unwrap_or(0);
    let mut failed = samples.windows(2).any(|w| w[1].done == w[0].done);
    if failed {
        println!("stalled: no operation completed during an interval");
    }
    /// A quantity's name, how to read it from a sample, and the growth it may show anyway.
    type Check = (&'static str, fn(&Sample) -> i64, i64);
    let checks: [Check; 4] = [
        ("heap bytes", |s| s.heap, 2 << 20),
        ("tasks", |s| s.tasks as i64, 128),
        ("fds", |s| s.fds as i64, 128),
        ("zombies", |s| s.zombies as i64, 8),
    ];
    for (name, of, margin) in checks {
        let (before, after) = (peak(early, of), peak(late, of));
        let grew = after > before + before / 2 + margin;
        println!(
            "{name}: peak {before} -> {after}{}",
            if grew { "  GREW" } else { "" }
        );
        failed |= grew;
    }
    if failed {
        println!("soak: FAILED");
        ExitCode::FAILURE
    } else {
        println!("soak: ok");
        ExitCode::SUCCESS
    }
}
