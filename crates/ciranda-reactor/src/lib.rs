//! ciranda's reactor: I/O readiness on [`polling`], timers on a timing wheel, and the socket
//! types tasks await.
//!
//! The crate does not know the scheduler. Whoever owns threads drives a [`Reactor`] with
//! [`Reactor::try_turn`] (one thread at a time waits in the poller, with the next timer as its
//! timeout) and wakes it with [`Reactor::notify`]. The `ciranda` facade does this from the
//! scheduler's parking hook; [`block_on`] does it on the calling thread, so the crate is useful
//! alone:
//!
//! ```
//! use ciranda_reactor::net::{TcpListener, TcpStream};
//! use ciranda_reactor::time::{self, Duration};
//! use futures_util::io::{AsyncReadExt, AsyncWriteExt};
//!
//! ciranda_reactor::block_on(async {
//!     let listener = TcpListener::bind("127.0.0.1:0").await?;
//!     let addr = listener.local_addr()?;
//!     let server = async {
//!         let (mut s, _) = listener.accept().await?;
//!         let mut buf = [0; 4];
//!         s.read_exact(&mut buf).await?;
//!         s.write_all(&buf).await?;
//!         std::io::Result::Ok(())
//!     };
//!     let client = async {
//!         let mut c = TcpStream::connect(addr).await?;
//!         c.write_all(b"ping").await?;
//!         let mut buf = [0; 4];
//!         time::timeout(Duration::from_secs(5), c.read_exact(&mut buf)).await??;
//!         assert_eq!(&buf, b"ping");
//!         std::io::Result::Ok(())
//!     };
//!     let (s, c) = futures_util::join!(server, client);
//!     s.and(c)
//! })?;
//! # std::io::Result::Ok(())
//! ```
//!
//! # Design
//!
//! * **Registrations.** One `polling::Poller` per reactor, in oneshot mode, re-armed per
//!   direction whenever a task starts waiting. Registrations live in a `slab::Slab`; the
//!   poller key is the slab index tagged with a generation, so an event that was already
//!   collected for a descriptor that has since been deregistered can never wake a newer
//!   registration that reused the slot. Each registration keeps, per direction, the tick of
//!   the last event and the wakers waiting (see the state table in the `registration` module
//!   source). Wakers are woken after every lock is released, each under `catch_unwind`.
//! * **Deregistration before close.** `Poller::add` is unsafe because a descriptor closed
//!   while registered leaves the kernel watching a number that may be reused. Every I/O object
//!   is an [`Async<T>`] that owns its descriptor and deletes it from the poller (under the
//!   registration's lock, which also guards every re-arm) before the descriptor is closed.
//! * **Turns.** [`Reactor::try_turn`] fires due timers, waits in the poller bounded by the next
//!   timer (or not at all if something is due), dispatches readiness, fires timers again, and
//!   returns. It never runs tasks while holding the poller, so a task that hogs its thread cannot
//!   starve I/O: any other idle thread takes the next turn, and [`Reactor::wait_for_turn`] lets
//!   threads that found the poller busy sleep until it is free.
//! * **Timers.** A hierarchical timing wheel (see [`time`] for the structure and why it was
//!   chosen over a B-tree or a heap); per reactor, with a per-reactor clock that can be paused
//!   for tests and auto-advanced when everything is idle.
//! * **Cooperative budget.** Leaf futures consult [`coop`]'s hook before making progress.
//!
//! Every socket type and `Sleep` finds its reactor through the thread's current reactor when it
//! is created ([`Reactor::enter`], set by [`block_on`] and by the runtime) and keeps a handle
//! to it, so tasks may move between threads.

#![deny(unsafe_op_in_unsafe_fn)]
#![cfg(unix)]

mod block_on;
mod clock;
pub mod coop;
pub mod io;
mod loom;
pub mod net;
mod reactor;
mod registration;
pub mod time;
mod wheel;

pub use block_on::block_on;
pub use io::Async;
pub use reactor::{BlockingSpawner, EnterGuard, Reactor, ReactorBuilder};
