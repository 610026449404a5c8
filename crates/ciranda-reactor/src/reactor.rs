//! The reactor: one poller, the registrations, the timers and the clock.

use crate::clock::Clock;
use crate::loom::{Arc, AtomicBool, AtomicUsize, Mutex};
use crate::poller::{Event, Events, NOTIFY_KEY, Poller};
use crate::registration::{Closed, READ, Source, WRITE, Waiter};
use crate::timer_shards::{ShardOfThread, TimerShards};
use crate::turn_wakers;
use crate::wheel::TimerKey;
use slab::Slab;
use std::cell::{OnceCell, RefCell};
use std::fmt;
use std::io;
use std::marker::PhantomData;
use std::ops::Deref;
use std::os::fd::{BorrowedFd, RawFd};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::Ordering::{AcqRel, Relaxed, SeqCst};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant as StdInstant};

/// The message of every "no runtime here" panic and error.
pub(crate) const NO_REACTOR: &str = "there is no ciranda runtime on this thread: create sockets and timers inside `ciranda::run`, `Runtime::block_on` or `#[ciranda::main]` (or a task they run), or after `Handle::enter()`";

/// The panic of a timer polled outside any runtime before it was bound to one.
pub(crate) const NO_REACTOR_TIMER: &str = "ciranda::time: a timer was polled outside a ciranda runtime; await it inside `ciranda::run`, `Runtime::block_on` or `#[ciranda::main]` (or a task they run)";

/// The panic of a timer whose reactor lost its last handle.
pub(crate) const RUNTIME_GONE_TIMER: &str = "ciranda::time: this timer belongs to a runtime that has been shut down, so no thread will ever drive its clock again; create timers inside the runtime that awaits them";

/// The panic of a timer polled outside its runtime's `block_on` after that runtime shut down.
pub(crate) const RUNTIME_SHUT_DOWN_TIMER: &str = "ciranda::time: this timer belongs to a runtime that has been shut down; only a `block_on` through a handle of that runtime still drives its clock, and this timer was polled outside one; create timers inside the runtime that awaits them";

/// Why a timer will never fire where it is polled (see [`Reactor`]'s "Shut down"); holds the
/// panic message.
#[derive(Debug)]
pub(crate) struct RuntimeGone(pub(crate) &'static str);

/// Bits of a poller key that hold the slab index; the rest hold a registration generation.
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: usize = usize::MAX >> INDEX_BITS;

/// A function that runs a blocking job somewhere off the async threads (the runtime's blocking
/// pool); used for host-name resolution.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::BlockingSpawner;
///
/// let spawner: BlockingSpawner = Box::new(|job| {
///     std::thread::spawn(job);
/// });
/// spawner(Box::new(|| println!("runs on another thread")));
/// ```
pub type BlockingSpawner = Box<dyn Fn(Box<dyn FnOnce() + Send>) + Send + Sync>;

thread_local! {
    /// The reactors entered on this thread (see [`Reactor::enter`]).
    static CURRENT: RefCell<Entered> = const {
        RefCell::new(Entered {
            stack: Vec::new(),
            next_guard: 0,
        })
    };
    /// The reactor `block_on` uses on this thread when none is entered.
    static THREAD_DEFAULT: OnceCell<Reactor> = const { OnceCell::new() };
}

/// An I/O and timer event loop: one poller (epoll on Linux), the registered descriptors, a
/// timing wheel and a (possibly virtual) clock.
///
/// A `Reactor` is a cheap handle (`Clone + Send + Sync`, an `Arc` inside). Whoever owns threads
/// drives it with [`try_turn`](Reactor::try_turn): [`block_on`](crate::block_on) in this crate,
/// or the `ciranda` runtime's idle workers. I/O objects and timers find it through the thread's
/// current reactor (set by [`enter`](Reactor::enter)) when they are created, and keep it.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::{AutoAdvance, Reactor};
/// use std::time::Duration;
///
/// let reactor = Reactor::new()?;
/// let _guard = reactor.enter();
/// assert!(Reactor::current().ptr_eq(&reactor));
/// // Nothing registered: this turn just waits 1 ms and wakes nobody.
/// assert_eq!(reactor.try_turn(Some(Duration::from_millis(1)), AutoAdvance::Never), Some(0));
/// # std::io::Result::Ok(())
/// ```
///
/// # Shut down
///
/// Sockets and timers keep their reactor's memory alive but do not count as handles: when the
/// last `Reactor` handle is dropped (every runtime, `Handle`, entered thread and `block_on`
/// that could drive it is gone), no thread can ever turn it again. It then shuts down: every
/// waiting timer and I/O wait is woken, a timer polled afterwards panics and an I/O wait
/// fails with an `io::Error` saying that its runtime was shut down, instead of hanging.
///
/// A runtime that owns the reactor also tells it when its own threads stop driving it
/// ([`set_runtime_shut_down`](Reactor::set_runtime_shut_down)). From then on only a thread
/// whose current reactor it is (one inside a `block_on` through a handle of that runtime)
/// can be counted on to drive it, so a timer or I/O wait that would have to wait on any
/// other thread fails at once in the same way, even while handles still exist; inside that
/// `block_on` it keeps working. Waits already pending are woken to look again.
#[repr(transparent)]
pub struct Reactor {
    inner: Arc<Inner>,
}

/// Whether a [`Reactor::try_turn`] may jump a paused clock to the next timer deadline.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::{AutoAdvance, Reactor};
/// use std::time::Duration;
///
/// let reactor = Reactor::builder().start_paused(true).build()?;
/// let _guard = reactor.enter();
/// let sleep = ciranda_reactor::time::sleep(Duration::from_secs(3600));
/// let mut sleep = std::pin::pin!(sleep);
/// let waker = std::task::Waker::noop();
/// assert!(sleep.as_mut().poll(&mut std::task::Context::from_waker(waker)).is_pending());
/// // Nothing else can happen before the timer: jump the hour and fire it.
/// assert_eq!(reactor.try_turn(None, AutoAdvance::WhenIdle(&|| true)), Some(1));
/// # std::io::Result::Ok(())
/// ```
#[derive(Clone, Copy)]
pub enum AutoAdvance<'a> {
    /// Wait for real events only; a paused clock stands still.
    Never,
    /// Jump if the predicate says every task that uses this reactor is idle: nothing queued,
    /// running or woken that could still act before the next timer. The turn asks it at the
    /// moment it would jump — after it fired what was due and found no I/O — so the answer is
    /// fresh; the caller must make it exact (ciranda's scheduler takes a double collect of its
    /// activity counters).
    WhenIdle(&'a dyn Fn() -> bool),
}

impl std::fmt::Debug for AutoAdvance<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AutoAdvance::Never => "Never",
            AutoAdvance::WhenIdle(_) => "WhenIdle(..)",
        })
    }
}

/// A reactor reference that keeps the reactor's memory alive but is not a handle (see "Shut
/// down" on [`Reactor`]): sockets, timers and wakers hold one, and so should anything that
/// may outlive the threads driving the reactor (a runtime's parking hook, kept alive by any
/// stray task waker). It dereferences to `Reactor` to call its methods; cloning the
/// `Reactor` it dereferences to (or entering it) makes a real handle.
///
/// # Examples
///
/// ```
/// use ciranda_reactor::{Reactor, ReactorRef};
///
/// let reactor = Reactor::new()?;
/// let weak: ReactorRef = reactor.downgrade();
/// assert!(weak.ptr_eq(&reactor));
/// drop(reactor);
/// // The last handle is gone: the reactor shut down, and timers of it would fail.
/// assert!(weak.is_shut_down());
/// # std::io::Result::Ok(())
/// ```
#[repr(transparent)]
#[derive(Clone)]
pub struct ReactorRef {
    inner: Arc<Inner>,
}

impl Deref for ReactorRef {
    type Target = Reactor;

    fn deref(&self) -> &Reactor {
        // SAFETY: `Reactor` and `ReactorRef` are both `repr(transparent)` over the same field
        // type, so they have one layout and this reference cast is valid for the borrow. The
        // result is a shared borrow: nothing can move the `Reactor` out or run its `Drop`
        // through it, so the handle count is never decremented for this reference.
        unsafe { &*std::ptr::from_ref(self).cast::<Reactor>() }
    }
}

impl fmt::Debug for ReactorRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        (**self).fmt(f)
    }
}

impl Clone for Reactor {
    fn clone(&self) -> Reactor {
        // Relaxed, as `Arc::clone`: a new handle is made from an existing one, which keeps the
        // count above zero meanwhile.
        self.inner.handles.fetch_add(1, Relaxed);
        Reactor {
            inner: self.inner.clone(),
        }
    }
}

impl Drop for Reactor {
    fn drop(&mut self) {
        // AcqRel: whoever takes the count to zero sees everything the other handles did.
        if self.inner.handles.fetch_sub(1, AcqRel) == 1 {
            self.shut_down();
        }
    }
}

struct Inner {
    /// Live `Reactor` handles (not `ReactorRef`s); the reactor shuts down when it reaches 0.
    handles: AtomicUsize,
    /// Set by `set_runtime_shut_down`: waits must be polled on a thread that drives us.
    /// Stored before the sweep takes the registry and wheel locks; read under the source or
    /// wheel lock where a wait is about to be stored, so a wait either sees it or is swept.
    runtime_shut_down: AtomicBool,
    poller: Poller,
    sources: Mutex<Sources>,
    /// Held by the one thread inside `try_turn`.
    turn: Mutex<TurnState>,
    /// Mirrors "the turn lock is held"; changed only under `turn_waiters`' lock.
    turning: AtomicBool,
    /// Woken when the current turn ends (threads that found the poller busy).
    turn_waiters: Mutex<Vec<Waker>>,
    /// Turns that ended and are still waking their wakers (after releasing the poller). A
    /// paused clock does not jump while one is: the tasks they wake are not visible yet.
    waking: AtomicUsize,
    /// Jobs given to `spawn_blocking` (host-name lookups) that have not ended. A paused clock
    /// does not jump while one runs: the task awaiting it looks idle, but its wake-up is on
    /// the way, and a reactor without a blocking spawner runs the job on a thread of its own
    /// that no idle check can see.
    blocking_jobs: AtomicUsize,
    /// One wheel per shard (per worker in a runtime), see `timer_shards`.
    timers: TimerShards,
    clock: Clock,
    blocking_spawner: Option<BlockingSpawner>,
}

/// The registered I/O sources, by key (the slab index) and generation.
struct Sources {
    slab: Slab<Arc<Source>>,
    generation: usize,
    /// Set when the last handle went: new registrations are refused.
    shut_down: bool,
}

struct TurnState {
    events: Events,
    ready: Vec<(Arc<Source>, Event)>,
}

/// Configures a [`Reactor`].
///
/// # Examples
///
/// ```
/// use ciranda_reactor::Reactor;
///
/// let reactor = Reactor::builder()
///     .start_paused(true)
///     .blocking_spawner(|job| {
///         std::thread::spawn(job);
///     })
///     .build()?;
/// assert!(reactor.is_clock_paused());
/// # std::io::Result::Ok(())
/// ```
#[derive(Default)]
pub struct ReactorBuilder {
    start_paused: bool,
    blocking_spawner: Option<BlockingSpawner>,
    timer_shards: usize,
    timer_shard_of_thread: Option<ShardOfThread>,
}

impl fmt::Debug for ReactorBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ReactorBuilder")
            .field("start_paused", &self.start_paused)
            .field("blocking_spawner", &self.blocking_spawner.is_some())
            .field("timer_shards", &self.timer_shards.max(1))
            .field(
                "timer_shard_of_thread",
                &self.timer_shard_of_thread.is_some(),
            )
            .finish()
    }
}

impl ReactorBuilder {
    /// Starts the reactor's clock paused (virtual time): it moves only through
    /// [`time::advance`](crate::time::advance) or auto-advance (see [`Reactor::try_turn`]).
    pub fn start_paused(mut self, paused: bool) -> Self {
        self.start_paused = paused;
        self
    }

    /// Where blocking jobs (host-name lookups) run; without one, each job gets a short-lived
    /// thread of its own.
    pub fn blocking_spawner(
        mut self,
        spawner: impl Fn(Box<dyn FnOnce() + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.blocking_spawner = Some(Box::new(spawner));
        self
    }

    /// Splits the timers into `shards` timing wheels, each behind its own lock (default and
    /// minimum: one). A timer goes to the wheel of the thread that first polls it, so threads
    /// on different shards arm and cancel timers without meeting on a lock; every turn fires
    /// all of them. A runtime gives each worker its shard (see
    /// [`timer_shard_of_thread`](Self::timer_shard_of_thread)).
    ///
    /// ```
    /// use ciranda_reactor::Reactor;
    ///
    /// let reactor = Reactor::builder().timer_shards(4).build()?;
    /// ciranda_reactor::block_on(async {
    ///     ciranda_reactor::time::sleep(std::time::Duration::from_millis(1)).await;
    /// });
    /// # drop(reactor);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn timer_shards(mut self, shards: usize) -> Self {
        self.timer_shards = shards;
        self
    }

    /// Which shard a thread's timers go to: `Some(i)` puts them in shard `i` modulo the
    /// number of shards; threads for which it returns `None` are spread round-robin. A
    /// scheduler passes its worker index (the `ciranda` runtime passes
    /// `ciranda_scheduler::worker_index`). Called each time a thread arms a timer, so it
    /// should be a thread-local read.
    ///
    /// ```
    /// use ciranda_reactor::Reactor;
    ///
    /// thread_local!(static WORKER: std::cell::Cell<Option<usize>> = const { std::cell::Cell::new(None) });
    /// let reactor = Reactor::builder()
    ///     .timer_shards(2)
    ///     .timer_shard_of_thread(|| WORKER.with(|w| w.get()))
    ///     .build()?;
    /// # drop(reactor);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn timer_shard_of_thread(
        mut self,
        shard_of_thread: impl Fn() -> Option<usize> + Send + Sync + 'static,
    ) -> Self {
        self.timer_shard_of_thread = Some(Box::new(shard_of_thread));
        self
    }

    /// Creates the reactor (and its poller).
    pub fn build(self) -> io::Result<Reactor> {
        let events = Events::new();
        Ok(Reactor {
            inner: Arc::new(Inner {
                handles: AtomicUsize::new(1),
                runtime_shut_down: AtomicBool::new(false),
                poller: Poller::new()?,
                sources: Mutex::new(Sources {
                    slab: Slab::new(),
                    generation: 0,
                    shut_down: false,
                }),
                turn: Mutex::new(TurnState {
                    events,
                    ready: Vec::new(),
                }),
                turning: AtomicBool::new(false),
                turn_waiters: Mutex::new(Vec::new()),
                waking: AtomicUsize::new(0),
                blocking_jobs: AtomicUsize::new(0),
                timers: TimerShards::new(self.timer_shards, self.timer_shard_of_thread),
                clock: Clock::new(self.start_paused),
                blocking_spawner: self.blocking_spawner,
            }),
        })
    }
}

/// Makes a reactor the thread's current one until dropped (see [`Reactor::enter`]).
///
/// # Examples
///
/// ```
/// use ciranda_reactor::Reactor;
///
/// let a = Reactor::new()?;
/// let b = Reactor::new()?;
/// let _ga = a.enter();
/// {
///     let _gb = b.enter();
///     assert!(Reactor::current().ptr_eq(&b));
/// }
/// assert!(Reactor::current().ptr_eq(&a));
/// # std::io::Result::Ok(())
/// ```
#[must_use = "the reactor is current only while the guard lives"]
pub struct EnterGuard<'a> {
    /// Names this guard's entry in the thread's stack.
    number: u64,
    /// Borrows the reactor and is `!Send`: the guard restores *this* thread's state.
    _marker: PhantomData<(&'a Reactor, *const ())>,
}

/// The reactors entered on a thread, oldest first, each with its guard's number: the current
/// one is the latest whose guard is alive. Guards kept in structures can be dropped in any
/// order; each removes its own entry, wherever it sits.
struct Entered {
    stack: Vec<(u64, Reactor)>,
    next_guard: u64,
}

impl fmt::Debug for EnterGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnterGuard").finish_non_exhaustive()
    }
}

impl Drop for EnterGuard<'_> {
    fn drop(&mut self) {
        // `try_with`: during thread teardown the slot may already be gone; nothing to restore.
        // The handle removed is dropped after the slot's borrow ends: if it was the last one,
        // the reactor shuts down and wakes wakers, which may look up the current reactor.
        let removed = CURRENT.try_with(|c| {
            let mut entered = c.borrow_mut();
            // Normally the last entry; searched from there for a guard dropped out of order.
            let index = entered
                .stack
                .iter()
                .rposition(|(number, _)| *number == self.number)?;
            Some(entered.stack.remove(index).1)
        });
        drop(removed);
    }
}

impl fmt::Debug for Reactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read first, each lock on its own: a temporary guard in the chain below would be held
        // while the other locks are taken and while the formatter's writer (user code, which
        // may use this reactor) runs.
        let registrations = self.inner.sources.lock().slab.len();
        let timers = self.inner.timers.pending();
        f.debug_struct("Reactor")
            .field("registrations", &registrations)
            .field("timers", &timers)
            .field("turning", &self.is_turning())
            .field("clock_paused", &self.is_clock_paused())
            .finish()
    }
}

impl Reactor {
    /// Creates a reactor with default settings (real clock, thread-per-lookup resolution).
    pub fn new() -> io::Result<Reactor> {
        ReactorBuilder::default().build()
    }

    /// A builder for a configured reactor.
    pub fn builder() -> ReactorBuilder {
        ReactorBuilder::default()
    }

    /// Makes this reactor the thread's current one while the guard lives. Guards nest, and may
    /// be dropped in any order: the current reactor is the one of the latest guard still alive
    /// (none once every guard is gone).
    ///
    /// # Panics
    /// During the thread's teardown, from a thread-local's destructor that runs after this
    /// thread's reactor context is gone; [`try_enter`](Reactor::try_enter) returns `None`
    /// there instead.
    pub fn enter(&self) -> EnterGuard<'_> {
        self.try_enter()
            .expect("ciranda: Reactor::enter during thread teardown: the reactor context is gone")
    }

    /// Like [`enter`](Reactor::enter), but `None` instead of a panic when the thread's reactor
    /// context is already gone: a thread-local's destructor that runs late in the thread's
    /// teardown (dropping a runtime kept in a thread-local, say).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_reactor::Reactor;
    /// let reactor = Reactor::new()?;
    /// let guard = reactor.try_enter().expect("an ordinary thread has its context");
    /// assert!(Reactor::current().ptr_eq(&reactor));
    /// drop(guard);
    /// # std::io::Result::Ok(())
    /// ```
    pub fn try_enter(&self) -> Option<EnterGuard<'_>> {
        let number = CURRENT
            .try_with(|c| {
                let mut entered = c.borrow_mut();
                let number = entered.next_guard;
                entered.next_guard = number.wrapping_add(1);
                entered.stack.push((number, self.clone()));
                number
            })
            .ok()?;
        Some(EnterGuard {
            number,
            _marker: PhantomData,
        })
    }

    /// The thread's current reactor.
    ///
    /// # Panics
    /// Outside any reactor context (no [`enter`](Reactor::enter) guard alive, not inside
    /// [`block_on`](crate::block_on) or a ciranda runtime).
    #[track_caller]
    pub fn current() -> Reactor {
        // Not `unwrap_or_else`: a closure would not carry `#[track_caller]`'s location.
        match Self::try_current() {
            Some(reactor) => reactor,
            None => panic!("{NO_REACTOR}"),
        }
    }

    /// The thread's current reactor, if any.
    pub fn try_current() -> Option<Reactor> {
        Self::with_current(Reactor::clone)
    }

    /// A reference to the current reactor for a socket or timer, or an `io::Error` naming
    /// the problem.
    pub(crate) fn current_io() -> io::Result<ReactorRef> {
        Self::with_current(Reactor::object_ref).ok_or_else(|| io::Error::other(NO_REACTOR))
    }

    /// A reference for a socket, a timer or a waker, which does not keep the reactor from
    /// shutting down (see "Shut down").
    pub(crate) fn object_ref(&self) -> ReactorRef {
        ReactorRef {
            inner: self.inner.clone(),
        }
    }

    /// A [`ReactorRef`] to this reactor: it keeps the memory alive but does not count as a
    /// handle, so it does not keep the reactor from shutting down.
    pub fn downgrade(&self) -> ReactorRef {
        self.object_ref()
    }

    /// Has the last handle gone (see "Shut down")? Timers then fail and I/O waits error.
    pub fn is_shut_down(&self) -> bool {
        // The sweep sets every shard's flag, the first one first.
        let first = self.inner.timers.iter().next();
        first.is_some_and(|shard| shard.lock().shut_down)
    }

    /// Tells the reactor that the runtime owning it has shut down: its own threads no longer
    /// drive it, only threads inside a `block_on` that entered it do. From now on a timer or
    /// I/O wait that would have to wait, polled on a thread whose current reactor is not this
    /// one, fails at once (a timer panics, an I/O wait returns an `io::Error`, both saying that
    /// the runtime was shut down) instead of waiting for a turn that may never come. Waits
    /// already pending are woken so that they look again. Idempotent.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_reactor::Reactor;
    /// use std::time::Duration;
    ///
    /// let a = Reactor::new()?;
    /// let sleep = {
    ///     let _entered = a.enter();
    ///     ciranda_reactor::time::sleep(Duration::from_secs(3600))
    /// };
    /// a.set_runtime_shut_down();
    /// // Polled under another reactor: fails at once instead of waiting an hour on `a`.
    /// let b = Reactor::new()?;
    /// let _entered = b.enter();
    /// let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
    ///     ciranda_reactor::block_on(sleep)
    /// }));
    /// assert!(r.is_err());
    /// # std::io::Result::Ok(())
    /// ```
    pub fn set_runtime_shut_down(&self) {
        let inner = &*self.inner;
        if inner.runtime_shut_down.swap(true, SeqCst) {
            return;
        }
        let sources: Vec<Arc<Source>> = {
            let registry = inner.sources.lock();
            registry.slab.iter().map(|(_, s)| s.clone()).collect()
        };
        // A report of nothing: the waiters retry, and a retry that would wait again meets the
        // flag (see `poll_ready_since`'s `may_wait`).
        let mut wakers = Vec::new();
        for source in &sources {
            source.deliver(true, true, false, &mut wakers);
        }
        for shard in inner.timers.iter() {
            // The entries stay (their keys must not read as fired); their wakers are swapped
            // for a no-op one, which is cloned without running foreign code.
            let mut timers = shard.lock();
            for waker in timers.wheel.values_mut() {
                wakers.push(std::mem::replace(waker, Waker::noop().clone()));
            }
        }
        drop(sources);
        for waker in wakers {
            wake_quietly(waker);
        }
    }

    /// Has the runtime owning this reactor said that it shut down
    /// ([`set_runtime_shut_down`](Reactor::set_runtime_shut_down))? From then on only a thread
    /// inside a `block_on` that entered this reactor can wait on it. Lets a caller whose wait
    /// failed tell that cause from others.
    pub fn is_runtime_shut_down(&self) -> bool {
        self.inner.runtime_shut_down.load(SeqCst)
    }

    /// Is this reactor the thread's current one?
    fn is_current(&self) -> bool {
        Self::with_current(|current| current.ptr_eq(self)).unwrap_or(false)
    }

    /// Must a wait that is about to be stored fail instead? Only after the runtime shut down
    /// (see [`set_runtime_shut_down`](Reactor::set_runtime_shut_down)) and off the threads that
    /// still drive this reactor. Called under the source or wheel lock (see `Inner`).
    fn refuses_waits_here(&self) -> bool {
        // Relaxed: ordered by the lock the caller holds, which the sweep takes after the store.
        self.inner.runtime_shut_down.load(Relaxed) && !self.is_current()
    }

    /// The last handle is gone: no thread can turn this reactor again. Fails every pending
    /// wait (closes every source, empties the wheel) and wakes the waiters so that they see
    /// it, after every lock is released.
    #[cold]
    fn shut_down(&self) {
        let inner = &*self.inner;
        let sources: Vec<Arc<Source>> = {
            let mut registry = inner.sources.lock();
            registry.shut_down = true;
            registry.slab.iter().map(|(_, s)| s.clone()).collect()
        };
        let mut wakers = Vec::new();
        for source in &sources {
            wakers.extend(source.close(Closed::Orphaned, || {
                // SAFETY: `close` runs this under the source lock, once, only if the source was
                // not closed yet: its owner has not deregistered it, so (see `register`) the
                // descriptor is still open.
                let fd = unsafe { BorrowedFd::borrow_raw(source.raw) };
                let _ = inner.poller.delete(fd);
            }));
        }
        for shard in inner.timers.iter() {
            let mut timers = shard.lock();
            timers.shut_down = true;
            wakers.extend(timers.wheel.take_all());
        }
        let waiters = std::mem::take(&mut *inner.turn_waiters.lock());
        drop(sources);
        for waker in wakers.into_iter().chain(waiters) {
            wake_quietly(waker);
        }
    }

    /// Runs `f` with the current reactor without cloning the handle.
    pub(crate) fn with_current<R>(f: impl FnOnce(&Reactor) -> R) -> Option<R> {
        CURRENT
            .try_with(|c| c.borrow().stack.last().map(|(_, reactor)| f(reactor)))
            .ok()
            .flatten()
    }

    /// This thread's default reactor, created on first use (used by `block_on` when no reactor
    /// is current).
    pub(crate) fn thread_default() -> Reactor {
        THREAD_DEFAULT.with(|d| {
            d.get_or_init(|| {
                Reactor::new().unwrap_or_else(|e| {
                    panic!("ciranda_reactor: cannot create this thread's default reactor: {e}")
                })
            })
            .clone()
        })
    }

    /// Do both handles refer to the same reactor?
    pub fn ptr_eq(&self, other: &Reactor) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Drives I/O and timers once.
    ///
    /// Waits for readiness at most `timeout` (`None`: until an I/O event, the next timer
    /// deadline or [`notify`](Reactor::notify)), then wakes the tasks whose I/O became ready and
    /// fires the due timers. Wakers are woken after every lock is released. A turn with a zero
    /// wait and no descriptor registered does not ask the poller at all: it only fires timers,
    /// and a pending [`notify`](Reactor::notify) stays for the next turn that waits.
    ///
    /// Only one thread waits on the poller at a time: if another thread is inside `try_turn`,
    /// this returns `None` at once without blocking (see [`wait_for_turn`](Reactor::wait_for_turn)
    /// to learn when it leaves). `Some(n)`: the turn ran and woke `n` wakers.
    ///
    /// `auto_advance`: whether this turn may jump a paused clock to the next timer deadline
    /// (and fire it) instead of waiting, see [`AutoAdvance`]. Ignored while the clock runs.
    ///
    /// The poller is never held while tasks run: a busy task cannot starve I/O or timers, any
    /// idle thread can take the next turn.
    pub fn try_turn(
        &self,
        timeout: Option<Duration>,
        auto_advance: AutoAdvance<'_>,
    ) -> Option<usize> {
        self.try_turn_unless(timeout, auto_advance, || false)
    }

    /// [`try_turn`](Reactor::try_turn) for a thread whose wake-up signal is not the poller
    /// itself: once the turn is ours, `woken` is called right before the poller wait, and if
    /// it returns `true` the turn only polls (zero timeout) and returns.
    ///
    /// This closes a gap between checking a signal and waiting. A waker that sets the signal
    /// and then calls [`notify`](Reactor::notify) may notify just before we take the turn; an
    /// earlier turn of another thread can consume that notification, and our wait would then
    /// miss it. Checked under the turn, the signal is seen if it was set before the check, and
    /// a notification sent after the check can only end our own wait (nobody else waits on the
    /// poller until our turn is over).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda_reactor::{AutoAdvance, Reactor};
    /// use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    ///
    /// let reactor = Reactor::new()?;
    /// let woken = AtomicBool::new(true);
    /// // Without a timeout this would wait forever; the signal is set, so it does not wait.
    /// let turned = reactor.try_turn_unless(None, AutoAdvance::Never, || woken.load(SeqCst));
    /// assert_eq!(turned, Some(0));
    /// # std::io::Result::Ok(())
    /// ```
    pub fn try_turn_unless(
        &self,
        timeout: Option<Duration>,
        auto_advance: AutoAdvance<'_>,
        woken: impl FnOnce() -> bool,
    ) -> Option<usize> {
        let inner = &*self.inner;
        let mut turn = inner.turn.try_lock()?;
        {
            let _waiters = inner.turn_waiters.lock();
            inner.turning.store(true, SeqCst);
        }
        let mut wakers = turn_wakers::take();
        let paused = inner.clock.is_paused();

        // Fire what is due already, and work out how long the poller may sleep.
        let now = inner.clock.now();
        inner
            .timers
            .fire_due(inner.clock.tick_floor(now), &mut wakers);
        let wait = if !wakers.is_empty() || timeout == Some(Duration::ZERO) {
            // A turn that does not block: no deadline bounds it, no new timer must end it.
            Some(Duration::ZERO)
        } else {
            let next = inner.timers.begin_wait();
            let (wait, bound) = if paused {
                if next.is_some() && self.may_jump(&auto_advance) {
                    (Some(Duration::ZERO), next)
                } else {
                    // Virtual timers do not move with real time: only the caller bounds the wait.
                    (timeout, None)
                }
            } else if let Some(tick) = next {
                let until = inner
                    .clock
                    .instant_of_tick(tick)
                    .saturating_duration_since(now);
                (Some(timeout.map_or(until, |t| t.min(until))), Some(tick))
            } else {
                (timeout, None)
            };
            inner.timers.bound_wait(bound);
            wait
        };
        let wait = if woken() { Some(Duration::ZERO) } else { wait };

        turn.events.clear();
        // A turn that must not block, with no descriptor registered, has nothing to ask the
        // poller: skip it. Busy workers take such a turn every few dozen tasks. A notification
        // is then left for the next blocking wait, whose purpose it is. A descriptor
        // registered meanwhile loses nothing: it reports only after its first wait arms it,
        // to whichever turn polls next.
        if wait != Some(Duration::ZERO) || self.registrations() != 0 {
            // A signal ends the wait with no events, as does an error (a broken poller); the
            // turn still fires timers.
            let _ = inner.poller.wait(&mut turn.events, wait);
        }
        inner.timers.end_wait();

        // I/O readiness.
        let io_events = {
            let TurnState { events, ready } = &mut *turn;
            self.dispatch(events.iter(), ready, &mut wakers)
        };

        // Timers due now; with auto-advance, jump a paused clock to the next deadline.
        let now_tick = inner.clock.tick_floor(inner.clock.now());
        inner.timers.fire_due(now_tick, &mut wakers);
        // Asked last, after everything this turn found: "idle" must hold at the jump.
        if paused && io_events == 0 && wakers.is_empty() && self.may_jump(&auto_advance) {
            let mut all = inner.timers.lock_all();
            // What was armed since the line above, then the jumps. Cascade points are not
            // deadlines: keep jumping until something fires.
            all.fire_due(now_tick, &mut wakers);
            while wakers.is_empty() {
                let Some(next) = all.next_expiration() else {
                    break;
                };
                if !inner.clock.advance_to_tick(next) {
                    break; // resumed meanwhile: real time rules again
                }
                all.fire_due(next, &mut wakers);
            }
        }

        let woken = wakers.len();
        if woken > 0 {
            // Counted before the poller is released, so the next turn sees it.
            inner.waking.fetch_add(1, SeqCst);
        }
        let waiters = {
            let mut waiters = inner.turn_waiters.lock();
            inner.turning.store(false, SeqCst);
            drop(turn);
            std::mem::take(&mut *waiters)
        };
        for waker in wakers.drain(..).chain(waiters) {
            wake_quietly(waker);
        }
        turn_wakers::give_back(wakers);
        if woken > 0 {
            inner.waking.fetch_sub(1, SeqCst);
        }
        Some(woken)
    }

    /// May a turn jump the paused clock now? Never while an earlier turn is still waking its
    /// tasks (the runtime's idle check cannot see those tasks yet), nor while a blocking job
    /// of ours runs (its end wakes a task; see `blocking_jobs`).
    fn may_jump(&self, auto_advance: &AutoAdvance<'_>) -> bool {
        match auto_advance {
            AutoAdvance::Never => false,
            AutoAdvance::WhenIdle(is_idle) => {
                self.inner.waking.load(SeqCst) == 0
                    && self.inner.blocking_jobs.load(SeqCst) == 0
                    && is_idle()
            }
        }
    }

    /// Hands the events of a turn to their registrations; returns how many registrations had
    /// an event. The generation in the key keeps a stale event (collected for a descriptor that
    /// has been deregistered since) away from a newer registration that reused the slot.
    fn dispatch(
        &self,
        events: impl Iterator<Item = Event>,
        ready: &mut Vec<(Arc<Source>, Event)>,
        wakers: &mut Vec<Waker>,
    ) -> usize {
        {
            let registry = self.inner.sources.lock();
            for ev in events {
                if ev.key == NOTIFY_KEY {
                    continue; // the poller's own notification
                }
                if let Some(source) = registry.slab.get(ev.key & INDEX_MASK) {
                    if source.key == ev.key {
                        ready.push((source.clone(), ev));
                    }
                }
            }
        }
        let n = ready.len();
        for (source, ev) in ready.drain(..) {
            source.deliver(ev.readable, ev.writable, ev.exceptional, wakers);
        }
        n
    }

    /// Makes a thread blocked in [`try_turn`](Reactor::try_turn) return promptly (or the next
    /// turn return at once if nobody waits now). Notifications coalesce.
    pub fn notify(&self) {
        // Only fails if the poller's wake-up descriptor is broken; nothing useful to do then.
        let _ = self.inner.poller.notify();
    }

    /// Is some thread inside [`try_turn`](Reactor::try_turn) right now?
    pub fn is_turning(&self) -> bool {
        self.inner.turning.load(SeqCst)
    }

    /// If a thread is inside [`try_turn`](Reactor::try_turn), registers `waker` to be woken when
    /// that turn ends and returns `true`; otherwise returns `false` and the caller should turn
    /// the reactor itself. Lets a thread whose `try_turn` returned `None` sleep until it can
    /// take the poller over, instead of polling.
    pub fn wait_for_turn(&self, waker: &Waker) -> bool {
        // Cloned before the lock and, if not kept, dropped after it: a waker's clone or drop
        // may call back into the reactor.
        let waker = waker.clone();
        let (waiting, spare) = {
            let mut waiters = self.inner.turn_waiters.lock();
            if !self.inner.turning.load(SeqCst) {
                (false, Some(waker))
            } else if waiters.iter().any(|w| w.will_wake(&waker)) {
                (true, Some(waker))
            } else {
                waiters.push(waker);
                (true, None)
            }
        };
        drop(spare);
        waiting
    }

    /// The reactor clock's current instant (virtual while paused).
    pub fn now(&self) -> crate::time::Instant {
        crate::time::Instant::from_std(self.inner.clock.now())
    }

    /// Time on the reactor's clock since the reactor was created (virtual while paused):
    /// asyncio's `loop.time()`, starting at zero.
    ///
    /// ```
    /// let reactor = ciranda_reactor::Reactor::builder().start_paused(true).build().unwrap();
    /// reactor.advance_clock(std::time::Duration::from_secs(2));
    /// assert_eq!(reactor.elapsed(), std::time::Duration::from_secs(2));
    /// ```
    pub fn elapsed(&self) -> Duration {
        self.inner.clock.elapsed()
    }

    /// Is the reactor's clock paused (virtual time)?
    pub fn is_clock_paused(&self) -> bool {
        self.inner.clock.is_paused()
    }

    /// Pauses the reactor's clock (no-op if paused). See [`time::pause`](crate::time::pause).
    pub fn pause_clock(&self) {
        self.inner.clock.pause();
    }

    /// Lets the reactor's clock run again (no-op if running). See
    /// [`time::resume`](crate::time::resume).
    pub fn resume_clock(&self) {
        self.inner.clock.resume();
        self.notify();
    }

    /// Moves the paused clock forwards by `by` and wakes every timer that became due; returns
    /// the number of timers woken.
    ///
    /// # Panics
    /// If the clock is not paused.
    pub fn advance_clock(&self, by: Duration) -> usize {
        self.inner.clock.advance(by);
        let mut wakers = Vec::new();
        let now_tick = self.inner.clock.tick_floor(self.inner.clock.now());
        self.inner.timers.fire_all(now_tick, &mut wakers);
        let n = wakers.len();
        for w in wakers {
            wake_quietly(w);
        }
        self.notify();
        n
    }

    /// Registers a descriptor (edge-triggered, no interest until its first wait arms it).
    /// `add_now`: add it to the poller here, so that a descriptor the poller refuses (a
    /// regular file) fails now; otherwise (a socket, which epoll always takes) its first wait
    /// adds it, and a socket that never waits costs no `epoll_ctl` at all.
    ///
    /// # Safety
    /// `raw` must stay open until [`deregister`](Reactor::deregister) has returned for the
    /// returned source.
    pub(crate) unsafe fn register(&self, raw: RawFd, add_now: bool) -> io::Result<Arc<Source>> {
        let source = {
            let mut registry = self.inner.sources.lock();
            if registry.shut_down {
                return Err(io::Error::other(crate::registration::RUNTIME_GONE_IO));
            }
            registry.generation = registry.generation.wrapping_add(1);
            let generation = registry.generation & GENERATION_MASK;
            let entry = registry.slab.vacant_entry();
            let index = entry.key();
            if index >= INDEX_MASK {
                return Err(io::Error::other(
                    "ciranda-reactor: too many I/O registrations for the poller key space",
                ));
            }
            // Never `usize::MAX` (the poller's reserved key): the index is below INDEX_MASK.
            let key = (generation << INDEX_BITS) | index;
            let source = Arc::new(if add_now {
                Source::new(raw, key)
            } else {
                Source::unadded(raw, key)
            });
            entry.insert(source.clone());
            source
        };
        if !add_now {
            return Ok(source);
        }
        // SAFETY: the caller keeps `raw` open until `deregister` has deleted it from the poller
        // (our callers own the descriptor: `Async<T>` deregisters in its destructor before it
        // drops `T`), which is exactly `Poller::add`'s contract.
        let added = unsafe { self.inner.poller.add(raw, source.key) };
        if let Err(e) = added {
            self.inner
                .sources
                .lock()
                .slab
                .remove(source.key & INDEX_MASK);
            return Err(e);
        }
        Ok(source)
    }

    /// Removes a source from the poller (before its descriptor is closed) and from the registry,
    /// and wakes whoever still waited on it.
    pub(crate) fn deregister(&self, source: &Source) {
        let wakers = source.close(Closed::Deregistered, || {
            // SAFETY: `close` runs this under the source lock, once, while the owner still holds
            // the descriptor open (it deregisters before closing, see `register`).
            let fd = unsafe { BorrowedFd::borrow_raw(source.raw) };
            let _ = self.inner.poller.delete(fd);
        });
        {
            let mut registry = self.inner.sources.lock();
            let index = source.key & INDEX_MASK;
            if registry
                .slab
                .get(index)
                .is_some_and(|s| s.key == source.key)
            {
                registry.slab.remove(index);
            }
        }
        for w in wakers {
            wake_quietly(w);
        }
    }

    /// Delivers a report for `dir` of `source` that the poller did not make (see
    /// [`Async::report`](crate::io::Async)): the waiters retry, after every lock is released.
    pub(crate) fn report(&self, source: &Source, dir: usize) {
        let mut wakers = Vec::new();
        source.deliver(dir == READ, dir == WRITE, false, &mut wakers);
        for w in wakers {
            wake_quietly(w);
        }
    }

    /// Waits for readiness of `source` in direction `dir`, with no operation to retry (see
    /// `registration`).
    pub(crate) fn poll_ready(
        &self,
        source: &Source,
        dir: usize,
        cx: &mut Context<'_>,
        waiter: Waiter<'_>,
    ) -> Poll<io::Result<()>> {
        source.poll_ready(
            dir,
            cx,
            waiter,
            || self.may_wait(),
            |added| self.arm(source, added),
        )
    }

    /// Waits for a report on `source` in `dir` after `since` (sampled before an operation
    /// that then failed with `WouldBlock`; see `registration`).
    #[inline]
    pub(crate) fn poll_ready_since(
        &self,
        source: &Source,
        dir: usize,
        cx: &mut Context<'_>,
        since: usize,
        waiter: Waiter<'_>,
    ) -> Poll<io::Result<()>> {
        source.poll_ready_since(
            dir,
            cx,
            since,
            waiter,
            || self.may_wait(),
            |added| self.arm(source, added),
        )
    }

    /// Whether an I/O wait may be stored on this thread (see `refuses_waits_here`).
    fn may_wait(&self) -> io::Result<()> {
        if self.refuses_waits_here() {
            Err(io::Error::other(crate::registration::RUNTIME_SHUT_DOWN_IO))
        } else {
            Ok(())
        }
    }

    /// Turns on both directions of `source`'s edge-triggered registration, adding it to the
    /// poller first unless `added`; called once, under the source lock, while the source is
    /// registered.
    fn arm(&self, source: &Source, added: bool) -> io::Result<()> {
        // SAFETY: `Source::poll_ready_since` calls this under the source lock and only while
        // the source is not closed; deregistration takes that lock before the owner closes
        // the descriptor, so the descriptor is open for the duration of this call.
        let fd = unsafe { BorrowedFd::borrow_raw(source.raw) };
        if added {
            self.inner.poller.arm(fd, source.key)
        } else {
            // SAFETY: from here on the source counts as added, so its deregistration (which
            // the owner runs before closing the descriptor) deletes it from the poller under
            // the source lock: the descriptor stays open until then, `add_armed`'s contract.
            unsafe { self.inner.poller.add_armed(source.raw, source.key) }
        }
    }

    /// Polls a timer for `deadline`: `Ready(Ok)` once the clock reached it, `Ready(Err)` if
    /// the reactor shut down first. `key` holds the wheel entry between polls; the caller
    /// removes it on drop with [`cancel_timer`].
    ///
    /// No waker is cloned or dropped under the wheel's lock (a waker's clone or drop may call
    /// back into the reactor: set a timer, drop a socket).
    ///
    /// [`cancel_timer`]: Reactor::cancel_timer
    pub(crate) fn poll_timer(
        &self,
        key: &mut Option<TimerKey>,
        deadline: StdInstant,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), RuntimeGone>> {
        let clock = &self.inner.clock;
        match *key {
            // Fired already (the usual case of a woken sleep): no wheel lock and no clock read.
            // The wheel's time is the floor of a clock reading, so the clock has passed the
            // deadline too. After the shutdown sweep the time is no longer published, so the
            // timers it took (all after that time) do not take this path.
            Some(k) if self.timer_fired(k) => {
                *key = None;
                Poll::Ready(Ok(()))
            }
            Some(k) => self.poll_armed_timer(key, k, clock.now() >= deadline, cx),
            None => {
                let now = clock.now();
                if now >= deadline {
                    return Poll::Ready(Ok(()));
                }
                let tick = clock.tick_ceil(deadline);
                let waker = cx.waker().clone();
                let shards = &self.inner.timers;
                let shard = shards.for_this_thread();
                let mut timers = shard.lock();
                if timers.shut_down {
                    drop(timers);
                    return Poll::Ready(Err(RuntimeGone(RUNTIME_GONE_TIMER)));
                }
                if self.refuses_waits_here() {
                    drop(timers);
                    return Poll::Ready(Err(RuntimeGone(RUNTIME_SHUT_DOWN_TIMER)));
                }
                match shards.insert(shard, &mut timers, clock.tick_floor(now), tick, waker) {
                    // The wheel already passed that tick, so the clock passed the deadline.
                    Err(waker) => {
                        drop(timers);
                        drop(waker);
                        Poll::Ready(Ok(()))
                    }
                    Ok((k, notify)) => {
                        *key = Some(k);
                        drop(timers);
                        if notify {
                            self.notify();
                        }
                        Poll::Pending
                    }
                }
            }
        }
    }

    /// [`poll_timer`](Reactor::poll_timer) for a timer in the wheel under `k`.
    fn poll_armed_timer(
        &self,
        key: &mut Option<TimerKey>,
        k: TimerKey,
        due: bool,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), RuntimeGone>> {
        let mut fresh = None;
        loop {
            let (poll, spare) = {
                let mut timers = self.inner.timers.of_key(k).lock();
                if timers.shut_down {
                    (Poll::Ready(Err(RuntimeGone(RUNTIME_GONE_TIMER))), None)
                } else if !timers.wheel.contains(k) {
                    // Fired.
                    (Poll::Ready(Ok(())), None)
                } else if due {
                    (Poll::Ready(Ok(())), timers.wheel.remove(k))
                } else if self.refuses_waits_here() {
                    let gone = RuntimeGone(RUNTIME_SHUT_DOWN_TIMER);
                    (Poll::Ready(Err(gone)), timers.wheel.remove(k))
                } else {
                    let w = timers.wheel.get_mut(k).expect("the wheel contains the key");
                    if w.will_wake(cx.waker()) {
                        (Poll::Pending, None)
                    } else if let Some(new) = fresh.take() {
                        (Poll::Pending, Some(std::mem::replace(w, new)))
                    } else {
                        // A new waker: clone it without the lock, then look again.
                        drop(timers);
                        fresh = Some(cx.waker().clone());
                        continue;
                    }
                }
            };
            if poll.is_ready() {
                *key = None;
            }
            drop(spare);
            drop(fresh);
            return poll;
        }
    }

    /// Has the wheel fired the timer `key`? One atomic load, no clock read and no lock: the
    /// wheel's time is published when it moves, and a timer due at or before it was taken out
    /// and its waker woken (or is being woken).
    pub(crate) fn timer_fired(&self, key: TimerKey) -> bool {
        self.inner
            .timers
            .of_key(key)
            .has_fired_through(key.deadline())
    }

    /// Moves a pending timer to `deadline` with the waker it holds, so that the task that last
    /// polled it is woken at the new deadline without polling it again (at once if that has
    /// passed). `*key` becomes the new key, or `None` when nothing is held any more: the timer
    /// fired or was swept (the runtime's last handle went), or the deadline has passed.
    ///
    /// Whether the *resetting* thread could wait on this reactor does not matter: it waits for
    /// nothing, the task whose waker the entry holds does. After the runtime shut down
    /// (`set_runtime_shut_down`) the entries that remain hold the wakers of `block_on` threads
    /// that still drive the reactor (a poll anywhere else fails instead of queueing one), or
    /// the no-op wakers of the sweep, whose tasks were woken to look again; either way the
    /// entry moves. A later poll on a thread that cannot wait still fails, as it would have.
    pub(crate) fn reset_timer(&self, key: &mut Option<TimerKey>, deadline: StdInstant) {
        let Some(old) = key.take() else {
            return;
        };
        let clock = &self.inner.clock;
        let now = clock.now();
        let shards = &self.inner.timers;
        // The timer stays in its shard and its slab entry: one lock, no allocation.
        let shard = shards.of_key(old);
        let mut timers = shard.lock();
        let wake = if now >= deadline {
            timers.wheel.remove(old)
        } else {
            // A wheel swept by the shutdown holds nothing: `reschedule` finds no entry.
            match shards.reschedule(shard, &mut timers, old, clock.tick_ceil(deadline)) {
                // Fired or swept: nothing is held any more.
                None => None,
                // The wheel already passed that tick, so the clock passed the deadline.
                Some(Err(waker)) => Some(waker),
                Some(Ok((k, notify))) => {
                    *key = Some(k);
                    drop(timers);
                    if notify {
                        self.notify();
                    }
                    return;
                }
            }
        };
        drop(timers);
        if let Some(waker) = wake {
            wake_quietly(waker);
        }
    }

    /// Removes a pending timer (no-op if it fired); its waker is dropped after the lock.
    pub(crate) fn cancel_timer(&self, key: TimerKey) {
        let removed = self.inner.timers.of_key(key).lock().wheel.remove(key);
        drop(removed);
    }

    /// Runs a blocking job on the configured blocking spawner, or on a new thread.
    ///
    /// The job counts in `blocking_jobs` until it has run or been dropped, whatever it woke
    /// first: a paused clock does not jump meanwhile.
    pub(crate) fn spawn_blocking(&self, job: Box<dyn FnOnce() + Send>) -> io::Result<()> {
        self.inner.blocking_jobs.fetch_add(1, SeqCst);
        let counted = CountedJob {
            job: Some(job),
            _in_flight: BlockingJobInFlight(self.object_ref()),
        };
        let job: Box<dyn FnOnce() + Send> = Box::new(move || {
            let mut counted = counted;
            if let Some(job) = counted.job.take() {
                job();
            }
        });
        match &self.inner.blocking_spawner {
            Some(spawner) => {
                spawner(job);
                Ok(())
            }
            None => std::thread::Builder::new()
                .name("ciranda-blocking".into())
                .spawn(job)
                .map(drop),
        }
    }

    /// Number of live registrations (for tests and `Debug`).
    pub fn registrations(&self) -> usize {
        self.inner.sources.lock().slab.len()
    }
}

/// A job of [`Reactor::spawn_blocking`] with its place in `blocking_jobs`. Fields drop in
/// order: a job dropped unrun (a spawner that refuses it, a thread that cannot start) first
/// drops its closure, which wakes whoever awaited it, and only then counts itself out.
struct CountedJob {
    job: Option<Box<dyn FnOnce() + Send>>,
    _in_flight: BlockingJobInFlight,
}

/// Counts one blocking job out when dropped; the last one out notifies the poller, so that a
/// turn that did not jump the paused clock because of it looks again.
struct BlockingJobInFlight(ReactorRef);

impl Drop for BlockingJobInFlight {
    fn drop(&mut self) {
        if self.0.inner.blocking_jobs.fetch_sub(1, SeqCst) == 1 {
            self.0.notify();
        }
    }
}

/// Wakes a waker; a panicking waker must not take the reactor down with it (the task it belongs
/// to is the one at fault, and its other wakers still work).
pub(crate) fn wake_quietly(waker: Waker) {
    let _ = catch_unwind(AssertUnwindSafe(|| waker.wake()));
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use crate::registration::READ;
    use std::os::fd::AsRawFd;
    use std::os::unix::net::UnixStream;
    use std::sync::atomic::AtomicUsize;
    use std::task::Wake;

    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, SeqCst);
        }
    }

    #[test]
    fn stale_event_never_reaches_a_reused_slot() {
        let reactor = Reactor::new().unwrap();
        let (a, _a2) = UnixStream::pair().unwrap();
        let (b, _b2) = UnixStream::pair().unwrap();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);

        // SAFETY: `a` outlives its registration (deregistered below, before `a` drops).
        let old = unsafe { reactor.register(a.as_raw_fd(), true).unwrap() };
        let old_key = old.key;
        reactor.deregister(&old);
        // SAFETY: `b` outlives its registration (deregistered at the end of the test).
        let new = unsafe { reactor.register(b.as_raw_fd(), true).unwrap() };
        assert_eq!(new.key & INDEX_MASK, old_key & INDEX_MASK, "slot reused");
        assert_ne!(new.key, old_key, "generation differs");
        let since = new.reports(READ);
        assert!(
            reactor
                .poll_ready_since(&new, READ, &mut cx, since, Waiter::Latest)
                .is_pending()
        );

        let (mut ready, mut wakers) = (Vec::new(), Vec::new());
        let stale = [Event::readable(old_key)];
        assert_eq!(
            reactor.dispatch(stale.into_iter(), &mut ready, &mut wakers),
            0
        );
        assert!(
            wakers.is_empty(),
            "a stale event reached the new registration"
        );

        let fresh = [Event::readable(new.key)];
        assert_eq!(
            reactor.dispatch(fresh.into_iter(), &mut ready, &mut wakers),
            1
        );
        assert_eq!(wakers.len(), 1);
        for w in wakers {
            w.wake();
        }
        assert_eq!(count.0.load(SeqCst), 1);
        assert!(
            reactor
                .poll_ready_since(&new, READ, &mut cx, since, Waiter::Latest)
                .is_ready()
        );
        reactor.deregister(&new);
        assert_eq!(reactor.registrations(), 0);
    }

    /// A timer that fired completes when polled again without the wheel's lock: the lock is
    /// held here while another thread polls it (before `fired_through` that poll waited for
    /// the lock, and this test timed out).
    #[test]
    fn a_fired_timer_completes_without_the_wheel_lock() {
        let reactor = Reactor::builder().start_paused(true).build().unwrap();
        let count = std::sync::Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let deadline = reactor.inner.clock.now() + Duration::from_millis(3);
        let mut key = None;
        let mut cx = Context::from_waker(&waker);
        assert!(reactor.poll_timer(&mut key, deadline, &mut cx).is_pending());
        assert_eq!(reactor.advance_clock(Duration::from_millis(3)), 1);
        assert_eq!(count.0.load(SeqCst), 1);

        let held = reactor.inner.timers.of_key(key.unwrap()).lock();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::scope(|s| {
            s.spawn(|| {
                let mut cx = Context::from_waker(Waker::noop());
                let poll = reactor.poll_timer(&mut key, deadline, &mut cx);
                tx.send(matches!(poll, Poll::Ready(Ok(())))).unwrap();
            });
            let done = rx.recv_timeout(Duration::from_secs(10));
            drop(held);
            assert_eq!(
                done,
                Ok(true),
                "the fired timer waited for the wheel's lock"
            );
        });
        assert_eq!(key, None);
    }

    /// The wheel's time published for that shortcut never makes a timer look fired before its
    /// tick, nor after the shutdown sweep took it unfired.
    #[test]
    fn only_fired_timers_take_the_shortcut() {
        let reactor = Reactor::builder().start_paused(true).build().unwrap();
        let mut cx = Context::from_waker(Waker::noop());
        let start = reactor.inner.clock.now();
        let (early, late) = (
            start + Duration::from_micros(2_100),
            start + Duration::from_millis(5),
        );
        let (mut early_key, mut late_key) = (None, None);
        assert!(
            reactor
                .poll_timer(&mut early_key, early, &mut cx)
                .is_pending()
        );
        assert!(
            reactor
                .poll_timer(&mut late_key, late, &mut cx)
                .is_pending()
        );
        // 2 ms: the early timer's tick (2.25 ms) is not reached yet.
        assert_eq!(reactor.advance_clock(Duration::from_millis(2)), 0);
        assert!(
            reactor
                .poll_timer(&mut early_key, early, &mut cx)
                .is_pending()
        );
        assert!(early_key.is_some());
        assert_eq!(reactor.advance_clock(Duration::from_micros(250)), 1);
        assert!(matches!(
            reactor.poll_timer(&mut early_key, early, &mut cx),
            Poll::Ready(Ok(()))
        ));
        // The sweep takes the late timer unfired; time moving on afterwards must not make
        // it look fired.
        reactor.shut_down();
        reactor.inner.clock.advance(Duration::from_secs(1));
        let mut wakers = Vec::new();
        let tick = reactor.inner.clock.tick_floor(reactor.inner.clock.now());
        reactor.inner.timers.fire_all(tick, &mut wakers);
        assert!(matches!(
            reactor.poll_timer(&mut late_key, late, &mut cx),
            Poll::Ready(Err(RuntimeGone(RUNTIME_GONE_TIMER)))
        ));
    }
}
