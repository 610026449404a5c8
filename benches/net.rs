//! Networking workloads on loopback, on ciranda, Tokio and smol (`async-net`/`async-io`), with
//! the same number of workers.
//!
//! * `tcp_echo`: an accept loop spawns one echo task per connection; 32 client tasks each
//!   connect and make 2 000 round trips of 64 bytes (`write_all` then `read_exact`). One
//!   iteration is all 64 000 round trips, connections included.
//! * `accept`: Tokio's `net_accept` `task_per_conn` shape: batches of 64 blocking clients
//!   connect and send a 64-byte request before the timed section; a task accepts them, spawns
//!   one task per connection that reads the request and writes a 2-byte reply, and waits for
//!   them all. Time per connection.

#[macro_use]
mod common;

use criterion::{Criterion, criterion_group, criterion_main};
use std::io::Write;
use std::net::{SocketAddr, TcpStream as StdStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

const CONNS: usize = 32;
const ROUND_TRIPS: usize = 2_000;
const MSG: usize = 64;

fn tcp_echo(c: &mut Criterion) {
    let mut g = common::slow_group(c, "net/tcp_echo");
    // An iteration takes about half a second: ten of them are enough.
    g.sample_size(10);
    each_runtime!(rt => {
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
        g.bench_function(rt::NAME, |b| {
            b.iter(|| {
                runtime.block_on(async {
                    let clients: Vec<_> = (0..CONNS)
                        .map(|i| {
                            rt::spawn(async move {
                                let mut s = rt::connect(addr).await;
                                let mut buf = [i as u8; MSG];
                                for _ in 0..ROUND_TRIPS {
                                    rt::write_all(&mut s, &buf).await.expect("write");
                                    rt::read_exact(&mut s, &mut buf).await.expect("read");
                                }
                            })
                        })
                        .collect();
                    for t in clients {
                        rt::join(t).await;
                    }
                })
            })
        });
    });
    g.finish();
}

const REQUEST: [u8; MSG] = [1; MSG];
const BATCH: u64 = 64;

/// A client that has connected and sent its request before the server accepts.
fn client(addr: SocketAddr) -> StdStream {
    let mut c = StdStream::connect(addr).expect("connect");
    c.set_nodelay(true).expect("nodelay");
    c.write_all(&REQUEST).expect("request");
    c
}

fn accept(c: &mut Criterion) {
    let mut g = common::group(c, "net/accept");
    // Every connection leaves a TIME_WAIT socket behind: keep the count per runtime well
    // under the ephemeral port range.
    if !common::quick() {
        g.warm_up_time(Duration::from_millis(500))
            .measurement_time(Duration::from_secs(2))
            .sample_size(20);
    }
    each_runtime!(rt => {
        let runtime = rt::Rt::new(common::workers());
        let listener = Arc::new(runtime.block_on(rt::bind()));
        let addr = rt::local_addr(&listener);
        g.bench_function(rt::NAME, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(BATCH);
                    left -= n;
                    let clients: Vec<StdStream> = (0..n).map(|_| client(addr)).collect();
                    let listener = listener.clone();
                    let start = Instant::now();
                    runtime.block_on(rt::join(runtime.spawn(async move {
                        let mut served = Vec::with_capacity(n as usize);
                        for _ in 0..n {
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
                    total += start.elapsed();
                    drop(clients);
                }
                total
            })
        });
    });
    g.finish();
}

criterion_group! {
    name = net;
    config = common::criterion();
    targets = tcp_echo, accept
}
criterion_main!(net);
