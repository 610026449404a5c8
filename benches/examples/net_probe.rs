//! A fixed amount of network work on one runtime, for counting system calls and CPU time:
//! `strace -c -f` or `perf stat` around one run of each runtime gives comparable totals.
//!
//! ```text
//! cargo build --release -p ciranda-benches --example net_probe
//! strace -c -f target/release/examples/net_probe echo ciranda
//! ```
//!
//! Workloads (the same shapes as `benches/net.rs`, written with the same per-runtime facades):
//!
//! * `echo`: 32 connections × 2 000 round trips of 64 bytes (`write_all` then `read_exact`)
//!   to an echo task per connection, once: 64 000 round trips.
//! * `accept`: 20 batches of 64 blocking clients that connect and send a 64-byte request; a
//!   task accepts each batch, spawns a task per connection that reads the request and writes
//!   a 2-byte reply: 1 280 connections.
//!
//! Prints the work done, this process's user + system CPU time per unit of work, and the
//! wall time per unit of the part `benches/net.rs` times (all of `echo`'s round trips; the
//! accepting and serving of each `accept` batch, without the blocking clients' set-up).

#[allow(unused_macros, unused_imports)]
#[path = "../common/mod.rs"]
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::Arc;

const CONNS: usize = 32;
const ROUND_TRIPS: usize = 2_000;
const MSG: usize = 64;
const ACCEPT_BATCHES: usize = 20;
const BATCH: usize = 64;

macro_rules! echo {
    ($rt:ident) => {{
        use common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let listener = runtime.block_on(rt::bind());
        let addr = rt::local_addr(&listener);
        rt::detach(runtime.spawn(async move {
            loop {
                let mut s = rt::accept(&listener).await;
                rt::detach(rt::spawn(async move {
                    let mut buf = [0u8; MSG];
                    while rt::read_exact(&mut s, &mut buf).await.is_ok() {
                        if rt::write_all(&mut s, &buf).await.is_err() {
                            break;
                        }
                    }
                }));
            }
        }));
        let start = std::time::Instant::now();
        runtime.block_on(async {
            let clients: Vec<_> = (0..CONNS)
                .map(|i| {
                    rt::spawn(async move {
                        let mut s = rt::connect(addr).await;
                        let mut buf = [i as u8; MSG];
                        for _ in 0..ROUND_TRIPS {
                            rt::write_all(&mut s, &buf).await.expect("write");
                            rt::read_exact(&mut s, &mut buf).await.expect("read");
                            assert_eq!(buf, [i as u8; MSG], "the echo changed the message");
                        }
                    })
                })
                .collect();
            for t in clients {
                rt::join(t).await;
            }
        });
        (CONNS * ROUND_TRIPS, start.elapsed())
    }};
}

macro_rules! accept {
    ($rt:ident) => {{
        use common::$rt as rt;
        let runtime = rt::Rt::new(common::workers());
        let listener = Arc::new(runtime.block_on(rt::bind()));
        let addr = rt::local_addr(&listener);
        let mut served_in = std::time::Duration::ZERO;
        for _ in 0..ACCEPT_BATCHES {
            let clients: Vec<StdStream> = (0..BATCH).map(|_| client(addr)).collect();
            let listener = listener.clone();
            let start = std::time::Instant::now();
            runtime.block_on(rt::join(runtime.spawn(async move {
                let mut served = Vec::with_capacity(BATCH);
                for _ in 0..BATCH {
                    let mut s = rt::accept(&listener).await;
                    served.push(rt::spawn(async move {
                        let mut req = [0u8; MSG];
                        rt::read_exact(&mut s, &mut req).await.expect("read");
                        rt::write_all(&mut s, b"ok").await.expect("write");
                    }));
                }
                for t in served {
                    rt::join(t).await;
                }
            })));
            served_in += start.elapsed();
            for mut c in clients {
                let mut reply = [0u8; 2];
                c.read_exact(&mut reply).expect("reply");
                assert_eq!(&reply, b"ok");
            }
        }
        (ACCEPT_BATCHES * BATCH, served_in)
    }};
}

/// A client that has connected and sent its request before the server accepts.
fn client(addr: SocketAddr) -> StdStream {
    let mut c = StdStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    c.write_all(&[1; MSG]).expect("request");
    c
}

/// This process's user + system CPU time so far.
fn cpu_time() -> std::time::Duration {
    // SAFETY: `getrusage` fills the zeroed `rusage` we pass and keeps no pointer to it.
    let usage = unsafe {
        let mut usage: libc_rusage::rusage = std::mem::zeroed();
        libc_rusage::getrusage(libc_rusage::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc_rusage::timeval| {
        std::time::Duration::from_secs(t.tv_sec as u64)
            + std::time::Duration::from_micros(t.tv_usec as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The bits of `getrusage(2)` this probe needs (the benches crate does not depend on `libc`).
#[allow(non_camel_case_types)]
mod libc_rusage {
    pub const RUSAGE_SELF: i32 = 0;

    #[repr(C)]
    #[derive(Clone, Copy)]
    pub struct timeval {
        pub tv_sec: i64,
        pub tv_usec: i64,
    }

    #[repr(C)]
    pub struct rusage {
        pub ru_utime: timeval,
        pub ru_stime: timeval,
        pub rest: [i64; 14],
    }

    unsafe extern "C" {
        pub fn getrusage(who: i32, usage: *mut rusage) -> i32;
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [workload, runtime] = &args[..] else {
        eprintln!("usage: net_probe <echo|accept> <ciranda|tokio|smol>");
        std::process::exit(2);
    };
    let start = cpu_time();
    let (units, wall) = match (workload.as_str(), runtime.as_str()) {
        ("echo", "ciranda") => echo!(ciranda_rt),
        ("echo", "tokio") => echo!(tokio_rt),
        ("echo", "smol") => echo!(smol_rt),
        ("accept", "ciranda") => accept!(ciranda_rt),
        ("accept", "tokio") => accept!(tokio_rt),
        ("accept", "smol") => accept!(smol_rt),
        _ => {
            eprintln!("unknown workload or runtime: {workload} {runtime}");
            std::process::exit(2);
        }
    };
    let cpu = cpu_time() - start;
    println!(
        "{workload} {runtime}: {units} units, CPU {:.1} µs per unit (user + system, whole process), \
         wall {:.2} µs per unit (the benchmark's timed part)",
        cpu.as_secs_f64() * 1e6 / units as f64,
        wall.as_secs_f64() * 1e6 / units as f64
    );
}
