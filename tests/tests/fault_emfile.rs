//! `EMFILE` on accept: a server's accept loop running on the runtime sees "too many open
//! files" while every descriptor is taken, keeps going (with a short back-off, as servers
//! should), and serves every pending connection once descriptors free up.
//!
//! Alone in its binary: it lowers the process's descriptor limit for a moment.

use ciranda::Runtime;
use ciranda::io::{AsyncReadExt, AsyncWriteExt};
use ciranda::net::TcpListener;
use ciranda::sync::Event;
use std::io::{Read, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

fn nofile() -> libc::rlimit {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim
}

fn set_soft_nofile(n: libc::rlim_t) {
    let mut lim = nofile();
    lim.rlim_cur = n;
    // SAFETY: setrlimit reads our struct; the soft limit stays at or below the hard one.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

fn highest_open_fd() -> libc::rlim_t {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::rlim_t>().ok())
        .max()
        .unwrap_or(2)
}

#[test]
fn the_accept_loop_survives_emfile_and_serves_everyone_once_descriptors_free_up() {
    if std::fs::metadata("/proc/self/fd").is_err() {
        eprintln!("skipped: no /proc/self/fd on this system");
        return;
    }
    const CLIENTS: usize = 20;
    let rt = Runtime::builder().worker_threads(2).build().unwrap();
    let listener = rt.block_on(async { TcpListener::bind("127.0.0.1:0").await.unwrap() });
    let addr = listener.local_addr().unwrap();
    let go = Arc::new(Event::new());
    let errors = Arc::new(AtomicUsize::new(0));
    let served = Arc::new(AtomicUsize::new(0));
    // A typical server: accept, hand the connection to a task, back off briefly on errors.
    let server = {
        let (go, errors, served) = (go.clone(), errors.clone(), served.clone());
        rt.spawn(async move {
            go.wait().await;
            loop {
                match listener.accept().await {
                    Ok((mut s, _)) => {
                        let served = served.clone();
                        drop(ciranda::spawn(async move {
                            let mut buf = [0u8; 32];
                            let n = s.read(&mut buf).await.unwrap();
                            s.write_all(&buf[..n]).await.unwrap();
                            served.fetch_add(1, SeqCst);
                        }));
                    }
                    Err(e) => {
                        assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                        errors.fetch_add(1, SeqCst);
                        ciranda::time::sleep(Duration::from_millis(5)).await;
                    }
                }
            }
        })
    };
    // Clients connect first: the kernel completes the handshakes in the listen backlog.
    let mut clients: Vec<std::net::TcpStream> = (0..CLIENTS)
        .map(|_| std::net::TcpStream::connect(addr).unwrap())
        .collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        c.write_all(format!("client {i}").as_bytes()).unwrap();
    }
    // Take every descriptor: lower the limit to just above the highest one in use, then
    // fill every hole below it.
    let old = nofile().rlim_cur;
    set_soft_nofile(highest_open_fd() + 1);
    let mut fillers = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        fillers.push(f);
    }
    go.set();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while errors.load(SeqCst) < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "accept never reported EMFILE"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
    assert_eq!(
        served.load(SeqCst),
        0,
        "nothing can be accepted without descriptors"
    );
    // Free the descriptors: the same loop accepts and serves every pending client.
    drop(fillers);
    set_soft_nofile(old);
    for (i, c) in clients.iter_mut().enumerate() {
        let mut buf = vec![0u8; format!("client {i}").len()];
        c.read_exact(&mut buf).unwrap();
        assert_eq!(buf, format!("client {i}").as_bytes());
    }
    // And new clients too.
    let mut late = std::net::TcpStream::connect(addr).unwrap();
    late.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    late.write_all(b"late").unwrap();
    let mut buf = [0u8; 4];
    late.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"late");
    assert!(!server.is_finished(), "the accept loop is still running");
    eprintln!("EMFILE reported {} times", errors.load(SeqCst));
    server.abort();
}
