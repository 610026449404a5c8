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
//! * `shutdown` (asyncio 3.13's `shutdown()`) sets a flag under the lock: from then on no item
//!   enters (`put_now` fails, an admitted putter fails at its next poll and gives its room
//!   back), every queued putter is unlinked as `ShutDown` and woken to fail with its item, and
//!   every queued getter (there are only any while the queue is empty) is unlinked as
//!   `ShutDown` and woken: at its next poll it takes an item if one is queued by then (a
//!   cancelled getter's put-back), else it fails. A getter already handed an item (`Got(v)`)
//!   keeps it. `get`s take the items still queued, then fail. `shutdown_immediate` does the
//!   same and also drops every queued item, counting each as done (`unfinished` drops by their
//!   number; `taken` is untouched: `task_done` still answers for items taken before); from
//!   then on an item given back by a cancelled getter is dropped and counted done as well, so
//!   nothing is ever queued again. The flag is only read under the lock the operation already
//!   holds, on the paths that would fail or wait: the fast paths cost one more branch.
//!
//! | getter slot  | meaning                         | putter slot       | meaning                         |
//! |--------------|---------------------------------|-------------------|---------------------------------|
//! | `Waiting`    | queued, queue was empty         | `v`, `Waiting`    | queued with its item `v`        |
//! | `Got(v)`     | handed `v`, not yet returned    | `v`, `Admitted`   | unlinked, a room is reserved; `v` enters at the next poll (unless the queue was shut down by then: the room is given back and `v` handed back) |
//! | `ShutDown`   | unlinked by a shutdown: takes an item still queued at the next poll, else fails | `v`, `ShutDown` | unlinked by a shutdown: fails at the next poll, handing `v` back |

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
    /// Woken by a shutdown with nothing handed to it.
    ShutDown,
}

/// A waiting putter's slot: its item, and what became of its wait.
struct PutSlot<T> {
    item: T,
    status: PutStatus,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PutStatus {
    /// Queued, waiting for room.
    Waiting,
    /// Unlinked, a room is promised to it.
    Admitted,
    /// Unlinked by a shutdown: the put fails.
    ShutDown,
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
    /// `shutdown` or `shutdown_immediate` was called: no item enters any more.
    shut_down: bool,
    /// `shutdown_immediate` was called: the queue was emptied and stays empty.
    drained: bool,
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
            self.putters.get_mut(key).status = PutStatus::Admitted;
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
    /// leave `len()` one above `maxsize`, see the module docs). After `shutdown_immediate` no
    /// item may be queued: it is counted done instead (as the queued ones were) and returned,
    /// for the caller to drop once the lock is released.
    #[must_use = "a returned item must be dropped after the lock is released"]
    fn give_back(&mut self, item: T, wakers: &mut WakeList) -> Option<T> {
        let item = self.hand_to_getter(item, wakers)?;
        if self.drained {
            self.unfinished -= 1;
            self.release_joiners(wakers);
            return Some(item);
        }
        self.items.push_front(item);
        None
    }

    /// Releases every `join` waiter if no put item is left unfinished.
    fn release_joiners(&mut self, wakers: &mut WakeList) {
        if self.unfinished == 0 {
            while self.joiners.grant_front(wakers, |done| *done = true) {}
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
                shut_down: false,
                drained: false,
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
    ///
    /// # Panics
    ///
    /// When polled on a queue that was [shut down](Queue::shutdown) before the item entered
    /// (also while it waited for room: the shutdown wakes it), where asyncio raises
    /// `QueueShutDown`. The item is dropped first. Use [`put_checked`](Queue::put_checked) to
    /// get the item back in an error instead.
    pub fn put(&self, item: T) -> Put<'_, T> {
        Put(PutOp::new(self, item))
    }

    /// Like [`put`](Queue::put), but on a queue that was [shut down](Queue::shutdown) before
    /// the item entered (also while it waited for room) the future returns
    /// `Err(QueueShutDown(item))`, handing the item back, instead of panicking. Cancel safety
    /// is `put`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::Queue;
    ///
    /// ciranda::run(async {
    ///     let q = Queue::new(1);
    ///     assert!(q.put_checked("a").await.is_ok());
    ///     q.shutdown();
    ///     let err = q.put_checked("b").await.unwrap_err();
    ///     assert_eq!(err.into_inner(), "b");
    ///     assert_eq!(q.len(), 1);
    /// });
    /// ```
    pub fn put_checked(&self, item: T) -> PutChecked<'_, T> {
        PutChecked(PutOp::new(self, item))
    }

    /// Puts `item` at the back if there is room now (and no putter is waiting or admitted
    /// ahead of it) and the queue was not [shut down](Queue::shutdown); gives it back
    /// otherwise. [`TryPutError`] does not say which of the two failed (its message says
    /// "full"): [`try_put_checked`](Queue::try_put_checked) does.
    pub fn try_put(&self, item: T) -> Result<(), TryPutError<T>> {
        self.try_put_checked(item)
            .map_err(|err| TryPutError(err.into_inner()))
    }

    /// Like [`try_put`](Queue::try_put), but the error says why the item was not put: the
    /// queue was [full](TryPutCheckedError::Full) (a later put may succeed) or
    /// [shut down](TryPutCheckedError::ShutDown) (no put ever will; asyncio's `put_nowait`
    /// raises `QueueShutDown` there). Which one is decided under the lock the put itself
    /// takes; [`is_shut_down`](Queue::is_shut_down), asked after a failed `try_put`, may see
    /// a [`shutdown`](Queue::shutdown) that came after a refusal for want of room. A queue
    /// that is shut down and full reports `ShutDown`.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::{Queue, TryPutCheckedError};
    ///
    /// let q = Queue::new(1);
    /// q.try_put_checked("a").unwrap();
    /// let err = q.try_put_checked("b").unwrap_err();
    /// assert!(matches!(err, TryPutCheckedError::Full("b")));
    /// assert_eq!(err.to_string(), "queue is full (would block)");
    /// q.shutdown();
    /// let err = q.try_put_checked("c").unwrap_err();
    /// assert!(err.is_shut_down());
    /// assert_eq!(err.to_string(), "queue is shut down");
    /// assert_eq!(err.into_inner(), "c");
    /// ```
    pub fn try_put_checked(&self, item: T) -> Result<(), TryPutCheckedError<T>> {
        let mut wakers = WakeList::new();
        let mut state = self.state.lock();
        let result = self.put_now(&mut state, item, &mut wakers);
        let shut_down = state.shut_down;
        drop(state);
        wakers.wake_all();
        result.map_err(|item| {
            if shut_down {
                TryPutCheckedError::ShutDown(item)
            } else {
                TryPutCheckedError::Full(item)
            }
        })
    }

    /// Under the lock: unless a putter waits ahead, hands `item` to a waiting getter or
    /// appends it if there is room; gives it back otherwise.
    fn put_now(&self, state: &mut State<T>, item: T, wakers: &mut WakeList) -> Result<(), T> {
        if state.shut_down || !state.putters.is_empty() {
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
    /// After a [`shutdown`](Queue::shutdown) it still returns the items queued before it.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: an item handed to a getter whose future is then dropped goes to the next
    /// getter, or back to the front of the queue (which may leave `len()` one above `maxsize` until
    /// the next `get`s); no item is lost. (After
    /// [`shutdown_immediate`](Queue::shutdown_immediate) such an item is dropped and counted
    /// done, as the queued ones were.)
    ///
    /// # Panics
    ///
    /// When polled on a queue that was [shut down](Queue::shutdown) and is empty (also while
    /// it waited: the shutdown wakes it), where asyncio raises `QueueShutDown`. Use
    /// [`get_checked`](Queue::get_checked) to get an error instead.
    pub fn get(&self) -> Get<'_, T> {
        Get(GetOp::new(self))
    }

    /// Like [`get`](Queue::get), but on a queue that was [shut down](Queue::shutdown) and is
    /// empty (also while it waited) the future returns `Err(QueueShutDown(()))` instead of
    /// panicking. Cancel safety is `get`'s.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::Queue;
    ///
    /// ciranda::run(async {
    ///     let q = Queue::new(0);
    ///     q.put(1).await;
    ///     q.shutdown();
    ///     // Items queued before the shutdown are still handed out...
    ///     assert_eq!(q.get_checked().await, Ok(1));
    ///     // ...then every get fails.
    ///     assert!(q.get_checked().await.is_err());
    /// });
    /// ```
    pub fn get_checked(&self) -> GetChecked<'_, T> {
        GetChecked(GetOp::new(self))
    }

    /// Removes and returns the front item if there is one. The error says whether the queue
    /// is also [shut down](TryGetError::is_shut_down) (then no item will ever come).
    pub fn try_get(&self) -> Result<T, TryGetError> {
        let mut state = self.state.lock();
        let Some(item) = state.items.pop_front() else {
            return Err(TryGetError {
                shut_down: state.shut_down,
            });
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
        let dropped = state.give_back(item, &mut more);
        drop(state);
        if let Err(again) = catch_unwind(AssertUnwindSafe(|| {
            let more = WakeOnDrop(Some(more));
            drop(dropped);
            drop(more);
        })) {
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
        state.release_joiners(&mut wakers);
        drop(state);
        wakers.wake_all();
    }

    /// Shuts the queue down, like asyncio 3.13's `Queue.shutdown()`: from now on every put
    /// fails ([`put`](Queue::put) panics, [`put_checked`](Queue::put_checked),
    /// [`try_put`](Queue::try_put) and [`try_put_checked`](Queue::try_put_checked) hand the
    /// item back), including the puts waiting for room, which are woken (a put a `get` had
    /// already made room for but that was not polled since fails as well). Gets go on taking
    /// the items still queued; once the queue is empty they fail ([`get`](Queue::get) panics,
    /// [`get_checked`](Queue::get_checked) and [`try_get`](Queue::try_get) return an error),
    /// and the gets waiting on the empty queue are woken to fail (unless an item a cancelled
    /// get gave back is there for them). A get that had already been handed an item still
    /// returns it. `task_done` and `join` work as before. Calling it again does nothing.
    ///
    /// # Panics
    ///
    /// If a waiter's waker panics, after every waiter has been woken and the queue is shut
    /// down (see the crate docs on wakers that panic).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::Queue;
    ///
    /// ciranda::run(async {
    ///     let q = Queue::new(0);
    ///     q.put("job").await;
    ///     q.shutdown();
    ///     assert!(q.is_shut_down());
    ///     assert!(q.try_put("late").is_err());
    ///     assert_eq!(q.get().await, "job");
    ///     q.task_done();
    ///     assert!(q.get_checked().await.is_err());
    ///     q.join().await;
    /// });
    /// ```
    pub fn shutdown(&self) {
        self.shut_down(false);
    }

    /// Shuts the queue down like [`shutdown`](Queue::shutdown) and also drops every queued
    /// item, counting each as done, like asyncio 3.13's `Queue.shutdown(immediate=True)`
    /// (which calls `task_done` for each): [`join`](Queue::join) then returns once the items
    /// already taken are marked done. Items already handed to a get are still returned by it;
    /// one handed back by a cancelled get is dropped and counted done. It also works after a
    /// plain `shutdown` (dropping what is left); calling it again does nothing. The items are
    /// dropped on the calling thread with the lock released, just before the waiting puts,
    /// gets and joins are woken (they are woken even if a drop panics).
    ///
    /// # Panics
    ///
    /// If a waiter's waker or a dropped item's destructor panics, once the queue is shut down
    /// and emptied and every waiter has been woken.
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::sync::Queue;
    ///
    /// ciranda::run(async {
    ///     let q = Queue::new(0);
    ///     for job in 0..3 {
    ///         q.put(job).await;
    ///     }
    ///     assert_eq!(q.get().await, 0); // taken, not yet done
    ///     q.shutdown_immediate();
    ///     assert!(q.is_empty()); // 1 and 2 were dropped and counted done
    ///     q.task_done(); // job 0
    ///     q.join().await;
    /// });
    /// ```
    pub fn shutdown_immediate(&self) {
        self.shut_down(true);
    }

    /// `true` once [`shutdown`](Queue::shutdown) or
    /// [`shutdown_immediate`](Queue::shutdown_immediate) was called.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ciranda::sync::Queue::<u8>::new(0);
    /// assert!(!q.is_shut_down());
    /// q.shutdown();
    /// assert!(q.is_shut_down());
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.state.lock().shut_down
    }

    fn shut_down(&self, immediate: bool) {
        let mut wakers = WakeList::new();
        let mut state = self.state.lock();
        state.shut_down = true;
        // Queued putters fail with their item; admitted ones find the flag at their next poll.
        while state
            .putters
            .grant_front(&mut wakers, |slot| slot.status = PutStatus::ShutDown)
        {}
        let dropped = if immediate {
            state.drained = true;
            let items = core::mem::take(&mut state.items);
            // Each dropped item counts as done (asyncio calls `task_done` for each).
            state.unfinished -= items.len();
            state.release_joiners(&mut wakers);
            items
        } else {
            VecDeque::new()
        };
        // Getters only wait on an empty queue: nothing is left for them.
        debug_assert!(state.getters.is_empty() || state.items.is_empty());
        while state
            .getters
            .grant_front(&mut wakers, |slot| *slot = GetSlot::ShutDown)
        {}
        drop(state);
        // Foreign code, outside the lock: the items' destructors, and the wake-ups, which
        // happen even if one of those panics.
        let wakers = WakeOnDrop(Some(wakers));
        drop(dropped);
        drop(wakers);
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
        // One look under the lock, released before formatting: the formatter's writer is
        // foreign code, and one that calls back into the queue must not deadlock on it.
        let (len, unfinished, shut_down) = {
            let state = self.state.lock();
            (state.items.len(), state.unfinished, state.shut_down)
        };
        f.debug_struct("Queue")
            .field("maxsize", &self.maxsize)
            .field("len", &len)
            .field("unfinished", &unfinished)
            .field("shut_down", &shut_down)
            .finish()
    }
}

/// A put in progress, shared by [`Put`] and [`PutChecked`]: `Err(item)` when the queue was shut
/// down before the item entered.
struct PutOp<'a, T> {
    queue: &'a Queue<T>,
    item: Option<T>,
    key: Option<Key>,
}

impl<'a, T> PutOp<'a, T> {
    fn new(queue: &'a Queue<T>, item: T) -> Self {
        PutOp {
            queue,
            item: Some(item),
            key: None,
        }
    }

    fn poll_put(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), T>> {
        let this = self;
        coop::proceed(cx, |cx| {
            let queue = this.queue;
            if let Some(key) = this.key {
                let entered = poll_wait(
                    cx.waker(),
                    &mut this.key,
                    None,
                    || queue.state.lock(),
                    |state, queued, hold| {
                        if state.putters.get(key).status == PutStatus::Waiting {
                            return Queued::Waiting(&mut state.putters);
                        }
                        // Admitted or shut down: the item stays in the slot until no waker is
                        // left to drop.
                        if let Some(stale) = state.putters.hold(key, hold) {
                            return Queued::Over(stale);
                        }
                        let (slot, stale) = state.putters.remove(key);
                        *queued = None;
                        if slot.status == PutStatus::Admitted {
                            if !state.shut_down {
                                let mut wakers = WakeList::new();
                                state.enter_admitted(slot.item, queue.maxsize, &mut wakers);
                                return Queued::Done(Ok(wakers), stale);
                            }
                            // Shut down since it was admitted: the room goes unused.
                            state.reserved -= 1;
                        }
                        Queued::Done(Err(slot.item), stale)
                    },
                );
                // The item is in: wake the getter handed it, or the putters admitted after it.
                return entered.map(|entered| entered.map(WakeList::wake_all));
            }
            let mut fresh = None;
            loop {
                let mut state = queue.state.lock();
                let Some(item) = this.item.take() else {
                    return Poll::Ready(Ok(()));
                };
                let mut wakers = WakeList::new();
                let result = match queue.put_now(&mut state, item, &mut wakers) {
                    Ok(()) => Poll::Ready(Ok(())),
                    Err(item) if state.shut_down => {
                        // Refused. The item stays in the future until the unused clone (if
                        // any) is dropped, with the lock released: if that drop panics, a
                        // re-poll still hands the item back.
                        this.item = Some(item);
                        drop(state);
                        drop(fresh);
                        return Poll::Ready(Err(this.item.take().expect("just stored")));
                    }
                    Err(item) => match fresh.take() {
                        Some(waker) => {
                            let slot = PutSlot {
                                item,
                                status: PutStatus::Waiting,
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
                // item is in the queue or the getter's slot either way (or, refused by a
                // shutdown, handed back).
                let wakers = WakeOnDrop(Some(wakers));
                drop(fresh);
                drop(wakers);
                return result;
            }
        })
    }
}

impl<T> Drop for PutOp<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.queue.state.lock();
        let (slot, stale) = state.putters.remove(key);
        let mut wakers = WakeList::new();
        if slot.status == PutStatus::Admitted {
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
pub struct Put<'a, T>(PutOp<'a, T>);

// The item is moved, never pinned.
impl<T> Unpin for Put<'_, T> {}

impl<T> Future for Put<'_, T> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        match self.get_mut().0.poll_put(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(()),
            Poll::Ready(Err(item)) => {
                drop(item);
                panic!(
                    "Queue::put on a queue that was shut down \
                     (use Queue::put_checked to handle shutdown)"
                );
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Put<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Put")
            .field("registered", &self.0.key.is_some())
            .finish()
    }
}

/// The future returned by [`Queue::put_checked`]: [`Put`], with the shutdown of the queue as
/// an error that hands the item back.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Queue;
///
/// ciranda::run(async {
///     let q = Queue::new(1);
///     q.put(1).await;
///     let waiting = q.put_checked(2); // the queue is full: it will wait
///     q.shutdown();
///     assert_eq!(waiting.await.unwrap_err().into_inner(), 2);
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct PutChecked<'a, T>(PutOp<'a, T>);

// The item is moved, never pinned.
impl<T> Unpin for PutChecked<'_, T> {}

impl<T> Future for PutChecked<'_, T> {
    type Output = Result<(), QueueShutDown<T>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .0
            .poll_put(cx)
            .map(|result| result.map_err(QueueShutDown))
    }
}

impl<T> fmt::Debug for PutChecked<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PutChecked")
            .field("registered", &self.0.key.is_some())
            .finish()
    }
}

/// A get in progress, shared by [`Get`] and [`GetChecked`]: `Err(())` when the queue was shut
/// down and is empty.
struct GetOp<'a, T> {
    queue: &'a Queue<T>,
    key: Option<Key>,
}

impl<'a, T> GetOp<'a, T> {
    fn new(queue: &'a Queue<T>) -> Self {
        GetOp { queue, key: None }
    }

    fn poll_get(&mut self, cx: &mut Context<'_>) -> Poll<Result<T, ()>> {
        let this = self;
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
                        // The item (or the shutdown) stays in the slot until no waker is left
                        // to drop.
                        if let Some(stale) = state.getters.hold(key, hold) {
                            return Queued::Over(stale);
                        }
                        let (slot, stale) = state.getters.remove(key);
                        *queued = None;
                        let item = match slot {
                            GetSlot::Got(item) => item,
                            // Woken by a shutdown: an item given back since then is its (no
                            // putter waits any more, so there is none to admit).
                            GetSlot::ShutDown => match state.items.pop_front() {
                                Some(item) => item,
                                None => return Queued::Done(Err(()), stale),
                            },
                            GetSlot::Waiting => unreachable!(),
                        };
                        state.taken += 1;
                        Queued::Done(Ok(item), stale)
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
                    return Poll::Ready(Ok(queue.wake_admitted(wakers, fresh, item)));
                }
                if state.shut_down {
                    drop(state);
                    drop(fresh);
                    return Poll::Ready(Err(()));
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

impl<T> Drop for GetOp<'_, T> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else { return };
        let mut state = self.queue.state.lock();
        let (slot, stale) = state.getters.remove(key);
        let mut wakers = WakeList::new();
        let dropped = match slot {
            GetSlot::Got(item) => state.give_back(item, &mut wakers),
            GetSlot::Waiting | GetSlot::ShutDown => None,
        };
        drop(state);
        // Foreign code, outside the lock: the waker a still-queued slot held, an item dropped
        // because the queue was shut down immediately, and the wake-ups (of the getter handed
        // the item, or of `join`s), which happen even if one of those destructors panics.
        let wakers = WakeOnDrop(Some(wakers));
        drop(stale);
        drop(dropped);
        drop(wakers);
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
pub struct Get<'a, T>(GetOp<'a, T>);

impl<T> Future for Get<'_, T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        match self.get_mut().0.poll_get(cx) {
            Poll::Ready(Ok(item)) => Poll::Ready(item),
            Poll::Ready(Err(())) => panic!(
                "Queue::get on a queue that was shut down and is empty \
                 (use Queue::get_checked to handle shutdown)"
            ),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<T> fmt::Debug for Get<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Get")
            .field("registered", &self.0.key.is_some())
            .finish()
    }
}

/// The future returned by [`Queue::get_checked`]: [`Get`], with a shut-down, empty queue as an
/// error.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Queue;
///
/// ciranda::run(async {
///     let q = Queue::<u32>::new(0);
///     let waiting = q.get_checked(); // the queue is empty: it will wait
///     q.shutdown();
///     assert!(waiting.await.is_err());
/// });
/// ```
#[must_use = "futures do nothing unless polled"]
pub struct GetChecked<'a, T>(GetOp<'a, T>);

impl<T> Future for GetChecked<'_, T> {
    type Output = Result<T, QueueShutDown>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut()
            .0
            .poll_get(cx)
            .map(|result| result.map_err(QueueShutDown))
    }
}

impl<T> fmt::Debug for GetChecked<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GetChecked")
            .field("registered", &self.0.key.is_some())
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

/// [`Queue::try_put`] found the queue full, or [shut down](Queue::shutdown); the item is given
/// back in field `0`. Its message says "full" in both cases:
/// [`Queue::try_put_checked`] tells them apart.
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

/// Why [`Queue::try_put_checked`] did not put its item; either way the item is given back.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Queue, TryPutCheckedError};
///
/// let q = Queue::new(0);
/// q.shutdown();
/// match q.try_put_checked(1) {
///     Err(TryPutCheckedError::ShutDown(item)) => assert_eq!(item, 1),
///     other => panic!("a shut-down queue takes nothing: {other:?}"),
/// }
/// ```
#[derive(Clone, PartialEq, Eq)]
pub enum TryPutCheckedError<T> {
    /// The queue had no room (or putters were waiting for room ahead of this one): a later
    /// put may succeed.
    Full(T),
    /// The queue was [shut down](Queue::shutdown): no put will ever succeed.
    ShutDown(T),
}

impl<T> TryPutCheckedError<T> {
    /// `true` for [`ShutDown`](TryPutCheckedError::ShutDown): the queue will never take an
    /// item again.
    pub fn is_shut_down(&self) -> bool {
        matches!(self, TryPutCheckedError::ShutDown(_))
    }

    /// `true` for [`Full`](TryPutCheckedError::Full): the queue had no room.
    pub fn is_full(&self) -> bool {
        matches!(self, TryPutCheckedError::Full(_))
    }

    /// The item that was not put.
    pub fn into_inner(self) -> T {
        match self {
            TryPutCheckedError::Full(item) | TryPutCheckedError::ShutDown(item) => item,
        }
    }
}

impl<T> fmt::Debug for TryPutCheckedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple(match self {
            TryPutCheckedError::Full(_) => "Full",
            TryPutCheckedError::ShutDown(_) => "ShutDown",
        })
        .finish_non_exhaustive()
    }
}

impl<T> fmt::Display for TryPutCheckedError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TryPutCheckedError::Full(_) => "queue is full (would block)",
            TryPutCheckedError::ShutDown(_) => "queue is shut down",
        })
    }
}

impl<T> std::error::Error for TryPutCheckedError<T> {}

/// [`Queue::try_get`] found the queue empty (and maybe [shut down](TryGetError::is_shut_down)).
///
/// # Examples
///
/// ```
/// let q = ciranda::sync::Queue::<u8>::new(0);
/// assert_eq!(q.try_get().unwrap_err().to_string(), "queue is empty (would block)");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TryGetError {
    shut_down: bool,
}

impl TryGetError {
    /// `true` when the queue was also [shut down](Queue::shutdown): no item will ever come.
    ///
    /// # Examples
    ///
    /// ```
    /// let q = ciranda::sync::Queue::<u8>::new(0);
    /// assert!(!q.try_get().unwrap_err().is_shut_down());
    /// q.shutdown();
    /// let err = q.try_get().unwrap_err();
    /// assert!(err.is_shut_down());
    /// assert_eq!(err.to_string(), "queue is shut down and empty");
    /// ```
    pub fn is_shut_down(&self) -> bool {
        self.shut_down
    }
}

impl fmt::Display for TryGetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.shut_down {
            "queue is shut down and empty"
        } else {
            "queue is empty (would block)"
        })
    }
}

impl std::error::Error for TryGetError {}

/// The queue was [shut down](Queue::shutdown), like asyncio 3.13's `QueueShutDown`: the error of
/// [`Queue::put_checked`] (the item that was not put is given back in field `0`) and of
/// [`Queue::get_checked`] (shut down and empty; field `0` is `()`).
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Queue, QueueShutDown};
///
/// ciranda::run(async {
///     let q = Queue::new(0);
///     q.shutdown();
///     let err: QueueShutDown<&str> = q.put_checked("x").await.unwrap_err();
///     assert_eq!(err.to_string(), "queue is shut down");
///     assert_eq!(err.into_inner(), "x");
///     let err: QueueShutDown = q.get_checked().await.unwrap_err();
///     assert_eq!(err, QueueShutDown(()));
/// });
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct QueueShutDown<T = ()>(pub T);

impl<T> QueueShutDown<T> {
    /// The item that was not put (`()` for a get).
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("QueueShutDown").finish_non_exhaustive()
    }
}

impl<T> fmt::Display for QueueShutDown<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("queue is shut down")
    }
}

impl<T> std::error::Error for QueueShutDown<T> {}
