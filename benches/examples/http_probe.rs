//! An HTTP "hello world" server that exits after serving a fixed number of requests, for
//! counting its system calls (`strace -c -f`) and CPU time per request under `wrk` or
//! `h2load`. The same hyper service as `benches/http.rs` (`hello_server`'s), served by
//! ciranda (`ciranda_http::server::serve`), Tokio (hyper-util's auto builder) or smol (the
//! auto builder over `CirandaIo`), each with 2 worker threads (`CIRANDA_BENCH_WORKERS`).
//!
//! ```text
//! http_probe <ciranda|tokio|smol> <requests> &   # prints "listening on ADDR"
//! wrk -t2 -c64 -d60s http://ADDR/                # or: h2load -n N -c64 -m10 -t1 http://ADDR/
//! ```
//!
//! On exit it prints the requests served and this process's user + system CPU time per
//! request (the load generator is another process and not counted); for ciranda also the
//! scheduler's polls, steals and parks per request (`RuntimeMetrics`), and the heap
//! allocations per request in steady state (a counting global allocator, read once a fifth
//! of the requests are served and again at the end, so connection setup is left out).

#[path = "../../crates/ciranda-http/examples/hello_server/service.rs"]
mod service;
#[path = "../common/smol_hyper.rs"]
mod smol_hyper;
use smol_hyper::{SmolExecutor, SmolTimer};

use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

static SERVED: AtomicU64 = AtomicU64::new(0);
/// Heap allocations (`alloc`, `alloc_zeroed` and `realloc` calls) made by the whole process.
static ALLOCS: AtomicU64 = AtomicU64::new(0);

/// The system allocator, counting calls that hand out memory.
struct Counting;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged; the
// counter is a relaxed atomic and never allocates.
unsafe impl std::alloc::GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: the caller's contract for `alloc` is `System.alloc`'s.
        unsafe { std::alloc::System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: std::alloc::Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: as for `alloc`.
        unsafe { std::alloc::System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: std::alloc::Layout, size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        // SAFETY: `ptr` and `layout` come from this allocator, which is `System`'s.
        unsafe { std::alloc::System.realloc(ptr, layout, size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: std::alloc::Layout) {
        // SAFETY: `ptr` was allocated by `System` with `layout`.
        unsafe { std::alloc::System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;
/// ciranda's handle, for its metrics at exit.
static CIRANDA: std::sync::OnceLock<ciranda::Handle> = std::sync::OnceLock::new();

async fn counted(
    req: hyper::Request<hyper::body::Incoming>,
) -> Result<hyper::Response<service::HelloBody>, std::convert::Infallible> {
    SERVED.fetch_add(1, Relaxed);
    service::hello(req).await
}

fn workers() -> usize {
    std::env::var("CIRANDA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn announce(addr: std::net::SocketAddr) {
    println!("listening on {addr}");
    std::io::stdout().flush().unwrap();
}

fn ciranda(workers: usize) -> Box<dyn std::any::Any> {
    let rt = ciranda::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap();
    let listener = rt
        .block_on(ciranda::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    announce(listener.local_addr().unwrap());
    let _ = CIRANDA.set(rt.handle());
    let service = hyper::service::service_fn(counted);
    drop(rt.spawn(ciranda_http::server::serve(listener, service).into_future()));
    Box::new(rt)
}

fn tokio(workers: usize) -> Box<dyn std::any::Any> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    announce(listener.local_addr().unwrap());
    rt.spawn(async move {
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
        builder.http1().timer(hyper_util::rt::TokioTimer::new());
        builder.http2().timer(hyper_util::rt::TokioTimer::new());
        let builder = Arc::new(builder);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let service = hyper::service::service_fn(counted);
                let _ = builder.serve_connection_with_upgrades(io, service).await;
            });
        }
    });
    Box::new(rt)
}

fn smol(workers: usize) -> Box<dyn std::any::Any> {
    let ex = Arc::new(smol::Executor::new());
    for _ in 0..workers {
        let ex = ex.clone();
        std::thread::spawn(move || smol::block_on(ex.run(smol::future::pending::<()>())));
    }
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    announce(listener.local_addr().unwrap());
    let spawner = ex.clone();
    ex.spawn(async move {
        let mut builder =
            hyper_util::server::conn::auto::Builder::new(SmolExecutor(spawner.clone()));
        builder.http1().timer(SmolTimer);
        builder.http2().timer(SmolTimer);
        let builder = Arc::new(builder);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            spawner
                .spawn(async move {
                    let io = ciranda_http::rt::CirandaIo::new(stream);
                    let service = hyper::service::service_fn(counted);
                    let _ = builder.serve_connection_with_upgrades(io, service).await;
                })
                .detach();
        }
    })
    .detach();
    Box::new(ex)
}

/// This process's user + system CPU time so far.
fn cpu_time() -> Duration {
    let mut usage = std::mem::MaybeUninit::<[i64; 18]>::zeroed();
    // SAFETY: `getrusage(RUSAGE_SELF)` fills a `struct rusage` (two `timeval`s then 14
    // longs on 64-bit Linux: 18 `i64`s), which the zeroed buffer provides.
    let usage = unsafe {
        unsafe extern "C" {
            fn getrusage(who: i32, usage: *mut [i64; 18]) -> i32;
        }
        getrusage(0, usage.as_mut_ptr());
        usage.assume_init()
    };
    let tv = |s: i64, us: i64| Duration::from_secs(s as u64) + Duration::from_micros(us as u64);
    tv(usage[0], usage[1]) + tv(usage[2], usage[3])
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(runtime), Some(Ok(requests))) = (args.first(), args.get(1).map(|n| n.parse::<u64>()))
    else {
        eprintln!("usage: http_probe <ciranda|tokio|smol> <requests>");
        std::process::exit(2);
    };
    let start = cpu_time();
    let _server = match runtime.as_str() {
        "ciranda" => ciranda(workers()),
        "tokio" => tokio(workers()),
        "smol" => smol(workers()),
        other => {
            eprintln!("unknown runtime {other}");
            std::process::exit(2);
        }
    };
    // Steady state: allocations are counted from a fifth of the way in.
    let warm = (requests / 5).max(1);
    while SERVED.load(Relaxed) < warm {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (warm_served, warm_allocs) = (SERVED.load(Relaxed), ALLOCS.load(Relaxed));
    while SERVED.load(Relaxed) < requests {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (served, allocs) = (SERVED.load(Relaxed), ALLOCS.load(Relaxed));
    let cpu = cpu_time() - start;
    println!(
        "{runtime}: {served} requests, CPU {:.2} µs per request (user + system, server process)",
        cpu.as_secs_f64() * 1e6 / served as f64
    );
    println!(
        "{runtime}: {:.2} allocations per request (steady state, whole process)",
        (allocs - warm_allocs) as f64 / (served - warm_served).max(1) as f64
    );
    if let Some(handle) = CIRANDA.get() {
        let m = handle.metrics();
        let sum = |f: &dyn Fn(usize) -> u64| (0..m.num_workers()).map(f).sum::<u64>();
        let per = |n: u64| n as f64 / served as f64;
        println!(
            "ciranda per request: {:.3} polls, {:.4} steals, {:.4} parks",
            per(sum(&|w| m.worker_poll_count(w))),
            per(sum(&|w| m.worker_steal_count(w))),
            per(sum(&|w| m.worker_park_count(w))),
        );
    }
    std::io::stdout().flush().unwrap();
    // Connections are still open: leave without shutting the runtime down.
    std::process::exit(0);
}
