//! `Notify`: a wake-up signal with one stored permit.
//!
//! One atomic word holds `generation << 2 | WAITING << 1 | NOTIFIED`; the waiters are a
//! [`WaitList`] under a shim mutex. `WAITING` is set and cleared only under the lock, and is set
//! exactly while the list is non-empty. `generation` counts `notify_waiters` calls.
//!
//! | operation         | `WAITING` clear                      | `WAITING` set (lock taken)          |
//! |-------------------|--------------------------------------|-------------------------------------|
//! | `notify_one`      | CAS in `NOTIFIED` (lock-free)        | grant the front waiter              |
//! | `notified` poll   | CAS `NOTIFIED` away, or queue        | queue at the back                   |
//! | `enable` (first)  | CAS `NOTIFIED` away, or queue        | queue at the back, with no waker    |
//! | `notify_waiters`  | bump generation                      | bump generation, grant all          |
//!
//! Waiter slot states: `Waiting` → `Notified(by_one)`; a future dropped in `Notified(true)`
//! (granted by `notify_one` but never returned) passes the notification to the next waiter or
//! stores it as the permit. A [`Notified`] future remembers the generation it was created in, so
//! a `notify_waiters` that happens after its creation completes it even if it had not been
//! polled yet (the "create, check condition, await" pattern never loses a wake-up).
//!
//! [`Notified::enable`] is a first poll without a waker: it queues the future (or takes the
//! permit, or finds a `notify_waiters` since its creation) like a first poll does, but its
//! slot holds no waker. It is a waiter like any other from then on: `notify_one` grants it in
//! its FIFO turn instead of storing the permit or granting a later waiter, and nobody is woken
//! (there is no waker yet). Its first poll stores a waker in the slot as a re-poll with a new
//! waker does (cloned with the lock released, then checked again), or finds the grant and
//! returns; its drop passes a `notify_one` grant on like any waiter's. A later `enable` of a
//! queued future only looks: it takes a grant out of the slot if there is one (the future is
//! then done) and otherwise leaves the slot and its waker as they are.
//!
//! | future state               | slot            | `enable`               | poll                  | drop                        |
//! |----------------------------|-----------------|------------------------|-----------------------|-----------------------------|
//! | new                        | none            | checks, may queue      | checks, may queue     | nothing                     |
//! | queued (polled or enabled) | `Waiting`       | `false`, slot kept     | stores waker, pending | leaves the queue            |
//! | granted                    | `Notified(_)`   | `true`, done           | ready, done           | passes a `notify_one` on    |
//! | done                       | none            | `true`                 | ready                 | nothing                     |

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};

use crate::coop;
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering};
use crate::waiters::{Key, Queued, WaitList, WakeList, poll_wait};

const NOTIFIED: usize = 0b01;
const WAITING: usize = 0b10;
const GEN_ONE: usize = 0b100;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Waiting,
    /// `true` when granted by `notify_one` (a permit to pass on if dropped).
    Notified(bool),
}

/// Wakes tasks: [`notify_one`](Notify::notify_one) wakes the first waiter or stores one permit,
/// [`notify_waiters`](Notify::notify_waiters) wakes every current waiter and stores nothing.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Notify;
/// use std::sync::Arc;
/// let notify = Arc::new(Notify::new());
/// let n2 = notify.clone();
/// let t = std::thread::spawn(move || n2.notify_one());
/// ciranda::run(notify.notified()); // returns whether the notify came before or after
/// t.join().unwrap();
/// ```
pub struct Notify {
    state: AtomicUsize,
    waiters: Mutex<WaitList<Slot>>,
}

impl Notify {
    crate::loom::const_fn! {
        /// Creates a `Notify` with no stored permit.
        pub fn new() -> Self {
            Notify {
                state: AtomicUsize::new(0),
                waiters: Mutex::new(WaitList::new()),
            }
        }
    }

    /// A future that completes on the next notification: a stored permit (consumed), a
    /// `notify_one` (FIFO among waiters), or a `notify_waiters` made after this call.
    ///
    /// It takes its place among the waiters for `notify_one` when first polled, or earlier
    /// with [`Notified::enable`].
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in line. A [`notify_one`](Notify::notify_one) it had
    /// already received is passed on to the next waiter, or stored as the permit if nobody waits,
    /// so no `notify_one` is lost; a wake-up from [`notify_waiters`](Notify::notify_waiters) is not
    /// passed on (it was meant for everyone waiting at that moment).
    pub fn notified(&self) -> Notified<'_> {
        Notified {
            notify: self,
            generation: self.state.load(Ordering::Acquire) & !(NOTIFIED | WAITING),
            key: None,
            done: false,
        }
    }

    /// Wakes the first waiter (a [`Notified`] that was polled or [enabled](Notified::enable)
    /// and is still waiting); with nobody waiting, stores one permit for the next
    /// [`notified`](Notify::notified) (permits do not accumulate beyond one).
    pub fn notify_one(&self) {
        let mut state = self.state.load(Ordering::Acquire);
        while state & WAITING == 0 {
            // Also with a permit already stored (then the word does not change): the CAS is
            // what publishes the caller's writes to whoever takes the permit, and what orders
            // this call against that take. Returning after only reading `NOTIFIED` let a
            // concurrent take miss both: its waiter could find the caller's writes not yet
            // visible and no permit left for its next wait (a lost wake-up, seen on x86 with
            // the caller's write still in its store buffer).
            match self.state.compare_exchange_weak(
                state,
                state | NOTIFIED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let waiters = self.waiters.lock();
        self.notify_one_locked(waiters);
    }

    fn notify_one_locked(&self, mut waiters: MutexGuard<'_, WaitList<Slot>>) {
        let mut wakers = WakeList::new();
        if waiters.grant_front(&mut wakers, |s| *s = Slot::Notified(true)) {
            if waiters.is_empty() {
                self.state.fetch_and(!WAITING, Ordering::AcqRel);
            }
        } else {
            // WAITING is clear (the list is empty); lock-free notifiers may race, so OR it in.
            self.state.fetch_or(NOTIFIED, Ordering::AcqRel);
        }
        drop(waiters);
        wakers.wake_all();
    }

    /// Wakes every task waiting right now (and every [`Notified`] created before this call);
    /// stores no permit.
    pub fn notify_waiters(&self) {
        // Nobody registered: only the generation moves, without the lock. A registration
        // sets WAITING with a CAS on the whole word under the lock, so it either sees the new
        // generation (and completes) or makes this CAS fail (and we take the lock below).
        let mut state = self.state.load(Ordering::Acquire);
        while state & WAITING == 0 {
            match self.state.compare_exchange_weak(
                state,
                state.wrapping_add(GEN_ONE),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return,
                Err(actual) => state = actual,
            }
        }
        let mut waiters = self.waiters.lock();
        self.state.fetch_add(GEN_ONE, Ordering::AcqRel);
        let mut wakers = WakeList::new();
        while waiters.grant_front(&mut wakers, |s| *s = Slot::Notified(false)) {}
        self.state.fetch_and(!WAITING, Ordering::AcqRel);
        drop(waiters);
        wakers.wake_all();
    }
}

impl Default for Notify {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Notify {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.load(Ordering::Relaxed);
        f.debug_struct("Notify")
            .field("permit", &(state & NOTIFIED != 0))
            .field("waiting", &(state & WAITING != 0))
            .finish()
    }
}

/// The future returned by [`Notify::notified`]. Dropping it after it was picked by
/// `notify_one` passes the notification on.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let notify = ciranda::sync::Notify::new();
///     notify.notify_one(); // stored
///     notify.notified().await; // takes the stored notification at once
///     let again = ciranda::time::timeout(Duration::from_millis(10), notify.notified()).await;
///     assert!(again.is_err()); // nothing stored any more
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Notified<'a> {
    notify: &'a Notify,
    generation: usize,
    key: Option<Key>,
    done: bool,
}

impl Future for Notified<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if this.done {
            return Poll::Ready(());
        }
        coop::proceed(cx, |cx| {
            let notify = this.notify;
            if this.key.is_some() {
                let polled = poll_wait(
                    cx.waker(),
                    &mut this.key,
                    None,
                    || notify.waiters.lock(),
                    |waiters, queued, hold| {
                        waiters.finish_if(queued, hold, |slot| {
                            matches!(slot, Slot::Notified(_)).then_some(())
                        })
                    },
                );
                // Set only once the slot is gone: a poll that unwinds before leaves the
                // notification in the slot, for a re-poll to return or `Drop` to pass on.
                this.done = polled.is_ready();
                return polled;
            }
            // A first poll: the waker is cloned only if the lock-free look finds nothing.
            if this.ready_without_lock() || this.register(Some(cx.waker().clone())) {
                return Poll::Ready(());
            }
            Poll::Pending
        })
    }
}

impl Notified<'_> {
    /// Registers this future as a waiter without polling it: from now on it has its place in
    /// the FIFO of waiters for [`notify_one`](Notify::notify_one), as if it had been polled,
    /// but no waker is registered. Returns whether it is ready, that is whether a poll would
    /// return `Ready` at once: a [`notify_waiters`](Notify::notify_waiters) came after its
    /// creation, or this first call took the stored permit, or (called again on a future
    /// already enabled or polled) a notification has reached it since. Once it returned
    /// `true`, the notification is this future's: every poll returns `Ready`, and dropping it
    /// passes nothing on.
    ///
    /// What enabling adds: a `notify_one` made after `enable` goes to this future in its FIFO
    /// turn, instead of being stored as the permit or going to a waiter that registered
    /// later. Nobody is woken by it then (no waker was given); the first poll returns `Ready`.
    /// A first poll that comes before the notification stores the waker, and the notification
    /// wakes it. Dropping an enabled future that was handed a `notify_one` and did not return
    /// it (no poll returned `Ready`, no `enable` returned `true`) passes it on to the next
    /// waiter, or stores it as the permit, as a dropped polled waiter does. `notify_waiters`
    /// is not affected: it reaches every `Notified` created before it, enabled or not.
    ///
    /// Calling it on a future already enabled or polled only looks for a notification; it
    /// keeps the waker a poll registered. On a completed future it returns `true`.
    ///
    /// Use it where a `notify_one` must not be missed, nor stored for somebody else, between
    /// registering and the first poll: create, enable, then check the condition (or let the
    /// notifier know it may notify), then await.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::pin::pin;
    ///
    /// let notify = ciranda::sync::Notify::new();
    /// ciranda::run(async {
    ///     let mut first = pin!(notify.notified());
    ///     let mut second = pin!(notify.notified());
    ///     // Both in line for notify_one before either is polled, `first` ahead.
    ///     assert!(!first.as_mut().enable());
    ///     assert!(!second.as_mut().enable());
    ///     notify.notify_one(); // goes to `first`: not stored as the permit
    ///     assert!(first.as_mut().enable()); // it has the notification
    ///     assert!(!second.as_mut().enable());
    ///     first.await; // returns at once
    ///     notify.notify_one(); // `second`'s turn
    ///     second.await;
    /// });
    /// ```
    pub fn enable(self: Pin<&mut Self>) -> bool {
        let this = self.get_mut();
        if this.done {
            return true;
        }
        if this.key.is_none() {
            return this.ready_without_lock() || this.register(None);
        }
        let notify = this.notify;
        loop {
            let mut waiters = notify.waiters.lock();
            let found = waiters.finish_if(&mut this.key, false, |slot| {
                matches!(slot, Slot::Notified(_)).then_some(())
            });
            match found {
                Queued::Done((), stale) => {
                    this.done = true;
                    drop(waiters);
                    // Foreign code: dropped only once the lock is released.
                    drop(stale);
                    return true;
                }
                // The slot still held a waker, to be dropped before the grant is taken (a
                // granted slot holds none today: `notify_one` and `notify_waiters` unlink it,
                // which takes its waker out).
                Queued::Over(stale) => {
                    drop(waiters);
                    drop(stale);
                }
                Queued::Waiting(_) | Queued::Enqueue(..) => return false,
            }
        }
    }

    /// The first look of a first poll or `enable`, without the lock: a `notify_waiters` since
    /// creation, or a stored permit (taken). Returns whether the future is done.
    fn ready_without_lock(&mut self) -> bool {
        let notify = self.notify;
        let mut state = notify.state.load(Ordering::Acquire);
        loop {
            if state & !(NOTIFIED | WAITING) != self.generation {
                self.done = true;
                return true;
            }
            if state & NOTIFIED == 0 {
                return false;
            }
            match notify.state.compare_exchange_weak(
                state,
                state & !NOTIFIED,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.done = true;
                    return true;
                }
                Err(actual) => state = actual,
            }
        }
    }

    /// The locked part of a first poll (`fresh`: its waker's clone, made before locking) or
    /// `enable` (`None`): completes the future if a `notify_waiters` or a permit came since
    /// the lock-free look, else queues it at the back. Returns whether the future is done.
    fn register(&mut self, fresh: Option<Waker>) -> bool {
        let notify = self.notify;
        // Declared before the guard, so an unused clone is dropped after unlocking.
        let mut fresh = fresh;
        let mut waiters = notify.waiters.lock();
        let mut state = notify.state.load(Ordering::Acquire);
        loop {
            if state & !(NOTIFIED | WAITING) != self.generation {
                self.done = true;
                return true;
            }
            let new = if state & NOTIFIED != 0 {
                state & !NOTIFIED
            } else {
                state | WAITING
            };
            match notify.state.compare_exchange_weak(
                state,
                new,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) if state & NOTIFIED != 0 => {
                    // The permit is this future's now; the unused clone is dropped with the
                    // lock released (foreign code), and if that panics, the permit goes
                    // back (as a dropped future passes on a notification it received).
                    drop(waiters);
                    let give_back = GiveBack(notify);
                    drop(fresh);
                    core::mem::forget(give_back);
                    self.done = true;
                    return true;
                }
                Ok(_) => {
                    self.key = Some(waiters.push_back(Slot::Waiting, fresh.take()));
                    return false;
                }
                Err(actual) => state = actual,
            }
        }
    }
}

/// Gives back the `notify_one` permit a first poll took, if the poll unwinds before returning
/// it: to the first waiter, or stored again.
struct GiveBack<'a>(&'a Notify);

impl Drop for GiveBack<'_> {
    fn drop(&mut self) {
        self.0.notify_one();
    }
}

impl Drop for Notified<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let notify = self.notify;
        let mut waiters = notify.waiters.lock();
        let (slot, stale) = waiters.remove(key);
        if slot == Slot::Notified(true) {
            notify.notify_one_locked(waiters);
        } else {
            if waiters.is_empty() {
                notify.state.fetch_and(!WAITING, Ordering::AcqRel);
            }
            drop(waiters);
        }
        // Foreign code: dropped only once the lock is released.
        drop(stale);
    }
}

impl fmt::Debug for Notified<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Notified")
            .field("registered", &self.key.is_some())
            .field("done", &self.done)
            .finish()
    }
}
