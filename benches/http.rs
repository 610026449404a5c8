//! HTTP "hello world" under load: the same hyper service (`hello_server`'s, from
//! `crates/ciranda-http/examples/hello_server/service.rs`) on ciranda (`ciranda_http::server`),
//! on Tokio (hyper-util's `TokioIo`/`TokioExecutor`/`TokioTimer` and its auto builder) and on
//! smol (the auto builder over `CirandaIo` on smol's `TcpStream`, an `Executor` run by one
//! thread per worker, a timer on `async-io`), loaded by `wrk` (HTTP/1.1, 64 connections,
//! 2 threads) and `h2load` (HTTP/2 prior knowledge, 64 connections × 10 streams), in
//! alternating order each round. Not criterion: the load generators measure. Prints
//! requests/s, p99 latency and the server's CPU time per request (this process's user +
//! system time over the run, divided by the requests) per run, and the medians as a Markdown
//! table.
//!
//! A fourth variant, `ciranda-raw`, serves with hyper-util's auto builder over `CirandaIo`
//! directly, as the Tokio one does, without `ciranda_http::server::serve`'s shutdown tracking
//! and first-request deadline: it tells the server wrapper's cost from the runtime's.
//!
//! Knobs: `CIRANDA_BENCH_QUICK=1` (1 round of 2 s per run), `CIRANDA_BENCH_HTTP_ROUNDS=N`
//! (default 3), `CIRANDA_BENCH_HTTP_SECS=S` (default 5), `CIRANDA_BENCH_HTTP_RUNTIMES=a,b`
//! (default `ciranda,ciranda-raw,tokio,smol`), `CIRANDA_BENCH_WORKERS=N` (default: available
//! parallelism). A missing `wrk` or `h2load` skips its half with a message.

#[path = "../crates/ciranda-http/examples/hello_server/service.rs"]
mod service;
#[path = "common/smol_hyper.rs"]
mod smol_hyper;
use smol_hyper::{SmolExecutor, SmolTimer};

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

/// A server that is running, and how to stop it.
struct Running {
    addr: SocketAddr,
    stop: Box<dyn FnOnce()>,
}

fn workers() -> usize {
    std::env::var("CIRANDA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn quick() -> bool {
    std::env::var("CIRANDA_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

fn env_or(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn start_ciranda(workers: usize) -> Running {
    let rt = ciranda::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap();
    let listener = rt
        .block_on(ciranda::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    let stop = Arc::new(ciranda::sync::Event::new());
    let signal = {
        let stop = stop.clone();
        async move { stop.wait().await }
    };
    let service = hyper::service::service_fn(service::hello);
    let server = rt.spawn(
        ciranda_http::server::serve(listener, service)
            .shutdown_timeout(Duration::from_secs(1))
            .with_graceful_shutdown(signal)
            .into_future(),
    );
    Running {
        addr,
        stop: Box::new(move || {
            stop.set();
            let _ = rt.block_on(server);
            rt.shutdown_timeout(Duration::from_secs(1));
        }),
    }
}

/// The same service on ciranda without `server::serve` (no shutdown tracking, no first-request
/// deadline): hyper-util's auto builder over `CirandaIo`, as the Tokio variant does it, to
/// tell the server wrapper's cost from the runtime's.
fn start_ciranda_raw(workers: usize) -> Running {
    use ciranda_http::rt::{CirandaExecutor, CirandaIo, CirandaTimer};
    let rt = ciranda::Runtime::builder()
        .worker_threads(workers)
        .build()
        .unwrap();
    let listener = rt
        .block_on(ciranda::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let mut builder = hyper_util::server::conn::auto::Builder::new(CirandaExecutor::new());
        builder.http1().timer(CirandaTimer::new());
        builder.http2().timer(CirandaTimer::new());
        let builder = Arc::new(builder);
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let builder = builder.clone();
            ciranda::spawn(async move {
                let service = hyper::service::service_fn(service::hello);
                let _ = builder
                    .serve_connection_with_upgrades(CirandaIo::new(stream), service)
                    .await;
            });
        }
    });
    Running {
        addr,
        stop: Box::new(move || rt.shutdown_timeout(Duration::from_secs(1))),
    }
}

fn start_tokio(workers: usize) -> Running {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
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
                let service = hyper::service::service_fn(service::hello);
                let _ = builder.serve_connection_with_upgrades(io, service).await;
            });
        }
    });
    Running {
        addr,
        stop: Box::new(move || rt.shutdown_timeout(Duration::from_secs(1))),
    }
}

fn start_smol(workers: usize) -> Running {
    let ex = Arc::new(smol::Executor::new());
    let (stop_tx, stop_rx) = smol::channel::bounded::<()>(1);
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let (ex, stop_rx) = (ex.clone(), stop_rx.clone());
            std::thread::spawn(move || smol::block_on(ex.run(stop_rx.recv())))
        })
        .collect();
    let listener = smol::block_on(smol::net::TcpListener::bind("127.0.0.1:0")).unwrap();
    let addr = listener.local_addr().unwrap();
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
                    let service = hyper::service::service_fn(service::hello);
                    let _ = builder.serve_connection_with_upgrades(io, service).await;
                })
                .detach();
        }
    })
    .detach();
    Running {
        addr,
        stop: Box::new(move || {
            drop(stop_tx); // every `recv` fails: the threads leave `run`
            for t in threads {
                let _ = t.join();
            }
        }),
    }
}

/// One measurement: requests per second and the 99th-percentile latency in milliseconds, and
/// (filled in by `main`) the server's CPU time per request in microseconds.
#[derive(Clone, Copy, Debug)]
struct Measure {
    rps: f64,
    p99_ms: f64,
    cpu_us: f64,
}

/// CPU time (user + system) this process has used, in seconds. The load generators are child
/// processes and not included, so on a machine shared with other work this is a steadier
/// measure of the server's cost than requests/s.
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) end at the last ')'.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after ')'.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    ticks / 100.0 // USER_HZ is 100 on Linux
}

fn have(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

fn parse_duration_ms(s: &str) -> Option<f64> {
    let (num, unit) = s.split_at(s.find(|c: char| c.is_ascii_alphabetic())?);
    let v: f64 = num.parse().ok()?;
    Some(match unit {
        "us" => v / 1000.0,
        "ms" => v,
        "s" => v * 1000.0,
        "m" => v * 60_000.0,
        _ => return None,
    })
}

fn wrk(url: &str, secs: u64) -> Measure {
    let out = Command::new("wrk")
        .args(["-t2", "-c64", &format!("-d{secs}s"), "--latency", url])
        .output()
        .expect("wrk runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw failures:\n{text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in wrk's output:\n{text}"));
    let p99_ms = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .and_then(|v| parse_duration_ms(v.trim()))
        .unwrap_or_else(|| panic!("no 99% line in wrk's output:\n{text}"));
    Measure {
        rps,
        p99_ms,
        cpu_us: 0.0,
    }
}

fn h2load(url: &str, secs: u64) -> Measure {
    let log = std::env::temp_dir().join(format!("ciranda-h2load-{}.log", std::process::id()));
    let out = Command::new("h2load")
        .args([
            "-t1",
            "-c64",
            "-m10",
            "-D",
            &secs.to_string(),
            "--warm-up-time",
            "1",
        ])
        .arg("--log-file")
        .arg(&log)
        .arg(url)
        .output()
        .expect("h2load runs");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text
        .lines()
        .find(|l| l.starts_with("requests:"))
        .unwrap_or_else(|| panic!("no requests line in h2load's output:\n{text}"));
    assert!(
        line.contains(" 0 failed") && line.contains(" 0 errored"),
        "h2load saw failures:\n{text}"
    );
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("finished in "))
        .and_then(|l| l.split(", ").nth(1))
        .and_then(|v| v.trim_end_matches(" req/s").parse().ok())
        .unwrap_or_else(|| panic!("no req/s in h2load's output:\n{text}"));
    // The log has one line per request: start time, status, elapsed microseconds.
    let mut elapsed: Vec<u64> = std::fs::read_to_string(&log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split('\t').nth(2)?.trim().parse().ok())
        .collect();
    let _ = std::fs::remove_file(&log);
    assert!(!elapsed.is_empty(), "h2load wrote no request log");
    elapsed.sort_unstable();
    let p99 = elapsed[(elapsed.len() * 99 / 100).min(elapsed.len() - 1)];
    Measure {
        rps,
        p99_ms: p99 as f64 / 1000.0,
        cpu_us: 0.0,
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

type Start = fn(usize) -> Running;
type Load = fn(&str, u64) -> Measure;

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` would pass other flags: only run
    // the load when asked to benchmark.
    if !std::env::args().any(|a| a == "--bench") {
        println!("http bench: run with `cargo bench -p ciranda-benches --bench http`");
        return;
    }
    let tools: Vec<(&str, Load)> = [("wrk", wrk as Load), ("h2load", h2load)]
        .into_iter()
        .filter(|(tool, _)| {
            let ok = have(tool);
            if !ok {
                println!(
                    "SKIPPED: `{tool}` is not installed (apt-get install -y wrk nghttp2-client)"
                );
            }
            ok
        })
        .collect();
    let all: [(&str, Start); 4] = [
        ("ciranda", start_ciranda),
        ("ciranda-raw", start_ciranda_raw),
        ("tokio", start_tokio),
        ("smol", start_smol),
    ];
    // CIRANDA_BENCH_HTTP_RUNTIMES=ciranda,tokio picks some (default: all four).
    let wanted = std::env::var("CIRANDA_BENCH_HTTP_RUNTIMES").unwrap_or_default();
    let runtimes: Vec<(&str, Start)> = all
        .into_iter()
        .filter(|(name, _)| wanted.is_empty() || wanted.split(',').any(|w| w.trim() == *name))
        .collect();
    let rounds = if quick() {
        1
    } else {
        env_or("CIRANDA_BENCH_HTTP_ROUNDS", 3)
    };
    let secs = if quick() {
        2
    } else {
        env_or("CIRANDA_BENCH_HTTP_SECS", 5)
    };
    let workers = workers();
    println!("http: {rounds} round(s), {secs} s per run, {workers} worker threads per runtime");

    // results[tool][runtime] = measures, one per round
    let mut results = vec![vec![Vec::<Measure>::new(); runtimes.len()]; tools.len()];
    for round in 0..rounds as usize {
        for (t, (tool, load)) in tools.iter().enumerate() {
            for k in 0..runtimes.len() {
                // Rotate the order each round so no runtime always goes first.
                let r = (k + round) % runtimes.len();
                let (name, start) = runtimes[r];
                let server = start(workers);
                let url = format!("http://{}/", server.addr);
                let cpu_before = cpu_secs();
                let mut m = load(&url, secs);
                let cpu = cpu_secs() - cpu_before;
                m.cpu_us = cpu * 1e6 / (m.rps * secs as f64);
                (server.stop)();
                println!(
                    "round {round} {tool:6} {name:11} {:>8.0} req/s  p99 {:>7.2} ms  {:>5.1} us CPU/req",
                    m.rps, m.p99_ms, m.cpu_us
                );
                results[t][r].push(m);
            }
        }
    }

    println!();
    println!(
        "| load | runtime | requests/s (median) | p99 latency (median) | server CPU per request (median) | runs (req/s) |"
    );
    println!("|---|---|--:|--:|--:|---|");
    for (t, (tool, _)) in tools.iter().enumerate() {
        for (r, (name, _)) in runtimes.iter().enumerate() {
            let ms = &results[t][r];
            let rps = median(ms.iter().map(|m| m.rps).collect());
            let p99 = median(ms.iter().map(|m| m.p99_ms).collect());
            let cpu = median(ms.iter().map(|m| m.cpu_us).collect());
            let runs: Vec<String> = ms.iter().map(|m| format!("{:.0}", m.rps)).collect();
            println!(
                "| {tool} | {name} | {rps:.0} | {p99:.2} ms | {cpu:.1} µs | {} |",
                runs.join(", ")
            );
        }
    }
}
