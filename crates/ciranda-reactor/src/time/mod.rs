//! Timers and the (virtual) clock: `sleep`, `timeout`, `interval`, `Instant`.
//!
//! Every timer belongs to the reactor that was current when it was created (one made outside
//! any runtime binds to the reactor of the thread that first polls it), and fires on that
//! reactor's clock. A reactor's clock can be paused for tests ([`pause`], [`advance`],
//! `ReactorBuilder::start_paused`): paused time stands still, and a driver that knows every
//! task is idle (such as [`block_on`](crate::block_on)) jumps it to the next timer.
//!
//! # Why a timing wheel
//!
//! Timers are stored in a hierarchical timing wheel (`LEVELS` levels of `SLOTS` slots, both in
//! `wheel.rs`, at 62.5 µs resolution, about two years per turn of the top level, later deadlines
//! in an overflow list re-sorted once per such epoch). Insert and cancel are O(1) (intrusive lists in a slab; a generation protects
//! against reuse of a cancelled slot), and the next deadline is found with one bitmap scan per
//! level, which is what the poller needs before each wait. Each timer is moved at most once per
//! level as its deadline approaches, so firing costs O(levels) per timer amortised.
//!
//! The alternatives were weighed: a `BTreeMap<(Instant, id), Waker>` (async-io) costs
//! O(log n) per insert *and* per cancel and allocates tree nodes; a binary heap cannot cancel
//! in O(1) without tombstones that linger until they reach the top. Network code mostly sets
//! timeouts that are cancelled before they fire (every read with a deadline), so cheap cancel
//! matters most, and that is the wheel's strength. The price is the wheel's resolution:
//! deadlines are rounded up to the wheel's next tick (62.5 µs), so a timer never fires early
//! and at most a tick late, plus scheduling latency (on Linux the poller's waits are exact to
//! the nanosecond, and a thread that waits there has its timer slack set to 1 ns). A runtime's
//! reactor keeps one wheel per worker, each behind its own mutex, held for O(1) work except
//! while firing: a timer goes to the wheel of the worker that polls it first, so workers arming
//! timers at once do not contend (see [`ReactorBuilder::timer_shards`]).
//!
//! [`ReactorBuilder::timer_shards`]: crate::ReactorBuilder::timer_shards

mod instant;
mod interval;
mod sleep;
mod timeout;

pub use instant::Instant;
pub use interval::{Interval, MissedTickBehavior, interval, interval_at};
pub use sleep::{Sleep, sleep, sleep_until};
pub use timeout::{Elapsed, Timeout, timeout, timeout_at};

/// Re-exported for convenience: every duration in this module is a `std::time::Duration`.
pub use std::time::Duration;

use crate::reactor::{NO_REACTOR, Reactor};
use std::future::{Future, poll_fn};
use std::panic::Location;
use std::task::Poll;

/// Pauses the current reactor's clock (no-op if already paused): `Instant::now()` stands still
/// and timers fire only through [`advance`] or auto-advance.
///
/// The clock freezes at the current instant rounded up to the timer wheel's tick (62.5 µs),
/// as a clock started paused stands on one: a `sleep(d)` of whole milliseconds armed after the
/// pause fires at exactly `d`, through `advance(d)` or auto-advance.
///
/// # Panics
/// Outside a runtime (the panic points at the caller).
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Instant};
/// use std::time::Duration;
///
/// let rt = ciranda::Runtime::new()?;
/// let _guard = rt.enter();
/// time::pause();
/// let t = Instant::now();
/// std::thread::sleep(Duration::from_millis(2));
/// assert_eq!(Instant::now(), t);
/// time::resume();
/// # std::io::Result::Ok(())
/// ```
#[track_caller]
pub fn pause() {
    Reactor::current().pause_clock();
}

/// Lets the current reactor's clock run again from where it stands (no-op if running).
///
/// # Panics
/// Outside a runtime (the panic points at the caller).
#[track_caller]
pub fn resume() {
    Reactor::current().resume_clock();
}

/// Moves the paused clock forwards by `duration`, fires every timer that became due, then
/// yields once so the woken tasks can run.
///
/// # Panics
/// If the clock is not paused, or when first polled outside a runtime (the message names the
/// caller's location).
///
/// # Examples
///
/// ```
/// use ciranda::time::{self, Instant};
/// use std::time::Duration;
///
/// let rt = ciranda::Runtime::builder().start_paused(true).build()?;
/// rt.block_on(async {
///     let t = Instant::now();
///     time::advance(Duration::from_secs(5)).await;
///     assert_eq!(t.elapsed(), Duration::from_secs(5));
/// });
/// # std::io::Result::Ok(())
/// ```
///
/// # Cancel safety
///
/// The clock moves in the future's first poll: dropped before it, nothing happens; dropped after
/// it, the clock stays moved.
#[track_caller]
pub fn advance(duration: Duration) -> impl Future<Output = ()> + Send + 'static {
    // The reactor is looked up when the future is first polled (the clock moves then); a
    // missing one is reported with the caller's location.
    let caller = Location::caller();
    async move {
        let Some(reactor) = Reactor::try_current() else {
            panic!("{NO_REACTOR} (`time::advance` called at {caller})");
        };
        reactor.advance_clock(duration);
        let mut yielded = false;
        poll_fn(|cx| {
            if yielded {
                Poll::Ready(())
            } else {
                yielded = true;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        })
        .await;
    }
}
