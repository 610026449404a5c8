//! An async mutex (asyncio's `Lock`), FIFO-fair with direct hand-off.
//!
//! Built on the batch semaphore core with one permit: an uncontended `lock` is one CAS, an
//! uncontended unlock is one CAS; with waiters queued, unlock hands the permit straight to the
//! first waiter (nobody can barge in between). There is no poisoning: a panic while the guard is
//! held simply unlocks.
//!
//! | lock word                   | meaning                          | `lock()`            |
//! |-----------------------------|----------------------------------|---------------------|
//! | 1 permit, no `WAITERS`      | unlocked                         | one CAS, done       |
//! | 0 permits, no `WAITERS`     | locked, nobody waits             | queue, set WAITERS  |
//! | 0 permits, `WAITERS`        | locked, FIFO of waiters          | queue at the back   |

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};
use std::sync::Arc;

use crate::semaphore::{RawAcquire, RawSemaphore};

/// An async mutual-exclusion lock protecting a `T`.
///
/// Waiters get the lock in arrival order. Dropping a pending [`lock`](Mutex::lock) future is
/// safe at any point: if the lock had already been handed to it, it passes to the next waiter.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Mutex;
/// let m = Mutex::new(0);
/// ciranda::run(async {
///     *m.lock().await += 1;
///     let guard = m.lock().await;
///     assert!(m.try_lock().is_err());
///     assert_eq!(*guard, 1);
/// });
/// assert_eq!(m.into_inner(), 1);
/// ```
pub struct Mutex<T: ?Sized> {
    sem: RawSemaphore,
    data: UnsafeCell<T>,
}

// SAFETY: the mutex moves a `T` between threads only if `T: Send`.
unsafe impl<T: ?Sized + Send> Send for Mutex<T> {}
// SAFETY: the semaphore (one permit) guarantees at most one guard exists at a time, so `&Mutex`
// only ever gives exclusive access to `T` to one thread at a time; that needs `T: Send`, not
// `T: Sync`, exactly as for `std::sync::Mutex`.
unsafe impl<T: ?Sized + Send> Sync for Mutex<T> {}

impl<T> Mutex<T> {
    crate::loom::const_fn! {
        /// Creates an unlocked mutex holding `value`. A `const fn`, so a lock can be a
        /// `static` — asyncio's module-level `lock = asyncio.Lock()`; so can every primitive
        /// below:
        ///
        /// ```
        /// use ciranda_sync::{Condition, Event, Mutex, Notify, Promise, RwLock, Semaphore};
        /// static LOCK: Mutex<()> = Mutex::new(());
        /// static TABLE: RwLock<Vec<u32>> = RwLock::new(Vec::new());
        /// static PERMITS: Semaphore = Semaphore::new(3);
        /// static READY: Event = Event::new();
        /// static WAKE: Notify = Notify::new();
        /// static CHANGED: Condition = Condition::new();
        /// static CONFIG: Promise<String> = Promise::new();
        ///
        /// assert!(LOCK.try_lock().is_ok());
        /// assert_eq!(PERMITS.available_permits(), 3);
        /// assert!(!READY.is_set());
        /// # let _ = (&TABLE, &WAKE, &CHANGED, &CONFIG);
        /// ```
        pub fn new(value: T) -> Self {
            Mutex {
                sem: RawSemaphore::new(1),
                data: UnsafeCell::new(value),
            }
        }
    }

    /// Consumes the mutex and returns the value.
    pub fn into_inner(self) -> T {
        self.data.into_inner()
    }
}

impl<T: ?Sized> Mutex<T> {
    /// Waits for the lock (FIFO) and returns a guard that unlocks on drop.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in the queue. If the lock had already been handed to
    /// it but not yet returned, it goes to the next waiter (or the mutex is unlocked): a dropped
    /// `lock` never keeps the mutex locked.
    pub async fn lock(&self) -> MutexGuard<'_, T> {
        self.acquire().await;
        MutexGuard { lock: self }
    }

    async fn acquire(&self) {
        // The mutex's semaphore is never closed, so the acquire cannot fail.
        if RawAcquire::new(&self.sem, 1).await.is_err() {
            unreachable!("a mutex's semaphore is never closed");
        }
    }

    /// Like [`lock`](Mutex::lock), with a guard that keeps the mutex alive (it can be moved
    /// into another task).
    ///
    /// # Cancel safety
    ///
    /// As for [`lock`](Mutex::lock): a dropped `lock_owned` never keeps the mutex locked; the `Arc`
    /// it took is dropped with it.
    pub async fn lock_owned(self: Arc<Self>) -> OwnedMutexGuard<T> {
        self.acquire().await;
        OwnedMutexGuard { lock: self }
    }

    /// Takes the lock if it is free and nobody is queued for it.
    pub fn try_lock(&self) -> Result<MutexGuard<'_, T>, TryLockError> {
        match self.sem.try_acquire(1) {
            Ok(()) => Ok(MutexGuard { lock: self }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// Like [`try_lock`](Mutex::try_lock), with an owned guard.
    pub fn try_lock_owned(self: Arc<Self>) -> Result<OwnedMutexGuard<T>, TryLockError> {
        match self.sem.try_acquire(1) {
            Ok(()) => Ok(OwnedMutexGuard { lock: self }),
            Err(_) => Err(TryLockError(())),
        }
    }

    /// A mutable reference to the value; no locking needed since `&mut self` is exclusive.
    pub fn get_mut(&mut self) -> &mut T {
        self.data.get_mut()
    }
}

impl<T: Default> Default for Mutex<T> {
    fn default() -> Self {
        Mutex::new(T::default())
    }
}

impl<T> From<T> for Mutex<T> {
    fn from(value: T) -> Self {
        Mutex::new(value)
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for Mutex<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Mutex");
        match self.try_lock() {
            Ok(guard) => d.field("data", &&*guard),
            Err(_) => d.field("data", &format_args!("<locked>")),
        };
        d.finish()
    }
}

/// Exclusive access to a [`Mutex`]'s value; unlocks (handing off to the next waiter) on drop.
///
/// # Examples
///
/// ```
/// let m = ciranda::sync::Mutex::new(vec![1]);
/// let mut guard = m.try_lock().unwrap();
/// guard.push(2);
/// drop(guard);
/// assert_eq!(*m.try_lock().unwrap(), [1, 2]);
/// ```
///
/// # Thread safety
///
/// The guard is `Sync` only when `T` is `Send + Sync`: a shared guard hands out `&T`, and also
/// the [`Mutex`] itself ([`MutexGuard::mutex`]), which another thread can lock once the guard
/// is gone and so reach the value from there. A `Sync` but not `Send` value therefore does not
/// make the guard `Sync`:
///
/// ```compile_fail,E0277
/// fn assert_sync<S: Sync>() {}
/// // `std::sync::MutexGuard` is `Sync` but not `Send`.
/// assert_sync::<ciranda::sync::MutexGuard<'static, std::sync::MutexGuard<'static, u8>>>();
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct MutexGuard<'a, T: ?Sized> {
    lock: &'a Mutex<T>,
}

// SAFETY: sharing a guard shares `&T` across threads (needs `T: Sync`) and `&Mutex<T>`, through
// which another thread may later lock and get `&mut T` (needs `T: Send`, as `Mutex: Sync` does).
unsafe impl<T: ?Sized + Send + Sync> Sync for MutexGuard<'_, T> {}

impl<'a, T: ?Sized> MutexGuard<'a, T> {
    /// The mutex this guard locks (used by `Condition::wait` to re-take it).
    pub fn mutex(this: &Self) -> &'a Mutex<T> {
        this.lock
    }
}

impl<T: ?Sized> Deref for MutexGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the mutex's only permit, so no other guard (and no `&mut T`)
        // exists while it lives; `&self` ties the shared borrow to the guard.
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for MutexGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: as in `deref`, and `&mut self` makes this borrow the only one through the
        // guard.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for MutexGuard<'_, T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

impl<T: ?Sized + fmt::Display> fmt::Display for MutexGuard<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&**self, f)
    }
}

/// Like [`MutexGuard`], but holds an `Arc` to the mutex, so it is `'static` when `T` is.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let m = Arc::new(ciranda::sync::Mutex::new(1));
/// let mut guard = m.clone().try_lock_owned().unwrap();
/// std::thread::spawn(move || *guard += 1).join().unwrap();
/// assert_eq!(*m.try_lock().unwrap(), 2);
/// ```
///
/// # Thread safety
///
/// As for [`MutexGuard`], the guard is `Sync` only when `T` is `Send + Sync` (a shared guard
/// hands out the `Arc<Mutex<T>>`):
///
/// ```compile_fail,E0277
/// fn assert_sync<S: Sync>() {}
/// // `std::sync::MutexGuard` is `Sync` but not `Send`.
/// assert_sync::<ciranda::sync::OwnedMutexGuard<std::sync::MutexGuard<'static, u8>>>();
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct OwnedMutexGuard<T: ?Sized> {
    lock: Arc<Mutex<T>>,
}

// SAFETY: sharing a guard shares `&T` across threads (needs `T: Sync`) and the
// `Arc<Mutex<T>>`, through which another thread may later lock and get `&mut T` (needs
// `T: Send`).
unsafe impl<T: ?Sized + Send + Sync> Sync for OwnedMutexGuard<T> {}

impl<T: ?Sized> OwnedMutexGuard<T> {
    /// The mutex this guard locks.
    pub fn mutex(this: &Self) -> &Arc<Mutex<T>> {
        &this.lock
    }
}

impl<T: ?Sized> Deref for OwnedMutexGuard<T> {
    type Target = T;
    fn deref(&self) -> &T {
        // SAFETY: the guard owns the mutex's only permit (see `MutexGuard::deref`).
        unsafe { &*self.lock.data.get() }
    }
}

impl<T: ?Sized> DerefMut for OwnedMutexGuard<T> {
    fn deref_mut(&mut self) -> &mut T {
        // SAFETY: the guard owns the mutex's only permit and `&mut self` is exclusive.
        unsafe { &mut *self.lock.data.get() }
    }
}

impl<T: ?Sized> Drop for OwnedMutexGuard<T> {
    fn drop(&mut self) {
        self.lock.sem.release(1);
    }
}

impl<T: ?Sized + fmt::Debug> fmt::Debug for OwnedMutexGuard<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&**self, f)
    }
}

/// [`Mutex::try_lock`] failed: the lock is held or others are queued for it (would block).
///
/// # Examples
///
/// ```
/// let m = ciranda::sync::Mutex::new(());
/// let _g = m.try_lock().unwrap();
/// assert_eq!(m.try_lock().unwrap_err().to_string(), "lock is held (would block)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryLockError(());

impl TryLockError {
    pub(crate) fn new() -> Self {
        TryLockError(())
    }
}

impl fmt::Display for TryLockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("lock is held (would block)")
    }
}

impl std::error::Error for TryLockError {}
