//! Executor-agnostic async synchronisation primitives for ciranda — asyncio's coordination
//! toolbox for a multi-threaded runtime. The facade re-exports this crate as `ciranda::sync`.
//!
//! Every primitive works on any executor (it only uses [`core::task::Waker`]s), serves waiters
//! in arrival order, and is cancel-safe: dropping a waiting future never loses what it had been
//! granted — the lock, permit, item or notification goes to the next waiter.
//!
//! | asyncio                | here                                    |
//! |------------------------|-----------------------------------------|
//! | `Lock`                 | [`Mutex`] (and [`RwLock`])              |
//! | `Semaphore`            | [`Semaphore`]                           |
//! | `Event`                | [`Event`]                               |
//! | `Condition`            | [`Condition`]                           |
//! | `Barrier`              | [`Barrier`]                             |
//! | `Future`               | [`Promise`]                             |
//! | `Queue`                | [`Queue`]                               |
//! | —                      | [`Notify`], [`oneshot`], [`mpsc`]       |
//!
//! # Fairness, cancel-safety and the deliberate exceptions
//!
//! Waiters are served strictly in arrival order, with direct hand-off: a released lock, permit,
//! queue item or notification is written into the first waiter's slot, so a task that arrives
//! later (or calls `try_*`) cannot barge in before the woken waiter runs. Dropping a waiting
//! future is always allowed; what it had been granted goes to the next waiter. Known, documented
//! exceptions:
//!
//! * [`Semaphore`]: strict FIFO also across batch sizes — a large `acquire_many` at the front
//!   holds back smaller requests behind it (it collects released permits until it is served).
//! * [`Queue`]: an item handed to a getter whose future is then dropped goes to the next getter,
//!   or back to the *front* of the queue; that put-back can leave `len()` above `maxsize` until
//!   the next `get`s.
//! * [`mpsc`]: a `send` that had already obtained its slot when the receiver closed fails (its
//!   value is returned in the `SendError`) instead of landing in the closed channel.
//! * [`Notify::notify_one`] stores at most one permit; `notify_one`s with nobody waiting
//!   coalesce.
//!
//! # Wakers that panic
//!
//! Wakers are called after the primitive's lock is released, on the thread that triggers the
//! wake-up (a `notify`, a `set`, an unlock, a send). If one panics, every other waker of that
//! wake-up is still called, then the first panic goes on into the caller — unless the caller
//! is already unwinding (a guard dropped during a panic): then it is dropped, as resuming it
//! there would abort the process. Either way the primitive's state stays consistent: every part
//! of it is published before the first waker runs, and what the operation took out is not lost
//! (a [`Queue`] item goes back to the queue, an [`mpsc`] message stays first for the next
//! `recv`, a [`Barrier`] leader returns its result on its next poll).
//!
//! A waker's `clone` and `drop` are foreign code as well, and no primitive runs them while
//! holding its lock: a waiter clones its waker before locking (only when it is about to
//! wait), a re-poll with a new waker unlocks to clone it and re-checks, and replaced or
//! removed wakers are dropped after unlocking. A waker whose `clone` notifies, or which owns a
//! permit, guard or sender of the same primitive, therefore cannot deadlock it.
//!
//! Leaf futures take part in the scheduler's cooperative budget, which lives in the
//! `ciranda-coop` crate.
//!
//! All waiting is built on one waiter-queue core (a slab-backed FIFO of wakers under a
//! `parking_lot` mutex); `Mutex`, `RwLock` and bounded `mpsc` sit on a batch semaphore built on
//! it, whose uncontended paths are a single CAS. The exception is [`oneshot`], whose one waiter
//! per side needs no queue: its handles share a state word and a waker cell each, with no lock
//! (the module's docs spell out who owns which cell when).

mod loom;
mod waiters;

mod barrier;
mod condition;
mod coop;
mod event;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod promise;
mod queue;
mod rwlock;
mod semaphore;

pub use barrier::{
    Barrier, BarrierWait, BarrierWaitChecked, BarrierWaitResult, BrokenBarrierError,
    ZeroPartiesError,
};
pub use condition::{Condition, ConditionGuard};
pub use event::{Event, EventWait};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use promise::{Promise, PromiseWait};
pub use queue::{
    Get, GetChecked, Join, Put, PutChecked, Queue, QueueShutDown, TryGetError, TryPutCheckedError,
    TryPutError,
};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockUpgradableReadGuard, RwLockWriteGuard};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TooManyPermitsError,
    TryAcquireError,
};
