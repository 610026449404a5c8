//! TCP, UDP and Unix-domain (stream and datagram) sockets driven by the reactor.
//!
//! Every socket is non-blocking and close-on-exec, registered with the reactor that is current
//! when it is created (outside any: an error saying "there is no ciranda runtime on this
//! thread" and where to make one). `WouldBlock` parks the task until the reactor reports
//! readiness; `EINTR` is retried. Errors from `accept` (such as `EMFILE`, too many open files)
//! are returned to the caller and the listener stays usable.
//!
//! Addresses are anything [`ToSocketAddrs`]: a `SocketAddr`, `(ip, port)`, `"host:port"`,
//! `(host, port)`, `String`. Host names are resolved on the reactor's blocking spawner (the
//! runtime's blocking pool), never on an async thread.

mod addr;
#[cfg(any(target_os = "linux", target_os = "android"))]
mod inq;
mod socket;
mod stream;
pub mod tcp;
mod tcp_socket;
mod try_io;
mod ucred;
mod udp;
pub mod unix;
mod unix_datagram;

pub use addr::{ToSocketAddrs, lookup_host};
pub use tcp::{Incoming, TcpListener, TcpStream};
pub use tcp_socket::TcpSocket;
pub use udp::UdpSocket;
pub use unix::{UnixIncoming, UnixListener, UnixStream};
pub use unix_datagram::UnixDatagram;
