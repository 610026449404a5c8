//! Bad input to the socket API: every constructor with an invalid address, path or
//! descriptor returns an `io::Error` that names the problem — never a panic, never a hang.
//!
//! | input | outcome |
//! |---|---|
//! | `TcpListener::bind` / `TcpStream::connect` / `UdpSocket::bind` with no port or a bad port | `Err(InvalidInput)` |
//! | a "host" that is no IP (`256.0.0.1:80`, `:80`) | looked up as a name: `Err` from the resolver |
//! | a host name that does not resolve | `Err` (resolved on the blocking pool, no hang) |
//! | connect to a closed port | `Err(ConnectionRefused)` |
//! | bind to an address in use | `Err(AddrInUse)` |
//! | a non-local address | `Err(AddrNotAvailable)` |
//! | `UnixListener::bind` with a too-long path / an existing path | `Err(InvalidInput)` / `Err(AddrInUse)` |
//! | `UnixStream::connect` to a missing path | `Err(NotFound)` |
//! | UDP `send` without `connect` | `Err` |
//! | `Async::new` of a descriptor epoll refuses (a regular file) | `Err` |
//! | any socket constructor outside a runtime | `Err` naming the missing runtime and where to make one |

use ciranda::Runtime;
use ciranda::io::Async;
use ciranda::net::{TcpListener, TcpStream, UdpSocket, UnixListener, UnixStream};
use ciranda::time::timeout;
use std::io::ErrorKind;
use std::time::Duration;

fn rt() -> Runtime {
    Runtime::builder().worker_threads(2).build().unwrap()
}

#[test]
fn unparsable_addresses_are_invalid_input() {
    rt().block_on(async {
        // No port, or a port that is no port: rejected before any lookup.
        for bad in [
            "not an address",
            "127.0.0.1",
            "127.0.0.1:",
            "127.0.0.1:99999",
            "127.0.0.1:-1",
        ] {
            let e = TcpListener::bind(bad).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "bind {bad:?}: {e}");
            assert!(!e.to_string().is_empty());
            let e = TcpStream::connect(bad).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "connect {bad:?}: {e}");
            let e = UdpSocket::bind(bad).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "udp bind {bad:?}: {e}");
        }
        // A port with a "host" that is no IP address: looked up as a name (like std), which
        // fails with the resolver's message.
        for bad in ["256.0.0.1:80", ":80", "a b:80", "[::1:80"] {
            let e = timeout(Duration::from_secs(60), TcpListener::bind(bad))
                .await
                .expect("no hang")
                .unwrap_err();
            assert!(!e.to_string().is_empty(), "{bad:?}");
            let e = timeout(Duration::from_secs(60), TcpStream::connect(bad))
                .await
                .expect("no hang")
                .unwrap_err();
            assert!(!e.to_string().is_empty(), "{bad:?}");
        }
    });
}

#[test]
fn unresolvable_names_and_unusable_addresses_are_errors_not_hangs() {
    rt().block_on(async {
        // `.invalid` never resolves (RFC 2606); the lookup runs on the blocking pool.
        let r = timeout(
            Duration::from_secs(60),
            TcpStream::connect("no-such-host.invalid:80"),
        )
        .await
        .expect("name resolution gave up in time");
        assert!(r.is_err());
        // A closed port.
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let e = TcpStream::connect(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConnectionRefused, "{e}");
        // In use.
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let e = TcpListener::bind(l.local_addr().unwrap())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        // Not an address of this machine.
        let e = TcpListener::bind("192.0.2.1:0").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrNotAvailable, "{e}");
        // UDP send with no destination.
        let u = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        assert!(u.send(b"x").await.is_err());
        assert!(u.peer_addr().is_err());
    });
}

#[test]
fn unix_socket_paths() {
    rt().block_on(async {
        let dir = std::env::temp_dir().join(format!("ciranda-bad-input-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let long = dir.join("x".repeat(200));
        let e = UnixListener::bind(&long).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        let path = dir.join("sock");
        let _ = std::fs::remove_file(&path);
        let l = UnixListener::bind(&path).unwrap();
        let e = UnixListener::bind(&path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::AddrInUse, "{e}");
        drop(l);
        let e = UnixStream::connect(dir.join("missing")).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    });
}

#[test]
fn descriptors_epoll_refuses_are_errors() {
    let rt = rt();
    let _guard = rt.enter();
    let file = std::fs::File::open(env!("CARGO_MANIFEST_DIR").to_owned() + "/Cargo.toml").unwrap();
    let e = Async::new(file).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EPERM), "{e}");
}

#[test]
fn sockets_outside_a_runtime_are_errors_naming_the_problem() {
    let r = futures_util::FutureExt::now_or_never(TcpListener::bind("127.0.0.1:0"));
    let e = r.expect("fails at once").unwrap_err();
    assert!(e.to_string().contains("no ciranda runtime"), "{e}");
    let std_listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let e = TcpListener::from_std(std_listener).unwrap_err();
    assert!(e.to_string().contains("no ciranda runtime"), "{e}");
    let e = UnixListener::bind(std::env::temp_dir().join("ciranda-never")).unwrap_err();
    assert!(e.to_string().contains("no ciranda runtime"), "{e}");
    // In the facade's words: what to call, not a crate the user cannot reach.
    assert!(e.to_string().contains("Runtime::block_on"), "{e}");
    assert!(!e.to_string().contains("ciranda_reactor"), "{e}");
}
