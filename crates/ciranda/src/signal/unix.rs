//! Unix signals as async streams — asyncio's `loop.add_signal_handler`.
//!
//! Each [`Signal`] owns a socket pair: a signal-hook handler writes one byte into it per
//! delivery (async-signal-safe), and the read end is registered with the reactor of the runtime
//! that first polls it. So every listener of a signal sees each delivery, and a delivery that
//! arrives while nobody awaits stays in the pipe: the next [`Signal::recv`] returns at once.
//! Deliveries that arrive between two `recv`s are coalesced into one, as the kernel itself
//! coalesces pending signals.

use ciranda_reactor::Async;
use futures_core::Stream;
use signal_hook::SigId;
use std::fmt;
use std::io::{self, Read};
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

/// Which signal to listen for.
///
/// # Examples
///
/// ```
/// use ciranda::signal::unix::SignalKind;
/// assert_eq!(SignalKind::terminate().as_raw_value(), libc::SIGTERM);
/// assert_eq!(SignalKind::from_raw(libc::SIGUSR1), SignalKind::user_defined1());
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct SignalKind(i32);

impl SignalKind {
    /// A signal by its number (`libc::SIGWINCH`, ...). Whether it can be listened for is
    /// checked by [`signal`].
    pub const fn from_raw(signum: i32) -> SignalKind {
        SignalKind(signum)
    }

    /// The signal's number.
    pub const fn as_raw_value(self) -> i32 {
        self.0
    }

    /// `SIGINT` (Ctrl+C).
    pub const fn interrupt() -> SignalKind {
        SignalKind(libc::SIGINT)
    }

    /// `SIGTERM` (the polite "please stop" of `kill` and service managers).
    pub const fn terminate() -> SignalKind {
        SignalKind(libc::SIGTERM)
    }

    /// `SIGHUP` (terminal closed; by convention "reload configuration" for daemons).
    pub const fn hangup() -> SignalKind {
        SignalKind(libc::SIGHUP)
    }

    /// `SIGUSR1`.
    pub const fn user_defined1() -> SignalKind {
        SignalKind(libc::SIGUSR1)
    }

    /// `SIGUSR2`.
    pub const fn user_defined2() -> SignalKind {
        SignalKind(libc::SIGUSR2)
    }

    /// `SIGCHLD` (a child process stopped or exited).
    pub const fn child() -> SignalKind {
        SignalKind(libc::SIGCHLD)
    }

    /// `SIGQUIT` (Ctrl+\).
    pub const fn quit() -> SignalKind {
        SignalKind(libc::SIGQUIT)
    }

    /// `SIGALRM`.
    pub const fn alarm() -> SignalKind {
        SignalKind(libc::SIGALRM)
    }

    /// `SIGPIPE`.
    pub const fn pipe() -> SignalKind {
        SignalKind(libc::SIGPIPE)
    }

    /// `SIGWINCH` (terminal resized).
    pub const fn window_change() -> SignalKind {
        SignalKind(libc::SIGWINCH)
    }
}

impl fmt::Debug for SignalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignalKind({})", self.0)
    }
}

impl From<i32> for SignalKind {
    fn from(signum: i32) -> SignalKind {
        SignalKind(signum)
    }
}

/// Starts listening for `kind`. From now on, its deliveries are recorded for this listener
/// (and no longer run the default action, such as terminating the process — not even after
/// the listener is dropped, as with every Rust signal library).
///
/// # Errors
///
/// `InvalidInput` for a signal that cannot be caught or must not be (`SIGKILL`, `SIGSTOP`,
/// `SIGILL`, `SIGFPE`, `SIGSEGV`) or a number that is not a signal; any error of making the
/// socket pair.
///
/// # Examples
///
/// ```
/// use ciranda::signal::unix::{SignalKind, signal};
///
/// ciranda::run(async {
///     let mut usr1 = signal(SignalKind::user_defined1())?;
///     // SAFETY: raising a signal we listen for on our own process.
///     unsafe { libc::raise(libc::SIGUSR1) };
///     assert_eq!(usr1.recv().await, Some(()));
///     assert!(signal(SignalKind::from_raw(libc::SIGKILL)).is_err());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub fn signal(kind: SignalKind) -> io::Result<Signal> {
    Ok(Signal {
        listener: Listener::new(kind.0)?,
        kind,
    })
}

/// A listener of one signal: [`recv`](Signal::recv) it, or use it as a
/// `Stream<Item = ()>`. Made by [`signal`].
///
/// # Examples
///
/// ```
/// use ciranda::signal::unix::{SignalKind, signal};
/// use ciranda::stream::StreamExt;
///
/// ciranda::run(async {
///     let mut hup = signal(SignalKind::hangup())?;
///     // SAFETY: raising a signal we listen for on our own process.
///     unsafe { libc::raise(libc::SIGHUP) };
///     assert_eq!(hup.next().await, Some(()));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Signal {
    listener: Listener,
    kind: SignalKind,
}

impl fmt::Debug for Signal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signal").field("kind", &self.kind).finish()
    }
}

impl Signal {
    /// Waits for the next delivery (returns at once if one arrived since the last `recv`;
    /// several deliveries since then count as one). `None` only when the runtime this
    /// listener waits in has shut down for good.
    ///
    /// # Panics
    ///
    /// When first polled outside a ciranda runtime.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: a delivery is taken only in the poll that returns it, so a dropped `recv()`
    /// loses none.
    pub async fn recv(&mut self) -> Option<()> {
        std::future::poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Polls for the next delivery (see [`recv`](Signal::recv)); only the waker of the most
    /// recent call is kept.
    pub fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.listener.poll(cx).map(Result::ok)
    }

    /// The signal this listener waits for.
    pub fn kind(&self) -> SignalKind {
        self.kind
    }
}

impl Stream for Signal {
    type Item = ();

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<()>> {
        self.get_mut().poll_recv(cx)
    }
}

/// The panic of a listener first polled outside any runtime.
pub(crate) const NO_RUNTIME: &str = "ciranda::signal: polled outside a ciranda runtime; await it inside `ciranda::run`, `Runtime::block_on` or `#[ciranda::main]` (or a task they run)";

/// The error of a listener whose runtime has shut down.
const RUNTIME_GONE: &str = "ciranda::signal: the runtime this signal listener was first polled in has shut down, so nothing will report its signals any more; listening for signals needs a running runtime (make the listener, or call `ctrl_c()`, in the runtime that awaits it)";

/// Does `reactor` refuse waits here because its runtime has shut down (for good, or for every
/// thread outside a `block_on` through one of its handles)?
fn runtime_gone(reactor: &ciranda_reactor::Reactor) -> bool {
    reactor.is_shut_down()
        || (reactor.is_runtime_shut_down()
            && !ciranda_reactor::Reactor::try_current().is_some_and(|c| c.ptr_eq(reactor)))
}

/// A signal-hook registration writing into a socket pair whose read end is registered with
/// the reactor of the first poll (so listeners can be made anywhere).
pub(crate) struct Listener {
    pipe: Pipe,
    id: SigId,
}

enum Pipe {
    /// Not polled yet: no reactor chosen.
    Unbound(Option<UnixStream>),
    Bound(Async<UnixStream>),
}

impl Listener {
    pub(crate) fn new(signum: i32) -> io::Result<Listener> {
        if signum <= 0 || signal_hook::consts::FORBIDDEN.contains(&signum) {
            // signal-hook panics on these; a caller's bad input deserves an error.
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "signal {signum} cannot be listened for (SIGKILL, SIGSTOP, SIGILL, SIGFPE, SIGSEGV and non-positive numbers are refused)"
                ),
            ));
        }
        let (read, write) = UnixStream::pair()?;
        Listener::with_pair(signum, read, write)
    }

    /// [`new`](Listener::new) over a socket pair made earlier (`signum` is not checked again:
    /// the caller passes one `new` accepts). It opens no descriptor, so it works when the
    /// process has none to spare.
    pub(crate) fn with_pair(
        signum: i32,
        read: UnixStream,
        write: UnixStream,
    ) -> io::Result<Listener> {
        read.set_nonblocking(true)?;
        write.set_nonblocking(true)?;
        let id = signal_hook::low_level::pipe::register(signum, write).map_err(|e| {
            io::Error::new(e.kind(), format!("cannot listen for signal {signum}: {e}"))
        })?;
        Ok(Listener {
            pipe: Pipe::Unbound(Some(read)),
            id,
        })
    }

    fn pipe(&mut self) -> io::Result<&Async<UnixStream>> {
        if let Pipe::Unbound(read) = &mut self.pipe {
            if ciranda_reactor::Reactor::try_current().is_none() {
                panic!("{NO_RUNTIME}");
            }
            let read = read
                .take()
                .ok_or_else(|| io::Error::other("signal listener polled after it failed"))?;
            self.pipe = Pipe::Bound(Async::new_nonblocking(read)?);
        }
        match &self.pipe {
            Pipe::Bound(pipe) => Ok(pipe),
            Pipe::Unbound(_) => unreachable!("bound just above"),
        }
    }

    /// Ready once at least one delivery is pending; consumes all pending deliveries.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let pipe = self.pipe()?;
        let mut bytes = [0u8; 64];
        if let Err(e) = ready!(pipe.poll_read_with(cx, |mut p| p.read(&mut bytes))) {
            // The reactor's own message speaks of sockets the caller never made.
            return Poll::Ready(Err(if runtime_gone(pipe.reactor()) {
                io::Error::new(io::ErrorKind::BrokenPipe, RUNTIME_GONE)
            } else {
                e
            }));
        }
        // Coalesce whatever else is already queued, so one `recv` answers a burst.
        while let Ok(n) = pipe.get_ref().read(&mut bytes) {
            if n < bytes.len() {
                break;
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        signal_hook::low_level::unregister(self.id);
    }
}
