//! An async reader-writer lock, FIFO-fair.
//!
//! Built on the batch semaphore core with [`RwLock::MAX_READERS`] permits: a reader takes one
//! permit, a writer takes all of them. Because the semaphore is strictly FIFO and assigns
//! released permits to its front waiter, a queued writer collects the permits of departing
//! readers and readers arriving after it queue behind it: writers are never starved, and
//! readers are not starved by a stream of writers either.
//!
//! | permits available         | holders          | `read()`            | `write()`          |
//! |---------------------------|------------------|---------------------|--------------------|
//! | `MAX_READERS`, no waiters | none             | one CAS             | one CAS            |
//! | `MAX_READERS - k`         | `k` readers      | one CAS if no queue | queue (collects)   |
//! | 0                         | one writer       | queue               | queue              |
//!
//! [`RwLockWriteGuard::downgrade`] turns the writer's `MAX_READERS` permits into a reader's one
//! by releasing `MAX_READERS - 1` of them through the same FIFO hand-off as any release: the
//! one kept is never free, so no writer can take the lock in between, and the released ones
//! go to the front of the queue in order.
//!
//! | queue when the writer downgrades  | what the released permits do                           |
//! |-----------------------------------|--------------------------------------------------------|
//! | empty                             | become available: `read()` and `try_read` take them    |
//! | readers only                      | every queued reader is served; the rest are available  |
//! | readers `R…` (or none), writer `W` | each `R` ahead of `W` is served; `W` collects the rest and waits for the kept permit and those readers; waiters behind `W` (readers too) keep waiting |
//!
//! # The upgradable read lock
//!
//! [`RwLock::upgradable_read`] adds a second semaphore, the *gate*, with one permit. An
//! upgradable reader holds the gate and one reader permit of the main semaphore; nothing else
//! touches the gate, so `read`, `write`, their `try_` forms and every guard's drop run exactly
//! the code they ran before (the gate only makes the lock bigger).
//!
//! * It takes the gate first, then its reader permit (FIFO: behind a queued writer, like any
//!   reader). Holding the gate excludes other upgradable readers (they wait at the gate, and
//!   plain readers and writers do not wait for them there); holding a reader permit excludes
//!   writers and lets readers in. Never the other way round: a task waiting at the gate while
//!   holding a reader permit could be what the gate's holder is waiting for to upgrade.
//! * [`upgrade`](RwLockUpgradableReadGuard::upgrade) needs the other `MAX_READERS - 1`
//!   permits. A writer queued at the front while the guard was held has collected every free
//!   permit and waits for the guard's: queuing behind it would deadlock. So the upgrade
//!   *overtakes* the queue (`RawOvertake` in the semaphore): it takes the permits the front
//!   waiter has collected and queues at the front for the rest, which only the read guards
//!   that are out hold — and none of those waits for the upgrader (only readers served
//!   before the queue formed hold permits; readers queued behind the writer hold none). The
//!   writer collects again once the upgraded write guard is dropped: it stays ahead of every
//!   reader queued behind it, but not of the upgrade.
//!
//! | state (gate, main permits)              | `read()` / `try_read`     | `write()` / `try_write` | `upgradable_read()`           | `upgrade()`                               |
//! |-----------------------------------------|---------------------------|-------------------------|-------------------------------|-------------------------------------------|
//! | free, `k` readers, nobody queued        | one CAS                   | queue, collect (`k` > 0)| gate CAS, then one CAS        | —                                         |
//! | held `U`, `k` readers, nobody queued    | one CAS                   | queue, collect all but `k + 1` | wait at the gate       | `k` = 0: one CAS; else queue, take the free ones |
//! | held `U`, `k` readers, writer `W` queued first | queue behind `W`   | queue behind `W`        | wait at the gate              | take `W`'s collected permits; `k` = 0: done, else queue *ahead of* `W` for `k` |
//! | held `U`, upgrade queued first          | queue behind it           | queue behind it         | wait at the gate              | —                                         |
//! | free, a writer holds (or `U`'s upgrade) | queue                     | queue                   | gate CAS, queue for the permit| —                                         |
//!
//! | upgradable guard `U` (gate + one permit) | becomes                  | gate                            | main permits                                                                          |
//! |------------------------------------------|--------------------------|---------------------------------|---------------------------------------------------------------------------------------|
//! | `upgrade().await` completes              | write guard              | released after the write guard exists | all `MAX_READERS` held                                                          |
//! | `upgrade()` dropped while queued         | nothing (the guard is in the future) | released                | what the upgrade had been assigned, then `U`'s own: FIFO hand-off (the overtaken writer first) |
//! | `try_upgrade()`                          | write guard, or `U` back | released on success             | as a first poll, but takes nothing unless it gets all                                 |
//! | `downgrade()`                            | read guard               | released after the read guard exists | the one permit kept                                                              |
//! | drop                                     | —                        | released, even if the permit's release unwinds (a waker panicked) | one permit released: FIFO hand-off                     |
//!
//! A guard's wakers are called only by the semaphores' releases, after their internal mutex
//! is let go (as everywhere in this crate); an upgrade's first poll wakes nobody (it only
//! takes permits back from a waiter that keeps waiting), and clones its waker before taking
//! that mutex. Every successor guard is made before the gate's release, whose wake-up may
//! panic: the unwinding drops it, and nothing is held for ever.

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::mutex::TryLockError;
use crate::semaphore::{RawAcquire, RawOvertake, RawSemaphore};

const MAX_READERS: usize = (u32::MAX >> 3) as usize;

/// An async reader-writer lock protecting a `T`: many readers or one writer, served in arrival
/// order.
///
/// # Deadlocks
///
/// Because waiters are served strictly in arrival order (no writer starves), a task must not
/// wait for the lock while it holds a guard of it:
///
/// * a task holding a read guard that calls [`write`](RwLock::write) waits forever (a read
///   guard cannot be upgraded: drop it first and check again what it read, or read through
///   an [upgradable read guard](RwLock::upgradable_read) instead);
/// * a task holding a read guard that calls [`read`](RwLock::read) again waits forever if a
///   writer queued in between (the second read queues behind the writer, which waits for the
///   first read guard). Pass the guard down instead of locking again.
///
/// The same holds for an [upgradable read guard](RwLockUpgradableReadGuard), with one
/// exception built in: its [`upgrade`](RwLockUpgradableReadGuard::upgrade) goes ahead of the
/// queued writers, so it never waits for a writer that waits for it. It waits for the other
/// read guards, so a task holding one of those must not wait for an upgrade (nor for
/// [`upgradable_read`](RwLock::upgradable_read): the upgradable reader it waits for may be
/// upgrading).
///
/// # Examples
///
/// ```
/// use ciranda::sync::RwLock;
/// let lock = RwLock::new(5);
/// ciranda::run(async {
///     {
///         let r1 = lock.read().await;
///         let r2 = lock.read().await;
///         assert_eq!(*r1 + *r2, 10);
///         assert!(lock.try_write().is_err());
///     }
///     *lock.write().await += 1;
///     assert_eq!(*lock.read().await, 6);
/// });
/// ```
pub struct RwLock<T: ?Sized> {
    sem: RawSemaphore,
    /// One permit: held by the upgradable reader (see the module docs).
    gate: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the lock moves a `T` between threads only if `T: Send`.
unsafe impl<T: ?Sized + Send> Send for RwLock<T> {}
// SAFETY: readers share `&T` across threads (needs `T: Sync`); a writer gets `&mut T` on any
// thread (needs `T: Send`). The semaphore guarantees readers and a writer never coexist.
unsafe impl<T: ?Sized + Send + Sync> Sync for RwLock<T> {}

impl<T> RwLock<T> {
    crate::loom::const_fn! {
        /// Creates an unlocked lock holding `value`.
        pub fn new(value: T) -> Self {
            RwLock {
                sem: RawSemaphore::new(MAX_READERS),
                gate: RawSemaphore::new(1),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the lock and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> RwLock<T> {
    /// The largest number of simultaneous readers.
    pub const MAX_READERS: usize = MAX_READERS;

    async fn acquire(&self, n: usize) {
        if RawAcquire::new(&self.sem, n).await.is_err() {
            unreachable!("an RwLock's semaphore is never closed");
        }
    }

    /// Waits for shared access (FIFO: behind any queued writer).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in the queue; a read lock already handed to it is
    /// released at once (waking whoever it held back): a dropped `read` never keeps the lock.
    pub async fn read(&self) -> RwLockReadGuard<'_, T> {
        self.acquire(1).await;
        RwLockReadGuard { lock: self }
    }

    /// Waits for exclusive access (FIFO).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in the queue; a write lock already handed to it is
    /// released at once to the next waiters: a dropped `write` never keeps the lock.
    pub async fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.acquire(MAX_READERS).await;
        RwLockWriteGuard { lock: self }
    }

    /// Takes shared access if possible right now (no writer holds or waits for the lock).
    pub fn try_read(&self) -> Result<RwLockReadGuard<'_, T>, TryLockError> {
        self.sem
            .try_acquire(1)
            .map(|()| RwLockReadGuard { lock: self })
            .map_err(|_| TryLockError::new())
    }

    /// Takes exclusive access if nobody holds or waits for the lock.
    pub fn try_write(&self) -> Result<RwLockWriteGuard<'_, T>, TryLockError> {
        self.sem
            .try_acquire(MAX_READERS)
            .map(|()| RwLockWriteGuard { lock: self })
            .map_err(|_| TryLockError::new())
    }

    /// Waits for an upgradable read lock: shared access alongside plain readers, which
    /// excludes writers and other upgradable readers and can be
    /// [upgraded](RwLockUpgradableReadGuard::upgrade) to a write lock without letting a
    /// writer in between.
    ///
    /// Only one upgradable read guard exists at a time; others wait for it (in arrival
    /// order), without holding back plain readers or writers. Once it is its turn, it takes
    /// its read lock like [`read`](RwLock::read): behind any queued writer.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in line (for the upgradable lock, or for the
    /// read lock it waits for once it has that); whatever was already handed to it is
    /// released at once, to the next waiters: a dropped `upgradable_read` never keeps either.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::RwLock;
    ///
    /// let lock = RwLock::new(vec![1, 2]);
    /// ciranda::run(async {
    ///     let u = lock.upgradable_read().await;
    ///     // Plain readers share the lock with it; writers and upgradable readers wait.
    ///     assert_eq!(*lock.read().await, [1, 2]);
    ///     assert!(lock.try_write().is_err());
    ///     assert!(lock.try_upgradable_read().is_err());
    ///     if !u.contains(&3) {
    ///         u.upgrade().await.push(3);
    ///     }
    ///     assert_eq!(*lock.read().await, [1, 2, 3]);
    /// });
    /// ```
    pub async fn upgradable_read(&self) -> RwLockUpgradableReadGuard<'_, T> {
        if RawAcquire::new(&self.gate, 1).await.is_err() {
            unreachable!("an RwLock's gate is never closed");
        }
        // Given back if this future is dropped while it waits for the read lock.
        let gate = GateHeld(&self.gate);
        self.acquire(1).await;
        core::mem::forget(gate);
        RwLockUpgradableReadGuard { lock: self }
    }

    /// Takes an upgradable read lock if possible right now: no other upgradable reader holds
    /// or waits for one, and no writer holds or waits for the lock.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ciranda::sync::RwLock::new(0);
    /// let u = lock.try_upgradable_read().unwrap();
    /// assert!(lock.try_upgradable_read().is_err());
    /// assert!(lock.try_read().is_ok());
    /// drop(u);
    /// assert!(lock.try_upgradable_read().is_ok());
    /// ```
    pub fn try_upgradable_read(&self) -> Result<RwLockUpgradableReadGuard<'_, T>, TryLockError> {
        self.gate.try_acquire(1).map_err(|_| TryLockError::new())?;
        // Given back if the read lock cannot be had.
        let gate = GateHeld(&self.gate);
        self.sem.try_acquire(1).map_err(|_| TryLockError::new())?;
        core::mem::forget(gate);
        Ok(RwLockUpgradableReadGuard { lock: self })
    }

    /// A mutable reference to the value; no locking needed since `&mut self` is exclusive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for RwLock<T> {
    fn default() -> Self {
        RwLock::new(T::default())
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLock<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("RwLock");
        match self.try_read() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Shared access to an [`RwLock`]'s value.
///
/// # Examples
///
/// ```
/// let lock = ciranda::sync::RwLock::new(1);
/// let a = lock.try_read().unwrap();
/// let b = lock.try_read().unwrap();
/// assert_eq!(*a, *b);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: the guard only gives `&T`; sharing or sending it across threads needs `T: Sync`.
unsafe impl<T: ?Sized + Sync> Sync for RwLockReadGuard<'_, T> {}
// SAFETY: as above: sending a read guard sends only the ability to read `&T`.
unsafe impl<T: ?Sized + Sync> Send for RwLockReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds one reader permit, so no writer (the only source of `&mut T`)
        // can hold the lock while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for RwLockReadGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// Exclusive access to an [`RwLock`]'s value.
///
/// # Examples
///
/// ```
/// let lock = ciranda::sync::RwLock::new(vec![1]);
/// lock.try_write().unwrap().push(2);
/// assert_eq!(*lock.try_read().unwrap(), [1, 2]);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockWriteGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: sharing a write guard shares `&T` (needs `T: Sync`).
unsafe impl<T: ?Sized + Sync> Sync for RwLockWriteGuard<'_, T> {}
// SAFETY: sending a write guard lets another thread use `&mut T` (needs `T: Send`).
unsafe impl<T: ?Sized + Send> Send for RwLockWriteGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockWriteGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds every permit: no other guard exists while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for RwLockWriteGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard holds every permit and `&mut self` is exclusive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<'a, T: ?Sized> RwLockWriteGuard<'a, T> {
    /// Atomically turns this write lock into a read lock: the value it wrote is what the read
    /// guard (and every other reader) sees, and no writer can take the lock in between.
    ///
    /// What it does to the waiters follows the lock's FIFO order, as if the writer had
    /// released everything but one reader's share:
    ///
    /// * readers queued ahead of the first queued writer get their read locks at once and
    ///   read alongside the returned guard (with no writer queued, that is every queued
    ///   reader, and later readers get in at once too);
    /// * the first queued writer stays first: it gets the lock once the returned guard and
    ///   the readers served before it are dropped. Readers queued behind it, and readers
    ///   arriving later, keep waiting for it (no reader overtakes a queued writer), so
    ///   `try_read` fails while it waits.
    ///
    /// The returned guard is an ordinary read guard: the [deadlock rules](RwLock#deadlocks)
    /// apply to it (reading again while holding it waits forever if a writer is queued).
    ///
    /// # Panics
    ///
    /// Waking a served reader runs its waker; if that panics, the panic goes on into the
    /// caller after every served reader was woken, and the read lock is released while it
    /// unwinds (the lock stays usable).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::RwLock;
    ///
    /// let lock = RwLock::new(1);
    /// ciranda::run(async {
    ///     let mut w = lock.write().await;
    ///     *w = 2;
    ///     let r = w.downgrade();
    ///     // Still no writer can get in, but other readers can.
    ///     assert!(lock.try_write().is_err());
    ///     assert_eq!(*lock.read().await, 2);
    ///     assert_eq!(*r, 2);
    /// });
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        // The write guard's permits now belong to the read guard (one) and to the release
        // below (the rest): its own drop must not release them.
        core::mem::forget(self);
        // Made before the release, whose wake-ups may unwind: the kept permit is then
        // released with it.
        let read = RwLockReadGuard { lock };
        lock.sem.release(MAX_READERS - 1);
        read
    }
}

impl<T: ?Sized> Drop for RwLockWriteGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(MAX_READERS);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockWriteGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// The gate's permit (see the module docs), released when this is dropped: by an upgradable
/// guard's drop also while it unwinds, and by `upgradable_read` if its future is dropped
/// while it waits for its read lock.
struct GateHeld<'a>(&'a RawSemaphore);

impl Drop for GateHeld<'_> {
    fn drop(&mut self) {
        self.0.release(1);
    }
}

/// Shared access to an [`RwLock`]'s value that can be upgraded to exclusive access, from
/// [`RwLock::upgradable_read`].
///
/// While it lives, plain readers may read alongside it, and neither writers nor other
/// upgradable readers get the lock. [`upgrade`](Self::upgrade) turns it into a write guard
/// without letting another writer in between (it goes ahead of writers that queued while it
/// was held); [`downgrade`](Self::downgrade) turns it into a plain read guard, letting the
/// next upgradable reader in.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{RwLock, RwLockUpgradableReadGuard};
///
/// let lock = RwLock::new(1);
/// let u: RwLockUpgradableReadGuard<'_, i32> = lock.try_upgradable_read().unwrap();
/// let r = lock.try_read().unwrap();
/// assert_eq!(*u + *r, 2);
/// // Another reader is still there, so the upgrade cannot happen now.
/// let u = u.try_upgrade().unwrap_err();
/// drop(r);
/// let mut w = u.try_upgrade().unwrap();
/// *w = 5;
/// drop(w);
/// assert_eq!(*lock.try_read().unwrap(), 5);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct RwLockUpgradableReadGuard<'a, T: ?Sized> {
    lock: &'a RwLock<T>,
}

// SAFETY: sharing the guard shares only `&T` (needs `T: Sync`).
unsafe impl<T: ?Sized + Sync> Sync for RwLockUpgradableReadGuard<'_, T> {}
// SAFETY: the guard reads `&T` on the thread it is sent to (needs `T: Sync`), and its upgrade
// writes `&mut T` there (needs `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Send for RwLockUpgradableReadGuard<'_, T> {}

impl<T: ?Sized> Deref for RwLockUpgradableReadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard holds one reader permit, so no writer (the only source of `&mut T`)
        // can hold the lock while it lives.
        unsafe { &*self.lock.data.get() }
    }
}

impl<'a, T: ?Sized> RwLockUpgradableReadGuard<'a, T> {
    /// Waits until the other readers are gone and turns this guard into a write guard: no
    /// writer gets the lock in between, so what the guard read is still the value.
    ///
    /// The upgrade goes ahead of every waiter queued when it starts, writers included (a
    /// writer queued while this guard was held waits for its read lock; waiting behind that
    /// writer would deadlock): it takes the read locks that are given back from then on, and
    /// the permits a queued writer had collected. Readers and writers arriving after it queue
    /// behind it; `try_read` fails while it waits. Once the write guard is dropped, the queue
    /// is served in its order as before.
    ///
    /// # Cancel safety
    ///
    /// The future owns the guard. Dropping it gives back what the upgrade had collected (to
    /// the waiters it went ahead of, in order) and drops the guard: its read lock and the
    /// upgradable lock are released, and nothing is kept. To keep reading, do not drop the
    /// future; to try without waiting, use [`try_upgrade`](Self::try_upgrade), which hands
    /// the guard back.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::RwLock;
    ///
    /// let lock = RwLock::new(0);
    /// ciranda::run(async {
    ///     let u = lock.upgradable_read().await;
    ///     let before = *u;
    ///     let mut w = u.upgrade().await;
    ///     *w = before + 1;
    ///     drop(w);
    ///     assert_eq!(*lock.read().await, 1);
    /// });
    /// ```
    pub async fn upgrade(self) -> RwLockWriteGuard<'a, T> {
        let lock = self.lock;
        if RawOvertake::new(&lock.sem, MAX_READERS - 1).await.is_err() {
            unreachable!("an RwLock's semaphore is never closed");
        }
        // With the guard's permit, the upgrade holds every one now.
        Self::finish_upgrade(self)
    }

    /// Turns this guard into a write guard if no other reader holds the lock, without
    /// waiting; otherwise returns the guard. Like [`upgrade`](Self::upgrade), it goes ahead of
    /// queued writers: a writer queued while this guard was held does not make it fail.
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ciranda::sync::RwLock::new(0);
    /// let u = lock.try_upgradable_read().unwrap();
    /// let r = lock.try_read().unwrap();
    /// let u = u.try_upgrade().unwrap_err(); // `r` is still reading
    /// drop(r);
    /// *u.try_upgrade().unwrap() += 1;
    /// assert_eq!(*lock.try_read().unwrap(), 1);
    /// ```
    pub fn try_upgrade(self) -> Result<RwLockWriteGuard<'a, T>, Self> {
        if self.lock.sem.try_acquire_overtaking(MAX_READERS - 1) {
            Ok(Self::finish_upgrade(self))
        } else {
            Err(self)
        }
    }

    /// The upgrade's end, once it holds the other `MAX_READERS - 1` permits: the write guard
    /// owns them all, and the gate goes.
    fn finish_upgrade(this: Self) -> RwLockWriteGuard<'a, T> {
        let lock = this.lock;
        // The guard's permit now belongs to the write guard: its drop must not release it.
        core::mem::forget(this);
        // Made before the gate's release, whose wake-up may unwind: the write guard is then
        // released with it.
        let write = RwLockWriteGuard { lock };
        lock.gate.release(1);
        write
    }

    /// Turns this guard into a plain read guard: it keeps reading (no writer gets in
    /// between), and the next upgradable reader can get in.
    ///
    /// # Panics
    ///
    /// Letting the next upgradable reader in runs its waker; if that panics, the panic goes
    /// on into the caller and the read lock is released while it unwinds (the lock stays
    /// usable).
    ///
    /// # Examples
    ///
    /// ```
    /// let lock = ciranda::sync::RwLock::new(7);
    /// let u = lock.try_upgradable_read().unwrap();
    /// let r = u.downgrade();
    /// assert_eq!(*r, 7);
    /// assert!(lock.try_upgradable_read().is_ok());
    /// assert!(lock.try_write().is_err());
    /// ```
    pub fn downgrade(self) -> RwLockReadGuard<'a, T> {
        let lock = self.lock;
        core::mem::forget(self);
        // Made before the gate's release: see `finish_upgrade`.
        let read = RwLockReadGuard { lock };
        lock.gate.release(1);
        read
    }
}

impl<T: ?Sized> Drop for RwLockUpgradableReadGuard<'_, T> {
    fn drop(&mut self) {
        // Released after the read lock, also if that release's wake-up unwinds.
        let _gate = GateHeld(&self.lock.gate);
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for RwLockUpgradableReadGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}
