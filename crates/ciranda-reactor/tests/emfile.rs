#![cfg(not(loom))]
//! `accept` failing with EMFILE returns the error and leaves the listener usable. Alone in its
//! binary: it lowers the process's descriptor limit.

use ciranda_reactor::block_on;
use ciranda_reactor::net::TcpListener;

fn set_soft_nofile(n: libc::rlim_t) -> libc::rlim_t {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into our struct.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    let old = lim.rlim_cur;
    lim.rlim_cur = n;
    // SAFETY: setrlimit reads our struct; the soft limit stays below the hard limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
    old
}

fn highest_open_fd() -> libc::rlim_t {
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<libc::rlim_t>().ok())
        .max()
        .unwrap_or(2)
}

#[test]
fn emfile_on_accept_is_returned_and_the_listener_survives() {
    if std::fs::metadata("/proc/self/fd").is_err() {
        eprintln!("skipped: no /proc/self/fd on this system");
        return;
    }
    block_on(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // Connections complete in the kernel's backlog before they are accepted.
        let _c1 = std::net::TcpStream::connect(addr)?;
        let _c2 = std::net::TcpStream::connect(addr)?;
        // No new descriptor can be created now (the lowest free number is above the limit).
        let limit = highest_open_fd() + 1;
        let old = set_soft_nofile(limit);
        let mut fds_free = false;
        let mut fillers = Vec::new();
        // At most `limit` descriptors can exist, so this ends.
        for _ in 0..=limit {
            // Fill any hole below the limit so that accept really has no descriptor left.
            match std::fs::File::open("/dev/null") {
                Ok(f) => fillers.push(f),
                Err(_) => {
                    fds_free = true;
                    break;
                }
            }
        }
        assert!(fds_free, "could not exhaust descriptors");
        let err = listener.accept().await.unwrap_err();
        drop(fillers);
        set_soft_nofile(old);
        assert_eq!(err.raw_os_error(), Some(libc::EMFILE), "{err}");
        // Still usable: both pending connections are accepted once descriptors are available.
        let (a, _) = listener.accept().await?;
        let (b, _) = listener.accept().await?;
        assert_ne!(a.peer_addr()?, b.peer_addr()?);
        std::io::Result::Ok(())
    })
    .unwrap();
}
