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
//! All waiting is built on one waiter-queue core (a slab-backed FIFO of wakers under a
//! `parking_lot` mutex); `Mutex`, `RwLock` and bounded `mpsc` sit on a batch semaphore built on
//! it, whose uncontended paths are a single CAS.

mod loom;
mod waiters;

mod barrier;
mod condition;
pub mod coop;
mod event;
pub mod mpsc;
mod mutex;
mod notify;
pub mod oneshot;
mod promise;
mod queue;
mod rwlock;
mod semaphore;

pub use barrier::{Barrier, BarrierWait, BarrierWaitResult, ZeroPartiesError};
pub use condition::Condition;
pub use event::{Event, EventWait};
pub use mutex::{Mutex, MutexGuard, OwnedMutexGuard, TryLockError};
pub use notify::{Notified, Notify};
pub use promise::{Promise, PromiseWait};
pub use queue::{Get, Join, Put, Queue, TryGetError, TryPutError};
pub use rwlock::{RwLock, RwLockReadGuard, RwLockWriteGuard};
pub use semaphore::{
    AcquireError, OwnedSemaphorePermit, Semaphore, SemaphorePermit, TooManyPermitsError,
    TryAcquireError,
};
