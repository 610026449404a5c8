//! Signals: `ctrl_c()`, for servers that run until interrupted (asyncio's `run_forever`
//! plus a `SIGINT` handler), and [`unix::signal`] for any catchable signal (asyncio's
//! `loop.add_signal_handler`).

pub mod unix;

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use unix::Listener;

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
/// first poll), or, with kind `BrokenPipe`, when the runtime it was first polled in has shut
/// down (polled afterwards in another runtime, or outside a `block_on` through a handle of
/// that runtime): nothing reports its signals any more.
///
/// # Panics
///
/// When first polled outside a ciranda runtime.
///
/// # Examples
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
        state: Listener::new(signal_hook::consts::SIGINT).map_err(Some),
    }
}

/// The future returned by [`ctrl_c`].
///
/// # Examples
///
/// ```
/// ciranda::run(async {
///     let interrupted: ciranda::signal::CtrlC = ciranda::signal::ctrl_c();
///     signal_hook::low_level::raise(signal_hook::consts::SIGINT).unwrap();
///     interrupted.await.unwrap();
/// });
/// ```
///
/// # Cancel safety
///
/// Dropping a `CtrlC` stops listening: a Ctrl+C delivered to it but not yet returned is lost, and a
/// new [`ctrl_c`] sees only later ones.
#[must_use = "futures do nothing unless you `.await` or poll them"]
pub struct CtrlC {
    state: Result<Listener, Option<io::Error>>,
}

impl fmt::Debug for CtrlC {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CtrlC").finish_non_exhaustive()
    }
}

impl Future for CtrlC {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.state {
            Err(error) => Poll::Ready(Err(error
                .take()
                .unwrap_or_else(|| io::Error::other("CtrlC polled after it reported its error")))),
            Ok(listener) => listener.poll(cx),
        }
    }
}
