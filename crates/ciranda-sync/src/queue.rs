//! `Queue<T>` (asyncio's `Queue`): a FIFO with an optional size bound, blocking `put`/`get`,
//! and `task_done`/`join` accounting.
//!
//! Everything lives in one record under a shim mutex: the items, a [`WaitList`] of getters, one
//! of putters, one of `join` waiters, and three counters.
//!
//! * A `put` with getters waiting (and no putter ahead of it) hands its item **directly** to
//!   the first getter (the item is written into the getter's slot); otherwise it appends if
//!   there is room; otherwise it queues *with its item in its slot*.
//! * A `get` that frees room **admits** the first waiting putter: the room is promised to it
//!   (`reserved`), and its item enters when that `put` is polled again, handed to a waiting
//!   getter or appended. So a `put` is complete exactly when its future returns `Ready`, and a
//!   `put` dropped before that never enqueues its item, admitted or not (an admitted one's room
//!   passes to the next waiting putter): as with asyncio's `Queue` and Tokio's bounded channel,
//!   a `put` that lost a `select!` did not put. Putters are admitted in arrival order; the
//!   items of putters admitted together enter in the order their `put`s are polled.
//! * A getter dropped after an item was handed to it passes the item to the next getter, or
//!   puts it back at the *front* of the queue (it is older than everything there). Deliberate
//!   exception: that put-back may leave `len()` one above `maxsize` per cancelled getter until
//!   the next `get`s.
//! * `unfinished` counts puts minus `task_done`s (what `join` waits on); `taken` counts items
//!   returned by `get` minus `task_done`s. `task_done` panics when `taken` is zero: it was called
//!   more often than items were taken (and therefore than items were put).
//!
//! | getter slot  | meaning                         | putter slot       | meaning                         |
//! |--------------|---------------------------------|-------------------|---------------------------------|
//! | `Waiting`    | queued, queue was empty         | `v`, not admitted | queued with its item `v`        |
//! | `Got(v)`     | handed `v`, not yet returned    | `v`, admitted     | unlinked, a room is reserved; `v` enters at the next poll |

use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::collections::VecDeque;

use crate::coop;
use crate::loom::Mutex;
use crate::waiters::{Key, Queued, WaitList, WakeList, WakeOnDrop, discard, poll_wait};
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

enum GetSlot<T> {
    Waiting,
    Got(T),
}

/// A waiting putter's slot: its item, and whether a room has been promised to it.
struct PutSlot<T> {
    item: T,
    admitted: bool,
}

struct State<T> {
    items: VecDeque<T>,
    getters: WaitList<GetSlot<T>>,
    putters: WaitList<PutSlot<T>>,
    joiners: WaitList<bool>,
    unfinished: usize,
    taken: usize,
    /// Rooms promised to admitted putters whose items have not entered yet.
    reserved: usize,
}

impl<T> State<T> {
    /// Whether an item may enter without taking a room promised to an admitted putter.
    fn has_room(&self, maxsize: usize) -> bool {
        maxsize == 0 || self.items.len() + self.reserved < maxsize
    }

    /// Admits waiting putters, in arrival order, while there is room: each is promised a room
    /// and woken to bring its item in.
    fn admit_putters(&mut self, maxsize: usize, wakers: &mut WakeList) {
        while self.has_room(maxsize) {
            let Some(key) = self.putters.front() else {
                break;
            };
            self.putters.get_mut(key).admitted = true;
            self.reserved += 1;
            wakers.push(self.putters.unlink(key));
        }
    }

    /// An admitted putter's item enters: to the first waiting getter, else at the back (into
    /// the room promised to it). If a getter took it, that room is free again for the next
    /// waiting putter.
    fn enter_admitted(&mut self, item: T, maxsize: usize, wakers: &mut WakeList) {
        self.reserved -= 1;
        self.unfinished += 1;
        if let Some(item) = self.hand_to_getter(item, wakers) {
            self.items.push_back(item);
        } else {
            self.admit_putters(maxsize, wakers);
        }
    }

    /// Returns an item that was taken but never reached its caller: to the first waiting
    /// getter, else to the front of the queue (it is older than everything there; this may
    /// leave `len()` one above `maxsize`, see the module docs).
    fn give_back(&mut self, item: T, wakers: &mut WakeList) {
        if let Some(item) = self.hand_to_getter(item, wakers) {
            self.items.push_front(item);
        }
    }

    /// Gives `item` to the first waiting getter, or returns it.
    fn hand_to_getter(&mut self, item: T, wakers: &mut WakeList) -> Option<T> {
        match self.getters.front() {
            Some(key) => {
                *self.getters.get_mut(key) = GetSlot::Got(item);
                wakers.push(self.getters.unlink(key));
                None
            }
            None => Some(item),
        }
    }
}

/// An async FIFO queue with an optional bound, like asyncio's `Queue`.
///
/// Waiting getters and putters are served in arrival order; see the module docs for the exact
/// cancel semantics.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Queue;
/// let q = Queue::new(2);
/// ciranda::run(async {
///     q.put("a").await;
///     q.put("b").await;
///     assert!(q.is_full());
///     assert_eq!(q.get().await, "a");
///     q.task_done();
///     assert_eq!(q.get().await, "b");
///     q.task_done();
///     q.join().await; // every put item was marked done
/// });
/// ```
pub struct Queue<T> {
    maxsize: usize,
    state: Mutex<State<T>>,
}

impl<T> Queue<T> {
    /// Creates a queue holding at most `maxsize` items; `0` means unbounded.
    pub fn new(maxsize: usize) -> Self {
        Queue {
            maxsize,
            state: Mutex::new(State {
                items: VecDeque::new(),
                getters: WaitList::new(),
                putters: WaitList::new(),
                joiners: WaitList::new(),
                unfinished: 0,
                taken: 0,
                reserved: 0,
            }),
        }
    }

    /// Creates an unbounded queue (same as `Queue::new(0)`).
    pub fn unbounded() -> Self {
        Self::new(0)
    }

    /// The bound given to [`Queue::new`] (`0` = unbounded).
    pub fn maxsize(&self) -> usize {
        self.maxsize
    }

    /// The number of items in the queue.
    pub fn len(&self) -> usize {
        self.state.lock().items.len()
    }

    /// `true` when the queue holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `true` when the queue is bounded and has no room for another item: it holds `maxsize`
    /// items (or more, see the module docs), or the room left is promised to waiting `put`s
    /// that a `get` admitted and that have not been polled since. While it is `true`,
    /// [`try_put`](Queue::try_put) fails unless a `get` waits (that `get` takes the item
    /// directly).
    pub fn is_full(&self) -> bool {
        self.maxsize != 0 && !self.state.lock().has_room(self.maxsize)
    }

    /// Puts `item` at the back, waiting for room if the queue is full.
    ///
    /// # Cancel safety
    ///
    /// The item enters the queue only in a poll that returns `Ready`. Dropping the future
    /// before that drops the item (it is never enqueued) and gives up its place among waiting
    /// putters; if a `get` had already made room for it, that room passes to the next waiting
    /// putter. So a `put` that loses a `select!` (or a `timeout`) has not put its item.
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put {
            queue: self,
            item: Some(item),
            key: None,
        }
    }

    /// Puts `item` at the back if there is room now (and no putter is waiting or admitted
    /// ahead of it); gives it back otherwise.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        let mut wakers = WakeList::new();
        let mut state = self.state.lock();
        let result = self.put_now(&mut state, item, &mut wakers);
        drop(state);
        wakers.wake_all();
        result.map_err(TryPutError)
    }

    /// Under the lock: unless a putter waits ahead, hands `item` to a waiting getter or
    /// appends it if there is room; gives it back otherwise.
    fn put_now(&self, state: &mut State<T>, item: T, wakers: &mut WakeList) -> Result<(), T> {
        if !state.putters.is_empty() {
            return Err(item);
        }
        let item = match state.hand_to_getter(item, wakers) {
            None => {
                state.unfinished += 1;
                return Ok(());
            }
            Some(item) => item,
        };
        if state.has_room(self.maxsize) {
            state.items.push_back(item);
            state.unfinished += 1;
            Ok(())
        } else {
            Err(item)
        }
    }

    /// Removes and returns the front item, waiting for one if the queue is empty.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an item handed to a getter whose future is then dropped goes to the next
    /// getter, or back to the front of the queue (which may leave `len()` one above `maxsize` until
    /// the next `get`s); no item is lost.
    pub fn get(&self) -> Get<'_, T> {
        Get {
            queue: self,
            key: None,
        }
    }

    /// Removes and returns the front item if there is one.
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut state = self.state.lock();
        let Some(item) = state.items.pop_front() else {
            return Err(TryGetError(()));
        };
        state.taken += 1;
        let mut wakers = WakeList::new();
        state.admit_putters(self.maxsize, &mut wakers);
        drop(state);
        Ok(self.wake_admitted(wakers, None, item))
    }

    /// Drops `unused` (a waker clone the `get` made to queue up, then did not need) and wakes
    /// the putters that a `get` of `item` admitted, then returns `item`. If one of those
    /// panics, the panic goes on into the caller, which then never receives `item`: so `item`
    /// first goes back to the first waiting getter or to the front of the queue (where it may
    /// leave `len()` one above `maxsize`, as a cancelled getter's put-back does).
    fn wake_admitted(&self, wakers: WakeList, unused: Option<Waker>, item: T) -> T {
        let foreign = || {
            // The putters are woken even if the drop panics (its panic is the one reported).
            let wakers = WakeOnDrop(Some(wakers));
            drop(unused);
            drop(wakers);
        };
        let Err(panic) = catch_unwind(AssertUnwindSafe(foreign)) else {
            return item;
        };
        let mut state = self.state.lock();
        state.taken -= 1;
        let mut more = WakeList::new();
        state.give_back(item, &mut more);
        drop(state);
        if let Err(again) = catch_unwind(AssertUnwindSafe(|| more.wake_all())) {
            // The first panic is the one to report.
            discard(again);
        }
        resume_unwind(panic)
    }

    /// Marks one item taken with `get` as processed; when every put item is processed, `join`
    /// returns.
    ///
    /// # Panics
    ///
    /// If called more times than items were taken from the queue.
    pub fn task_done(&self) {
        let mut state = self.state.lock();
        if state.taken == 0 {
            drop(state);
            panic!("Queue::task_done() called more times than items were taken from the queue");
        }
        state.taken -= 1;
        state.unfinished -= 1;
        let mut wakers = WakeList::new();
        if state.unfinished == 0 {
            while state.joiners.grant_front(&mut wakers, |done| *done = true) {}
        }
        drop(state);
        wakers.wake_all();
    }

    /// Waits until every item ever put has been marked with [`task_done`](Queue::task_done).
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: dropping the future loses nothing.
    pub fn join(&self) -> Join<'_, T> {
        Join {
            queue: self,
            key: None,
        }
    }
}

impl<T> Default for Queue<T> {
    fn default() -> Self {
        Self::new(0)
    }
}

impl<T> fmt::Debug for Queue<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state.lock();
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("len", &state.items.len())
            .field("unfinished", &state.unfinished)
            .finish()
    }
}

/// The future returned by [`Queue::put`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let q = ciranda::sync::Queue::new(1);
///     q.put(1).await;
///     // Full: the put waits; dropped by the timeout, it never enqueues 2.
///     assert!(ciranda::time::timeout(Duration::from_millis(10), q.put(2)).await.is_err());
///     assert_eq!(q.len(), 1);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Put<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    key: Option<Key>,
}

// The item is moved, never pinned.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| {
            let queue = this.queue;
            if let Some(key) = this.key {
                let entered = poll_wait(
                    cx.waker(),
                    &mut this.key,
                    None,
                    || queue.state.lock(),
                    |state, queued, hold| {
                        if !state.putters.get(key).admitted {
                            return Queued::Waiting(&mut state.putters);
                        }
                        // Admitted: the item stays in the slot until no waker is left to drop.
                        if let Some(stale) = state.putters.hold(key, hold) {
                            return Queued::Over(stale);
                        }
                        let (slot, stale) = state.putters.remove(key);
                        *queued = None;
                        let mut wakers = WakeList::new();
                        state.enter_admitted(slot.item, queue.maxsize, &mut wakers);
                        Queued::Done(wakers, stale)
                    },
                );
                // The item is in: wake the getter handed it, or the putters admitted after it.
                return entered.map(WakeList::wake_all);
            }
            let mut fresh = None;
            loop {
                let mut state = queue.state.lock();
                let Some(item) = this.item.take() else {
                    return Poll::Ready(());
                };
                let mut wakers = WakeList::new();
                let result = match queue.put_now(&mut state, item, &mut wakers) {
                    Ok(()) => Poll::Ready(()),
                    Err(item) => match fresh.take() {
                        Some(waker) => {
                            let slot = PutSlot {
                                item,
                                admitted: false,
                            };
                            this.key = Some(state.putters.push_back(slot, Some(waker)));
                            Poll::Pending
                        }
                        None => {
                            // The put has to wait, so it needs a clone of its waker, which is made
                            // with the lock released (foreign code); then it tries again.
                            this.item = Some(item);
                            drop(state);
                            fresh = Some(cx.waker().clone());
                            continue;
                        }
                    },
                };
                drop(state);
                // Foreign code from here on: the drop of a clone made to queue up and then not
                // used, and the wake-up of a getter handed the item. Each may panic, and a
                // second panic while the first unwinds would abort the process: so the clone
                // goes first, and if its drop panics the getter is woken as that unwinds (a
                // wake's panic then is dropped); otherwise a wake's panic goes on alone. The
                // item is in the queue or the getter's slot either way.
                let wakers = WakeOnDrop(Some(wakers));
                drop(fresh);
                drop(wakers);
                return result;
            }
        })
    }
}

impl<T> Drop for Put<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.queue.state.lock();
        let (slot, stale) = state.putters.remove(key);
        let mut wakers = WakeList::new();
        if slot.admitted {
            // The room promised to it passes to the next waiting putter.
            state.reserved -= 1;
            state.admit_putters(self.queue.maxsize, &mut wakers);
        }
        drop(state);
        // Foreign code, outside the lock: the waker a still-queued slot held, the item (never
        // enqueued), and the wake-ups of putters admitted in its place, which happen even if
        // one of those destructors panics.
        let wakers = WakeOnDrop(Some(wakers));
        drop(stale);
        drop(slot);
        drop(wakers);
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("registered", &self.key.is_some())
            .finish()
    }
}

/// The future returned by [`Queue::get`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let q = ciranda::sync::Queue::new(0);
///     assert!(ciranda::time::timeout(Duration::from_millis(10), q.get()).await.is_err());
///     q.try_put(3).unwrap();
///     assert_eq!(q.get().await, 3);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Get<'a, T> {
    queue: &'a Queue<T>,
    key: Option<Key>,
}

impl<T> Future for Get<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| {
            let queue = this.queue;
            if let Some(key) = this.key {
                return poll_wait(
                    cx.waker(),
                    &mut this.key,
                    None,
                    || queue.state.lock(),
                    |state, queued, hold| {
                        if let GetSlot::Waiting = state.getters.get(key) {
                            return Queued::Waiting(&mut state.getters);
                        }
                        // The item stays in the slot until no waker is left to drop.
                        if let Some(stale) = state.getters.hold(key, hold) {
                            return Queued::Over(stale);
                        }
                        let (GetSlot::Got(item), stale) = state.getters.remove(key) else {
                            unreachable!()
                        };
                        *queued = None;
                        state.taken += 1;
                        Queued::Done(item, stale)
                    },
                );
            }
            let mut fresh = None;
            loop {
                let mut state = queue.state.lock();
                if let Some(item) = state.items.pop_front() {
                    state.taken += 1;
                    let mut wakers = WakeList::new();
                    state.admit_putters(queue.maxsize, &mut wakers);
                    drop(state);
                    return Poll::Ready(queue.wake_admitted(wakers, fresh, item));
                }
                // The get has to wait: its waker clone is made with the lock released (foreign
                // code), then it tries again.
                let Some(waker) = fresh.take() else {
                    drop(state);
                    fresh = Some(cx.waker().clone());
                    continue;
                };
                this.key = Some(state.getters.push_back(GetSlot::Waiting, Some(waker)));
                return Poll::Pending;
            }
        })
    }
}

impl<T> Drop for Get<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.queue.state.lock();
        let (slot, stale) = state.getters.remove(key);
        let mut wakers = WakeList::new();
        if let GetSlot::Got(item) = slot {
            state.give_back(item, &mut wakers);
        }
        drop(state);
        drop(stale);
        wakers.wake_all();
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("registered", &self.key.is_some())
            .finish()
    }
}

/// The future returned by [`Queue::join`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// ciranda::run(async {
///     let q = ciranda::sync::Queue::new(0);
///     q.try_put(1).unwrap();
///     // One item not yet marked done: `join` waits.
///     assert!(ciranda::time::timeout(Duration::from_millis(10), q.join()).await.is_err());
///     q.try_get().unwrap();
///     q.task_done();
///     q.join().await;
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct Join<'a, T> {
    queue: &'a Queue<T>,
    key: Option<Key>,
}

impl<T> Future for Join<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        coop::proceed(cx, |cx| {
            let queue = this.queue;
            poll_wait(
                cx.waker(),
                &mut this.key,
                None,
                || queue.state.lock(),
                |state, queued, hold| {
                    match *queued {
                        Some(key) if *state.joiners.get(key) => {
                            // Released: stays so in the slot until no waker is left to drop.
                            if let Some(stale) = state.joiners.hold(key, hold) {
                                return Queued::Over(stale);
                            }
                            *queued = None;
                            return Queued::Done((), state.joiners.remove(key).1);
                        }
                        None if state.unfinished == 0 => return Queued::Done((), None),
                        _ => {}
                    }
                    Queued::Enqueue(&mut state.joiners, false)
                },
            )
        })
    }
}

impl<T> Drop for Join<'_, T> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            // The temporary guard is released at the end of the `let`, before the waker drops.
            let (_, stale) = self.queue.state.lock().joiners.remove(key);
            drop(stale);
        }
    }
}

impl<T> fmt::Debug for Join<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Join")
            .field("registered", &self.key.is_some())
            .finish()
    }
}

/// [`Queue::try_put`] found the queue full; the item is given back in field `0`.
///
/// # Examples
///
/// ```
/// let q = ciranda::sync::Queue::new(1);
/// q.try_put(1).unwrap();
/// let err = q.try_put(2).unwrap_err();
/// assert_eq!(err.to_string(), "queue is full (would block)");
/// assert_eq!(err.into_inner(), 2);
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct TryPutError<T>(pub T);

impl<T> TryPutError<T> {
    /// The item that was not put.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryPutError").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TryPutError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is full (would block)")
    }
}

impl<T> std::error::Error for TryPutError<T> {}

/// [`Queue::try_get`] found the queue empty.
///
/// # Examples
///
/// ```
/// let q = ciranda::sync::Queue::<u8>::new(0);
/// assert_eq!(q.try_get().unwrap_err().to_string(), "queue is empty (would block)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryGetError(());

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is empty (would block)")
    }
}

impl std::error::Error for TryGetError {}
