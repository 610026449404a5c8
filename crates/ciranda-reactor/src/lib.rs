//! ciranda's reactor: I/O readiness on epoll (`polling` off Linux), timers on a timing wheel,
//! and the socket types tasks await.
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
//! * **Registrations.** One poller per reactor (epoll itself on Linux and Android, so a turn
//!   is one `epoll_wait` and a notification while nobody waits is only a flag; `polling`
//!   elsewhere), edge-triggered: a descriptor is added with no interest (an accepted or
//!   connecting socket not even that), armed for both directions at its first wait and never
//!   re-armed, so a wait costs no system call and a socket that never waits causes no event
//!   (an accepted one, no `epoll_ctl`). A TCP read or write shorter than its buffer
//!   ends the transfers in that direction until the next report (no `EAGAIN` round trip).
//!   Registrations live in a `slab::Slab`; the poller key is the slab index tagged with a
//!   generation, so an event that was already collected for a descriptor that has since been
//!   deregistered can never wake a newer registration that reused the slot. Each registration
//!   counts, per direction, the reports delivered; an I/O operation samples that count before
//!   it tries and waits after `WouldBlock` only if nothing was reported since (see the state
//!   table in the `registration` module source). Per direction, the `poll_*` methods keep
//!   the latest waker only (the futures-io contract) and every waiting future of ours has an
//!   entry of its own that its drop removes, so cancelled waits leave nothing behind. No
//!   waker is cloned, replaced or dropped under a lock (a waker's clone or drop may call
//!   back into the reactor), and wakers are woken after every lock is released, each under
//!   `catch_unwind`.
//! * **Deregistration before close.** `Poller::add` is unsafe because a descriptor closed
//!   while registered leaves the kernel watching a number that may be reused. Every I/O object
//!   is an [`Async<T>`] that owns its descriptor and deletes it from the poller (under the
//!   registration's lock, which also guards every delivery) before the descriptor is closed.
//! * **Turns.** [`Reactor::try_turn`] fires due timers, waits in the poller bounded by the next
//!   timer (or not at all if something is due), dispatches readiness, fires timers again, and
//!   returns. It never runs tasks while holding the poller, so a task that hogs its thread cannot
//!   starve I/O: any other idle thread takes the next turn, and [`Reactor::wait_for_turn`] lets
//!   threads that found the poller busy sleep until it is free.
//! * **Timers.** A hierarchical timing wheel (see [`time`] for the structure and why it was
//!   chosen over a B-tree or a heap), one per shard
//!   ([`ReactorBuilder::timer_shards`]: a runtime gives each worker its own, so workers arm and
//!   cancel timers without meeting on a lock; every turn fires them all), with a per-reactor
//!   clock that can be paused for tests and auto-advanced when everything is idle.
//! * **Cooperative budget.** Leaf futures spend the scheduler's per-poll budget (the
//!   `ciranda-coop` crate) before making progress, so a task that always finds its socket ready
//!   still yields.
//!
//! Every socket type and `Sleep` finds its reactor through the thread's current reactor when it
//! is created ([`Reactor::enter`], set by [`block_on`] and by the runtime) and keeps a
//! reference to it, so tasks may move between threads. A timer made outside any reactor
//! binds to the one of the thread that first polls it. Those references are not handles:
//! when the last [`Reactor`] handle goes, nothing can drive the reactor again, and it shuts
//! down — waiting timers and I/O are woken and fail with a message saying so, instead of
//! hanging (see "Shut down" on [`Reactor`]).
//!
//! # Driving a reactor from a scheduler
//!
//! The contract a runtime's parking hook relies on (this is what `ciranda` does):
//!
//! * every worker thread [`enter`](Reactor::enter)s the runtime's reactor;
//! * an idle worker calls [`try_turn`](Reactor::try_turn)`(timeout, auto_advance)` with
//!   [`AutoAdvance::WhenIdle`]`(all_idle)`, `all_idle` being the runtime's idle check for a
//!   paused clock. `Some(_)`: it waited in the poller (bounded by the next timer) and may have woken tasks, so it looks for
//!   work again. `None`: another thread holds the poller, so it parks on its own condvar. It
//!   must be woken when the poller is free again: by that thread, if it is a worker of the glue
//!   that hands the poller over, or else by registering with
//!   [`wait_for_turn`](Reactor::wait_for_turn) first (any thread may turn a reactor it
//!   entered, and a [`block_on`] there knows nothing of the glue's workers);
//! * to wake a parked worker: if it is the one inside `try_turn` (the glue records this around
//!   the call; [`is_turning`](Reactor::is_turning) tells whether anyone is), call
//!   [`notify`](Reactor::notify); otherwise signal its condvar. A notification ends whichever
//!   turn is in the poller, so one meant for a worker that has not got the poller yet can be
//!   spent by another thread's turn: after a turn, notify again if such a worker has a wake-up
//!   pending (or have it check its own signal inside the turn, with
//!   [`try_turn_unless`](Reactor::try_turn_unless));
//! * `all_idle` is `true` only when no task is queued or running anywhere: then a paused clock
//!   jumps to the next timer (`#[ciranda::test(start_paused = true)]`).
//!
//! A turn never runs tasks, so the poller is free again as soon as readiness is dispatched: a
//! worker stuck in a long poll never holds I/O and timers hostage; the next idle worker turns.
//! Timers created while a thread waits in the poller with a later (or no) deadline notify it.

#![deny(unsafe_op_in_unsafe_fn)]
#![cfg(unix)]

mod block_on;
mod clock;
mod coop;
pub mod io;
mod loom;
pub mod net;
mod poller;
mod reactor;
mod readiness;
mod registration;
pub mod time;
mod timer_shards;
mod turn_wakers;
mod wheel;

pub use block_on::block_on;
pub use io::Async;
pub use reactor::{AutoAdvance, BlockingSpawner, EnterGuard, Reactor, ReactorBuilder, ReactorRef};
