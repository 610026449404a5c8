//! 10 000 concurrent TCP connections on loopback: all open at the same moment, each one
//! echoes a few messages, then they all close; the server process's descriptors and resident
//! memory return near their baseline.
//!
//! The server side (a ciranda runtime in the test process) accepts and echoes; the client side
//! (another ciranda runtime) runs in a child process — this same test binary, re-executed —
//! so that each process needs ~10 000 descriptors rather than 20 000 (containers often cap the
//! hard `RLIMIT_NOFILE` at 20 000 and forbid raising it). Both processes raise their soft
//! limit; the test skips with a printed reason when the limit cannot reach what it needs.
//! Alone in its binary: it changes process-wide limits and measures RSS.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::sync::{Barrier, Semaphore};
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

const CONNECTIONS: usize = 10_000;
/// Set in the child process: the server's address.
const CHILD_ENV: &str = "CIRANDA_NET_LOAD_SERVER";
const MB: usize = 1 << 20;

/// Raises the descriptor limit to at least `want`; `Err(reason)` when not allowed.
fn raise_nofile(want: libc::rlim_t) -> Result<libc::rlim_t, String> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(format!("getrlimit: {}", std::io::Error::last_os_error()));
    }
    if lim.rlim_cur >= want {
        return Ok(lim.rlim_cur);
    }
    let mut new = lim;
    new.rlim_cur = want;
    if new.rlim_max < want {
        new.rlim_max = want; // needs CAP_SYS_RESOURCE
    }
    // SAFETY: setrlimit reads our struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &new) } == 0 {
        return Ok(want);
    }
    Err(format!(
        "RLIMIT_NOFILE is {}/{} and raising it to {want} was refused: {}",
        lim.rlim_cur,
        lim.rlim_max,
        std::io::Error::last_os_error()
    ))
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn rss_after_trim() -> usize {
    // SAFETY: malloc_trim only releases free memory of the allocator.
    unsafe {
        libc::malloc_trim(0);
    }
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf has no preconditions.
    pages * unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize
}

/// Closes with RST instead of FIN (SO_LINGER 0): no TIME_WAIT left behind, so repeated runs
/// do not run out of loopback ports.
fn reset_on_close(fd: i32) {
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: a valid socket descriptor and a properly sized option value.
    unsafe {
        libc::setsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&linger as *const libc::linger).cast(),
            std::mem::size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// The client side, run in a child process: opens every connection, waits until all are
/// open, echoes three messages on each, waits until every client is done (so the server sees
/// all 10 000 open at once), then closes them all.
fn run_clients(addr: SocketAddr) {
    raise_nofile((CONNECTIONS + 512) as libc::rlim_t).expect("client descriptor limit");
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    rt.block_on(async move {
        let all_open = Arc::new(Barrier::new(CONNECTIONS));
        let all_echoed = Arc::new(Barrier::new(CONNECTIONS));
        // At most 256 handshakes in flight: the listen backlog is small.
        let connecting = Arc::new(Semaphore::new(256));
        let clients: Vec<_> = (0..CONNECTIONS)
            .map(|i| {
                let (connecting, all_open, all_echoed) =
                    (connecting.clone(), all_open.clone(), all_echoed.clone());
                ciranda::spawn(async move {
                    let permit = connecting.acquire().await.unwrap();
                    let mut s = TcpStream::connect(addr).await.unwrap();
                    drop(permit);
                    all_open.wait().await;
                    for round in 0..3u32 {
                        let msg = format!("{i}/{round}");
                        s.write_all(msg.as_bytes()).await.unwrap();
                        let mut back = vec![0u8; msg.len()];
                        s.read_exact(&mut back).await.unwrap();
                        assert_eq!(back, msg.as_bytes());
                    }
                    all_echoed.wait().await;
                    reset_on_close(s.as_raw_fd());
                })
            })
            .collect();
        for c in clients {
            c.await.unwrap();
        }
    });
    println!("clients: {CONNECTIONS} connections echoed");
}

/// Not a test of its own: the entry point of the child process (does nothing otherwise).
#[test]
fn client_process() {
    if let Ok(addr) = std::env::var(CHILD_ENV) {
        run_clients(addr.parse().unwrap());
    }
}

#[test]
fn ten_thousand_concurrent_connections_on_loopback() {
    if std::env::var(CHILD_ENV).is_ok() {
        return;
    }
    let want = (CONNECTIONS + 512) as libc::rlim_t;
    if let Err(reason) = raise_nofile(want) {
        eprintln!("skipped: 10 000 connections need {want} descriptors per process: {reason}");
        return;
    }
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    // Warm up (one connection) so first-use allocations exist before the baselines.
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let _ = l.accept().await.unwrap();
        drop(c);
    });
    let fds_before = open_fds();
    let rss_before = rss_after_trim();
    let started = std::time::Instant::now();

    let live = Arc::new(AtomicUsize::new(0));
    let max_live = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let peak_fds = Arc::new(AtomicUsize::new(0));
    let (listener, addr) = rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let a = l.local_addr().unwrap();
        (l, a)
    });
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "client_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, addr.to_string())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the client process");
    let server = {
        let (live, max_live, peak, peak_fds) = (
            live.clone(),
            max_live.clone(),
            peak.clone(),
            peak_fds.clone(),
        );
        rt.spawn(async move {
            let mut conns = Vec::with_capacity(CONNECTIONS);
            for _ in 0..CONNECTIONS {
                let (mut s, _) = listener.accept().await.unwrap();
                let n = live.fetch_add(1, SeqCst) + 1;
                max_live.fetch_max(n, SeqCst);
                if n == CONNECTIONS {
                    peak_fds.store(open_fds(), SeqCst);
                    peak.store(rss_after_trim(), SeqCst);
                }
                let live = live.clone();
                conns.push(ciranda::spawn(async move {
                    let mut buf = [0u8; 64];
                    let mut echoed = 0;
                    loop {
                        match s.read(&mut buf).await {
                            // The client resets the connection when it is done.
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                                echoed += n;
                            }
                        }
                    }
                    live.fetch_sub(1, SeqCst);
                    echoed
                }));
            }
            let mut bytes = 0;
            for c in conns {
                bytes += c.await.unwrap();
            }
            bytes
        })
    };
    // Watchdog: a stuck client or server fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the client process did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    std::io::Read::read_to_string(&mut child.stdout.take().unwrap(), &mut out).unwrap();
    assert!(status.success(), "client process failed: {status}\n{out}");
    assert!(out.contains("connections echoed"), "{out}");
    let bytes = rt.block_on(async {
        ciranda::time::timeout(Duration::from_secs(30), server)
            .await
            .expect("server finished")
            .unwrap()
    });
    let took = started.elapsed();
    assert!(bytes > 0);
    assert_eq!(
        max_live.load(SeqCst),
        CONNECTIONS,
        "all connections open at once"
    );
    assert_eq!(live.load(SeqCst), 0);
    let (peak_fds, peak_rss) = (peak_fds.load(SeqCst), peak.load(SeqCst));
    assert!(peak_fds >= fds_before + CONNECTIONS, "{peak_fds}");
    // Every socket is closed and deregistered.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while open_fds() > fds_before + 8 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    let fds_after = open_fds();
    let rss_after = rss_after_trim();
    eprintln!(
        "10 000 connections in {took:?}; server fds {fds_before} → {peak_fds} → {fds_after}; \
         RSS {} MB → {} MB → {} MB",
        rss_before / MB,
        peak_rss / MB,
        rss_after / MB
    );
    assert!(
        fds_after <= fds_before + 8,
        "descriptors leaked: {fds_after}"
    );
    let growth = peak_rss.saturating_sub(rss_before).max(1);
    let kept = rss_after.saturating_sub(rss_before);
    assert!(
        kept <= 32 * MB || kept * 4 <= growth,
        "RSS did not return near baseline: {} MB → {} MB → {} MB",
        rss_before / MB,
        peak_rss / MB,
        rss_after / MB
    );
    // The runtime still serves new connections.
    rt.block_on(async {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut c = TcpStream::connect(l.local_addr().unwrap()).await.unwrap();
        let (mut s, _) = l.accept().await.unwrap();
        c.write_all(b"x").await.unwrap();
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        assert_eq!(&b, b"x");
    });
}
