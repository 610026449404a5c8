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

use core::cell::UnsafeCell;
use core::fmt;
use core::ops::{Deref, DerefMut};

use crate::mutex::TryLockError;
use crate::semaphore::{RawAcquire, RawSemaphore};

const MAX_READERS: usize = (u32::MAX >> 3) as usize;

/// An async reader-writer lock protecting a `T`: many readers or one writer, served in arrival
/// order.
///
/// # Deadlocks
///
/// Because waiters are served strictly in arrival order (no writer starves), a task must not
/// wait for the lock while it holds a guard of it:
///
/// * a task holding a read guard that calls [`write`](RwLock::write) waits forever (there is
///   no upgrade: drop the read guard first, and check again what it read);
/// * a task holding a read guard that calls [`read`](RwLock::read) again waits forever if a
///   writer queued in between (the second read queues behind the writer, which waits for the
///   first read guard). Pass the guard down instead of locking again.
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
