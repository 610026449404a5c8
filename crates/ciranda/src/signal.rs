//! Signals: `ctrl_c()`, for servers that run until interrupted (asyncio's `run_forever`
//! plus a `SIGINT` handler).

use ciranda_reactor::Async;
use signal_hook::SigId;
use std::fmt;
use std::future::Future;
use std::io;
use std::os::unix::net::UnixStream;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Completes when the process receives Ctrl+C (`SIGINT`).
///
/// The handler is registered when `ctrl_c()` is called, so a signal that arrives between the
/// call and the first `.await` is not missed. The future binds to the runtime that first polls
/// it, so it may be made anywhere: `rt.block_on(ciranda::signal::ctrl_c())` waits for the
/// signal. While any `CtrlC` future exists, `SIGINT` no longer terminates the process (and
/// once one was registered, the default action is not restored — the same as every Rust
/// signal library).
///
/// # Errors
///
/// When the signal handler or its pipe cannot be set up (the error is reported on the
/// first poll), or when the runtime it waits in has shut down for good.
///
/// # Panics
///
/// When first polled outside a ciranda runtime.
///
/// ```no_run
/// #[ciranda::main]
/// async fn main() -> std::io::Result<()> {
///     println!("serving until Ctrl+C");
///     ciranda::signal::ctrl_c().await?;
///     println!("bye");
///     Ok(())
/// }
/// ```
pub fn ctrl_c() -> CtrlC {
    CtrlC {
        state: register().map_err(Some),
    }
}

/// The panic of a `CtrlC` first polled outside any runtime.
const NO_RUNTIME: &str = "ciranda::signal::ctrl_c: polled outside a ciranda runtime; await it inside `ciranda::run`, `Runtime::block_on` or `#[ciranda::main]` (or a task they run)";

/// The future returned by [`ctrl_c`].
///
/// ```
/// ciranda::run(async {
///     let interrupted: ciranda::signal::CtrlC = ciranda::signal::ctrl_c();
///     signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
///     interrupted.await.unwrap();
/// });
/// ```
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CtrlC {
    state: Result<Registration, Option<io::Error>>,
}

/// The signal handler writes one byte per signal into `write`'s peer; the read end is
/// registered with the reactor of the first poll.
struct Registration {
    pipe: Pipe,
    id: SigId,
}

enum Pipe {
    /// Not polled yet: no reactor chosen.
    Unbound(Option<UnixStream>),
    Bound(Async<UnixStream>),
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").finish_non_exhaustive()
    }
}

fn register() -> io::Result<Registration> {
    let (read, write) = UnixStream::pair()?;
    read.set_nonblocking(true)?;
    let id = signal_hook::low_level::pipe::register(signal_hook::consts::SIGINT, write)?;
    Ok(Registration {
        pipe: Pipe::Unbound(Some(read)),
        id,
    })
}

impl Registration {
    fn pipe(&mut self) -> io::Result<&Async<UnixStream>> {
        if let Pipe::Unbound(read) = &mut self.pipe {
            if ciranda_reactor::Reactor::try_current().is_none() {
                panic!("{NO_RUNTIME}");
            }
            let read = read
                .take()
                .ok_or_else(|| io::Error::other("CtrlC polled after it reported its error"))?;
            self.pipe = Pipe::Bound(Async::new_nonblocking(read)?);
        }
        match &self.pipe {
            Pipe::Bound(pipe) => Ok(pipe),
            Pipe::Unbound(_) => unreachable!("bound just above"),
        }
    }
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            Err(error) => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| io::Error::other("CtrlC polled after it reported its error")))),
            Ok(registration) => {
                let pipe = match registration.pipe() {
                    Ok(pipe) => pipe,
                    Err(e) => return Poll::Ready(Err(e)),
                };
                let mut bytes = [0u8; 16];
                pipe.poll_read_with(cx, |mut pipe| std::io::Read::read(&mut pipe, &mut bytes))
                    .map_ok(drop)
            }
        }
    }
}

impl Drop for CtrlC {
    fn drop(&mut self) {
        if let Ok(registration) = &self.state {
            signal_hook::low_level::unregister(registration.id);
        }
    }
}
