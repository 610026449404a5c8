//! A fair, cancel-safe counting semaphore, and the batch-semaphore core that `Mutex`, `RwLock`
//! and the bounded `mpsc` channel are built on.
//!
//! # Protocol
//!
//! One atomic word holds `permits << 2 | WAITERS << 1 | CLOSED`. The waiter queue is a
//! [`WaitList`] of "permits still needed" under a shim mutex.
//!
//! * **Fast paths (one CAS).** `acquire(n)` takes `n` permits with one CAS when `WAITERS` is
//!   clear and enough permits are there; releasing adds permits with one CAS when `WAITERS` is
//!   clear.
//! * **No barging.** While `WAITERS` is set every fast path fails over to the locked path, and
//!   the locked path queues new arrivals behind the existing waiters.
//! * **Direct hand-off.** Released permits go to the front waiters in order, possibly
//!   partially to the first one that needs more than there is, under the lock.
//! * **Deposits** (a semaphore made by `with_deposits`: the bounded channel's). A release
//!   that finds `WAITERS` set adds its permits to the word (one CAS, `WAITERS` stays set)
//!   and hands them out itself only if the lock is free; otherwise the thread holding the
//!   lock does, after it lets go. While `WAITERS` is set the word's permits
//!   are such deposits: owed to the queue, never taken by an acquire, not counted as
//!   available. Every thread that releases the lock looks at the word again after a `SeqCst`
//!   fence, as every depositor does before it tries the lock, so one of the two always sees
//!   the deposit and the other the free lock: no deposit is stranded. Such a release never
//!   waits for the lock (the receiver of a full channel frees a slot without queueing
//!   behind the senders that are queueing up). Without deposits, a release with waiters
//!   queued takes the lock and hands off.
//! * **Returns** (a semaphore made by `for_channel`: the ring channel's). The receiver's
//!   releases (`give_back`) are only counted, on a cache line of their own, while nobody is
//!   queued; a sender whose fast path finds the word short moves that count into the word
//!   (`collect_returns`). Queueing sets a flag in the same counter and takes the count in the
//!   same read-modify-write (under the waiter lock), and a give-back that finds the flag set
//!   releases at once, so a counted permit is never missed by a waiter. `available_permits`
//!   adds the count.
//! * **Overtaking** ([`RawOvertake`], an `RwLock`'s upgrade only). An acquire that goes
//!   ahead of the queue: its first poll takes the permits the front waiter has collected
//!   (only the front waiter can hold any) and queues at the front for the rest. The waiter
//!   it overtook collects again from later releases; nothing else changes, and no other
//!   path looks at it (`Need::requested` is its only addition to the waiters' state).
//! * **Cancel.** A dropped acquire gives back whatever it had been assigned (all of it if it
//!   was fully granted but never polled) through the same hand-off. So does a poll that got
//!   its permits and then unwinds before returning them (a waker's `drop` or `wake`, which
//!   it runs in between, panicking): see `Refund`.
//!
//! | the word                 | permits in it are                                  |
//! |--------------------------|----------------------------------------------------|
//! | `WAITERS` clear          | available: the fast paths take and add them        |
//! | `WAITERS` set            | deposits owed to the queue, handed out by the lock holder (zero without deposits) |
//!
//! | waiter state (in its slot)     | linked? | next step                                    |
//! |--------------------------------|---------|----------------------------------------------|
//! | `remaining > 0`, not closed    | yes     | release assigns permits / close / cancel     |
//! | `remaining == 0` (granted)     | no      | poll returns `Ok` / drop hands permits on    |
//! | `closed`                       | no      | poll returns `Err` / drop does nothing       |
//!
//! Deliberate consequence of strict FIFO: a large `acquire_many` at the front holds back smaller
//! requests behind it even when they could be served (no overtaking).

use core::cell::Cell;
use core::fmt;
use core::future::Future;
use core::pin::Pin;
use core::task::{Context, Poll, Waker};
use std::sync::Arc;

use crate::coop;
use crate::loom::{AtomicUsize, Mutex, MutexGuard, Ordering, fence};
use crate::waiters::{Key, WaitList, WakeList, WakeOnDrop};

const CLOSED: usize = 0b01;
const WAITERS: usize = 0b10;
const SHIFT: usize = 2;

/// The largest number of permits a semaphore can hold.
pub(crate) const MAX_PERMITS: usize = usize::MAX >> 3;

#[derive(Debug)]
struct Need {
    /// Permits still missing; 0 means fully granted.
    remaining: usize,
    /// Permits asked for: `requested - remaining` have been assigned to the waiter. Read
    /// only by an overtaking acquire ([`RawOvertake`]), which takes the front waiter's.
    requested: usize,
    /// Set by `close` on waiters that had not been granted.
    closed: bool,
}

/// Why the raw core refused a non-blocking acquire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TryAcquireRaw {
    Closed,
    NoPermits,
}

/// The batch semaphore core.
#[derive(Debug)]
pub(crate) struct RawSemaphore {
    state: AtomicUsize,
    waiters: Mutex<WaitList<Need>>,
    /// Whether a release may deposit (see the module docs) instead of waiting for the lock.
    deposits: bool,
    /// The receiver's permits given back lazily (see the module docs); the bounded channel's
    /// semaphore only.
    returns: Option<Box<Returns>>,
}

/// `count << 1 | QUEUED`: permits given back by [`RawSemaphore::give_back`] and not yet in
/// the word, and whether waiters are (about to be) queued. On its own cache line: the receiver
/// writes it for every message, the senders read it only when the word runs dry. The second
/// field is the channel's capacity, the most permits there can be.
#[derive(Debug)]
#[repr(align(128))]
struct Returns(AtomicUsize, usize);

/// The flag in [`Returns`]: set under the waiter lock before anybody queues, cleared when the
/// queue empties. While it is set, the receiver hands its permits over at once.
const QUEUED: usize = 1;

/// The permits the word `state` makes available: none while waiters are queued (its permits
/// are then deposits owed to them).
fn available_in(state: usize) -> usize {
    if state & WAITERS != 0 {
        0
    } else {
        state >> SHIFT
    }
}

impl RawSemaphore {
    crate::loom::const_fn! {
        pub(crate) fn new(permits: usize) -> Self {
            // A `const fn` cannot format the numbers into the message.
            assert!(
                permits <= MAX_PERMITS,
                "a semaphore cannot hold more than Semaphore::MAX_PERMITS permits (use \
                 Semaphore::try_new for an error)"
            );
            RawSemaphore {
                state: AtomicUsize::new(permits << SHIFT),
                waiters: Mutex::new(WaitList::new()),
                deposits: false,
                returns: None,
            }
        }

        /// A semaphore whose releases deposit their permits when they find waiters queued
        /// and the lock taken: for a single releaser that everything waits on (a channel's
        /// receiver), which must not queue behind the waiters it serves. A lock's unlock
        /// hands off faster through the lock itself (measured: `Mutex` contention rows 20%
        /// slower with deposits), so `Mutex`, `RwLock` and `Semaphore` do not deposit.
        pub(crate) fn with_deposits(permits: usize) -> Self {
            let mut sem = Self::new(permits);
            sem.deposits = true;
            sem
        }
    }

    /// The bounded channel's semaphore: deposits, and permits given back by the receiver
    /// ([`give_back`](Self::give_back)) kept off the word until a sender needs them.
    pub(crate) fn for_channel(permits: usize) -> Self {
        let mut sem = Self::with_deposits(permits);
        sem.returns = Some(Box::new(Returns(AtomicUsize::new(0), permits)));
        sem
    }

    /// The receiver's release of `n` permits. While nobody waits they are only counted, on a
    /// line the senders read when the word runs dry ([`collect_returns`](Self::collect_returns)),
    /// instead of a write to the word the senders take permits from: a full channel's sender
    /// and receiver then do not pass that line back and forth for every message. With waiters
    /// queued, or about to queue, they go through `release` at once. Which of a give-back and
    /// a queuing comes first is decided by the one word both read-modify-write.
    #[inline]
    pub(crate) fn give_back(&self, n: usize) {
        let Some(returns) = &self.returns else {
            return self.release(n);
        };
        let prev = returns.0.fetch_add(n << 1, Ordering::AcqRel);
        if prev & QUEUED != 0 {
            self.flush_returns(returns);
        }
    }

    #[cold]
    fn flush_returns(&self, returns: &Returns) {
        let given = returns.0.fetch_and(QUEUED, Ordering::AcqRel) >> 1;
        self.release(given);
    }

    /// Moves the given-back permits into the word, unless waiters are queued (then the
    /// receiver hands its permits over itself, and the ones counted before the queuing went
    /// to the queue). Returns whether any moved.
    fn collect_returns(&self) -> bool {
        let Some(returns) = &self.returns else {
            return false;
        };
        let mut given = returns.0.load(Ordering::Relaxed);
        loop {
            if given & QUEUED != 0 || given >> 1 == 0 {
                return false;
            }
            match returns
                .0
                .compare_exchange_weak(given, 0, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    self.release(given >> 1);
                    return true;
                }
                Err(actual) => given = actual,
            }
        }
    }

    /// Under the waiter lock, before queuing: sets the flag and moves what was given back
    /// into the word (available, or a deposit for the queue, which the caller hands out).
    fn mark_queued(&self) {
        let Some(returns) = &self.returns else { return };
        let given = returns.0.swap(QUEUED, Ordering::AcqRel) >> 1;
        if given == 0 {
            return;
        }
        let mut state = self.state.load(Ordering::Acquire);
        while let Err(actual) = self.add_to_word(state, given) {
            state = actual;
        }
    }

    /// Under the waiter lock, with the queue empty: the receiver may count its permits again.
    fn unmark_queued(&self) {
        if let Some(returns) = &self.returns {
            returns.0.fetch_and(!QUEUED, Ordering::AcqRel);
        }
    }

    pub(crate) fn available_permits(&self) -> usize {
        let Some(returns) = &self.returns else {
            return available_in(self.state.load(Ordering::Acquire));
        };
        // The free permits are in two counters: the word, and the permits given back and
        // not yet collected (0 while the flag is set: then the receiver passes them on). A
        // permit moves from the first to the second (a send takes it, the receiver gives it
        // back) and back (a sender collects), so two plain reads could count one permit twice
        // — `capacity()` above the channel's capacity. The count is read on both sides of the
        // word and the pair used only if the count did not move: it held that value when the
        // word was read. (A count that moved and came back to the same value in between — a
        // collect and as many give-backs, all while this thread was descheduled — could
        // still count a permit twice: hence the cap.)
        loop {
            let before = returns.0.load(Ordering::Acquire);
            let state = self.state.load(Ordering::Acquire);
            if returns.0.load(Ordering::Acquire) != before {
                continue;
            }
            let returned = if before & QUEUED != 0 { 0 } else { before >> 1 };
            let in_word = available_in(state);
            // With waiters queued, nothing is available (see `available_in`).
            let returned = if state & WAITERS != 0 { 0 } else { returned };
            return (in_word + returned).min(returns.1);
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.state.load(Ordering::Acquire) & CLOSED != 0
    }

    /// Takes `n` permits without waiting. Fails when waiters are queued (no barging).
    pub(crate) fn try_acquire(&self, n: usize) -> Result<(), TryAcquireRaw> {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Err(TryAcquireRaw::Closed);
            }
            if state & WAITERS != 0 && n > 0 {
                return Err(TryAcquireRaw::NoPermits);
            }
            if state >> SHIFT < n {
                if self.collect_returns() {
                    state = self.state.load(Ordering::Acquire);
                    continue;
                }
                return Err(TryAcquireRaw::NoPermits);
            }
            match self.state.compare_exchange_weak(
                state,
                state - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Ok(()),
                Err(actual) => state = actual,
            }
        }
    }

    /// Removes up to `n` available permits without waiting; returns how many were removed.
    pub(crate) fn forget_permits(&self, n: usize) -> usize {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & WAITERS != 0 {
                return 0; // deposits are owed to the queue, not available
            }
            let take = (state >> SHIFT).min(n);
            match self.state.compare_exchange_weak(
                state,
                state - (take << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return take,
                Err(actual) => state = actual,
            }
        }
    }

    /// Returns `n` permits: one CAS when nobody waits, otherwise hand-off under the lock.
    #[inline]
    pub(crate) fn release(&self, n: usize) {
        if n == 0 {
            return;
        }
        // The fast path, small enough to inline into every guard's drop.
        let state = self.state.load(Ordering::Acquire);
        if state & WAITERS == 0
            && n <= MAX_PERMITS - (state >> SHIFT)
            && self
                .state
                .compare_exchange_weak(
                    state,
                    state + (n << SHIFT),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok()
        {
            return;
        }
        self.release_slow(n);
    }

    /// `release` when the single CAS did not do: retries, checks the limit, and with waiters
    /// queued hands the permits to them, or deposits them for the thread holding the lock.
    #[inline(never)]
    fn release_slow(&self, n: usize) {
        let mut state = self.state.load(Ordering::Acquire);
        while state & WAITERS == 0 {
            match self.add_to_word(state, n) {
                Ok(()) => return,
                Err(actual) => state = actual,
            }
        }
        if !self.deposits {
            let waiters = self.waiters.lock();
            self.release_locked(n, waiters);
            return;
        }
        if let Some(waiters) = self.waiters.try_lock() {
            self.release_locked(n, waiters);
            return;
        }
        // The lock is taken: deposit, and leave the hand-off to its holder if it still is.
        loop {
            match self.add_to_word(state, n) {
                Ok(()) if state & WAITERS == 0 => return, // the queue emptied meanwhile
                Ok(()) => break,
                Err(actual) => state = actual,
            }
        }
        self.hand_off_deposits();
    }

    /// One CAS adding `n` permits to the word `state` (available ones, or a deposit while
    /// `WAITERS` is set); panics past `MAX_PERMITS`.
    fn add_to_word(&self, state: usize, n: usize) -> Result<(), usize> {
        let permits = state >> SHIFT;
        assert!(
            n <= MAX_PERMITS - permits,
            "adding {n} permits would exceed Semaphore::MAX_PERMITS ({MAX_PERMITS}); {permits} are available"
        );
        self.state
            .compare_exchange_weak(
                state,
                state + (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            )
            .map(drop)
    }

    /// Hands the deposits to the queue if there are any and the lock is free, and wakes the
    /// waiters served. Called by a depositor, and by every thread that held the lock without
    /// handing deposits out before it let go.
    fn hand_off_deposits(&self) {
        let mut wakers = WakeList::new();
        self.collect_deposits(&mut wakers);
        wakers.wake_all();
    }

    /// The look after letting go of the lock: deposits made while it was held were left to
    /// the holder. Hands them out under the lock, which may be held by another thread by now:
    /// then that thread makes the same look once it lets go. The fence pairs with the
    /// depositor's (in this same function): of a deposit and a release of the lock, whichever
    /// comes second in the fences' order sees the other.
    fn collect_deposits(&self, wakers: &mut WakeList) {
        if !self.deposits {
            return;
        }
        loop {
            fence(Ordering::SeqCst);
            let state = self.state.load(Ordering::Acquire);
            if state & WAITERS == 0 || state >> SHIFT == 0 {
                return;
            }
            let Some(mut waiters) = self.waiters.try_lock() else {
                return;
            };
            let owed = self.take_deposits();
            self.distribute(owed, &mut waiters, wakers);
        }
    }

    /// Under the lock: takes the permits deposited for the queue out of the word.
    fn take_deposits(&self) -> usize {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & WAITERS == 0 || state >> SHIFT == 0 {
                return 0;
            }
            match self.state.compare_exchange_weak(
                state,
                state & !(MAX_PERMITS << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return state >> SHIFT,
                Err(actual) => state = actual,
            }
        }
    }

    /// Distributes `n` permits to the front waiters, stores the rest, wakes the served ones.
    fn release_locked(&self, n: usize, waiters: MutexGuard<'_, WaitList<Need>>) {
        let mut wakers = WakeList::new();
        self.release_locked_deferred(n, waiters, &mut wakers);
        wakers.wake_all();
    }

    /// `release_locked`, with the served waiters' wakers left in `wakers` for the caller to
    /// wake (after it has dropped what it must drop first).
    fn release_locked_deferred(
        &self,
        n: usize,
        mut waiters: MutexGuard<'_, WaitList<Need>>,
        wakers: &mut WakeList,
    ) {
        let owed = if self.deposits {
            self.take_deposits()
        } else {
            0
        };
        self.distribute(n + owed, &mut waiters, wakers);
        drop(waiters);
        self.collect_deposits(wakers);
    }

    /// Under the lock: assigns `n` permits to the front waiters in order, collecting the
    /// wakers of those fully served; once the queue is empty, the rest becomes available.
    fn distribute(&self, n: usize, waiters: &mut WaitList<Need>, wakers: &mut WakeList) {
        let mut rem = n;
        while rem > 0 {
            let Some(key) = waiters.front() else { break };
            let need = waiters.get_mut(key);
            let give = need.remaining.min(rem);
            need.remaining -= give;
            rem -= give;
            if need.remaining == 0 {
                wakers.push(waiters.unlink(key));
            }
        }
        if waiters.is_empty() {
            self.store_leftover_and_clear_waiters(rem);
        } else {
            debug_assert_eq!(rem, 0, "permits left over while waiters are queued");
        }
    }

    /// Called under the lock once the queue is empty: adds `rem` permits and clears `WAITERS`
    /// (deposits made meanwhile become available with it).
    fn store_leftover_and_clear_waiters(&self, rem: usize) {
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            let permits = state >> SHIFT;
            assert!(
                rem <= MAX_PERMITS - permits,
                "adding {rem} permits would exceed Semaphore::MAX_PERMITS ({MAX_PERMITS}); {permits} are available"
            );
            let new = ((permits + rem) << SHIFT) | (state & CLOSED);
            match self
                .state
                .compare_exchange_weak(state, new, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => break,
                Err(actual) => state = actual,
            }
        }
        self.unmark_queued();
    }

    /// Closes the semaphore: every queued waiter fails, permits they had been partially assigned
    /// go back to the pool, future acquires fail.
    pub(crate) fn close(&self) {
        let mut wakers = WakeList::new();
        self.close_deferred(&mut wakers);
        wakers.wake_all();
    }

    /// `close`, with the failed waiters' wakers left in `wakers` for the caller to wake once
    /// it has published the rest of its own state.
    pub(crate) fn close_deferred(&self, wakers: &mut WakeList) {
        let mut waiters = self.waiters.lock();
        self.state.fetch_or(CLOSED, Ordering::AcqRel);
        // Each failed waiter keeps `remaining`; the permits it had been assigned
        // (`requested - remaining`) are given back by its future when it is polled or dropped.
        while waiters.grant_front(wakers, |need| need.closed = true) {}
        self.store_leftover_and_clear_waiters(0);
    }

    /// Polls an acquisition of `n` permits. `key` is the future's slot, if it has one.
    #[inline]
    pub(crate) fn poll_acquire(
        &self,
        cx: &mut Context<'_>,
        n: usize,
        key: &mut Option<Key>,
    ) -> Poll<Result<(), AcquireError>> {
        coop::proceed(cx, |cx| {
            if key.is_none() && n > 0 {
                // The uncontended first poll, small enough to inline into `lock()` and friends.
                let state = self.state.load(Ordering::Acquire);
                if state & (WAITERS | CLOSED) == 0
                    && state >> SHIFT >= n
                    && self
                        .state
                        .compare_exchange_weak(
                            state,
                            state - (n << SHIFT),
                            Ordering::AcqRel,
                            Ordering::Acquire,
                        )
                        .is_ok()
                {
                    return Poll::Ready(Ok(()));
                }
            }
            self.poll_acquire_slow(cx, n, key)
        })
    }

    /// `poll_acquire` past the fast path (the budget is already spent): a later poll of a
    /// queued waiter, a zero-permit request, or a first poll that has to queue.
    #[inline(never)]
    fn poll_acquire_slow(
        &self,
        cx: &mut Context<'_>,
        n: usize,
        key: &mut Option<Key>,
    ) -> Poll<Result<(), AcquireError>> {
        if key.is_some() {
            return self.poll_waiter(cx, n, key);
        }
        if n == 0 {
            return Poll::Ready(if self.is_closed() {
                Err(AcquireError(()))
            } else {
                Ok(())
            });
        }
        match self.try_acquire(n) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquireRaw::Closed) => return Poll::Ready(Err(AcquireError(()))),
            Err(TryAcquireRaw::NoPermits) => {}
        }
        // About to wait: clone the waker before taking the lock (its `clone` is foreign code
        // that may call back into this semaphore, and even add the permits we lack).
        let mut fresh = Some(cx.waker().clone());
        let outcome = self.queue_up(n, key, &mut fresh);
        // Permits taken without queuing are this poll's alone (no slot holds them): if the
        // foreign code below panics, they go back.
        let taken = if let Poll::Ready(Ok(())) = outcome {
            n
        } else {
            0
        };
        let refund = Refund::new(self, taken);
        // An unused clone is dropped now, with the lock released (its destructor is foreign
        // code too).
        drop(fresh);
        // Releases that found the lock taken while we queued left their deposits to us (they
        // may be this very waiter's, then its waker is woken at once).
        self.hand_off_deposits();
        refund.keep();
        outcome
    }

    /// The locked part of a first poll that could not take its permits: takes them if they
    /// came meanwhile, else takes what is there and queues for the rest.
    fn queue_up(
        &self,
        n: usize,
        key: &mut Option<Key>,
        fresh: &mut Option<Waker>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut waiters = self.waiters.lock();
        self.mark_queued();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                if waiters.is_empty() {
                    self.unmark_queued();
                }
                return Poll::Ready(Err(AcquireError(())));
            }
            let permits = state >> SHIFT;
            if state & WAITERS == 0 && permits >= n {
                match self.state.compare_exchange_weak(
                    state,
                    state - (n << SHIFT),
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        // `WAITERS` was clear: nobody is queued.
                        self.unmark_queued();
                        return Poll::Ready(Ok(()));
                    }
                    Err(actual) => {
                        state = actual;
                        continue;
                    }
                }
            }
            // With no queue, take what is there and queue up for the rest; setting WAITERS in
            // the same CAS stops every fast path. Behind a queue take nothing: the word's
            // permits are deposits owed to the waiters ahead, and queueing needs no write to
            // it (every other writer holds the lock, fails on WAITERS or only deposits).
            let take = if state & WAITERS == 0 {
                permits.min(n)
            } else {
                0
            };
            let new = (state & CLOSED) | WAITERS | ((permits - take) << SHIFT);
            let queued = new == state
                || match self.state.compare_exchange_weak(
                    state,
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => true,
                    Err(actual) => {
                        state = actual;
                        false
                    }
                };
            if queued {
                *key = Some(waiters.push_back(
                    Need {
                        remaining: n - take,
                        requested: n,
                        closed: false,
                    },
                    fresh.take(),
                ));
                return Poll::Pending;
            }
        }
    }

    /// A later poll of the queued waiter `key`.
    fn poll_waiter(
        &self,
        cx: &mut Context<'_>,
        n: usize,
        key: &mut Option<Key>,
    ) -> Poll<Result<(), AcquireError>> {
        // Once the wait is over the slot is gone, and the permits it had been assigned are
        // this poll's alone: `refund` holds them until the poll returns them (granted) or
        // gives them back (closed: those assigned before the close), also if foreign code
        // panics first (a waiter's waker woken by the hand-off below). `poll_wait` drops a
        // waker clone it left unused before the slot goes, so nothing runs in between.
        let refund = Refund::new(self, 0);
        // Releases that found the lock taken while this poll held it leave their deposits to
        // it. Handed out when the poll ends, also if it unwinds first: the new waker's clone
        // and the replaced waker's drop (foreign code) run between and after its lock holds,
        // and deposits skipped there would wait, with the waiters they are owed to, for a
        // release that may never come.
        let deposits = HandOffDeposits(self);
        let outcome = crate::waiters::poll_wait(
            cx.waker(),
            key,
            None,
            || self.waiters.lock(),
            |waiters, queued, hold| {
                waiters.finish_if(queued, hold, |need| {
                    if need.closed {
                        // The permits assigned before the close.
                        Some(Err(n - need.remaining))
                    } else {
                        (need.remaining == 0).then_some(Ok(()))
                    }
                })
            },
        );
        let outcome = outcome.map(|outcome| match outcome {
            Ok(()) => {
                refund.hold(n);
                Ok(())
            }
            Err(assigned) => {
                refund.hold(assigned);
                Err(AcquireError(()))
            }
        });
        // Deposits made while this poll held the lock were left to it.
        drop(deposits);
        if let Poll::Ready(Ok(())) = outcome {
            refund.keep();
        }
        outcome
    }

    /// Drops a pending acquisition of `n` permits that owns slot `key`: whatever it had been
    /// assigned goes to the next waiters.
    pub(crate) fn cancel(&self, n: usize, key: Key) {
        let mut waiters = self.waiters.lock();
        let (need, stale) = waiters.remove(key);
        let assigned = n - need.remaining;
        let mut wakers = WakeList::new();
        if need.closed {
            drop(waiters);
            self.release(assigned);
        } else if assigned > 0 {
            self.release_locked_deferred(assigned, waiters, &mut wakers);
        } else {
            if waiters.is_empty() {
                self.store_leftover_and_clear_waiters(0);
            }
            drop(waiters);
            self.collect_deposits(&mut wakers);
        }
        // The waker of a cancelled waiter may own a permit: dropped only now, unlocked. And
        // before the waiters served are woken, which happens even if that drop panics (a
        // wake's panic is then dropped): the other way round, a wake's panic would drop it
        // while unwinding, and a second panic there aborts the process.
        let wakers = WakeOnDrop(Some(wakers));
        drop(stale);
        drop(wakers);
    }

    /// Takes `n` permits ahead of every queued waiter without waiting, or none: free permits,
    /// or with waiters queued the permits the front waiter has collected (see
    /// [`RawOvertake`]; it collects them again from later releases). Wakes nobody.
    pub(crate) fn try_acquire_overtaking(&self, n: usize) -> bool {
        self.check_overtaking(n);
        if self.try_acquire(n).is_ok() {
            return true;
        }
        let mut waiters = self.waiters.lock();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return false;
            }
            if state & WAITERS != 0 {
                return take_collected(&mut waiters, n, true) == n;
            }
            if state >> SHIFT < n {
                return false;
            }
            match self.state.compare_exchange_weak(
                state,
                state - (n << SHIFT),
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => state = actual,
            }
        }
    }

    /// Overtaking needs the invariants of a plain semaphore: no permits in the word while
    /// waiters are queued (no deposits, no returns), and a request that can wait.
    fn check_overtaking(&self, n: usize) {
        debug_assert!(
            !self.deposits && self.returns.is_none(),
            "an overtaking acquire on a depositing semaphore"
        );
        debug_assert!(n > 0, "an overtaking acquire of no permits");
    }

    /// The first poll of a [`RawOvertake`] of `n` permits: takes them at once if it can,
    /// otherwise queues at the front for the rest. Like `poll_acquire_slow`'s first poll, it
    /// clones the waker before taking the lock and drops an unused clone after letting go.
    fn poll_overtake(
        &self,
        cx: &mut Context<'_>,
        n: usize,
        key: &mut Option<Key>,
    ) -> Poll<Result<(), AcquireError>> {
        self.check_overtaking(n);
        match self.try_acquire(n) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(TryAcquireRaw::Closed) => return Poll::Ready(Err(AcquireError(()))),
            Err(TryAcquireRaw::NoPermits) => {}
        }
        let mut fresh = Some(cx.waker().clone());
        let outcome = self.overtake(n, key, &mut fresh);
        // Permits taken without queuing are this poll's alone: if the unused clone's
        // destructor panics, they go back.
        let taken = if let Poll::Ready(Ok(())) = outcome {
            n
        } else {
            0
        };
        let refund = Refund::new(self, taken);
        drop(fresh);
        refund.keep();
        outcome
    }

    /// The locked part of [`poll_overtake`](Self::poll_overtake). With nobody queued it is
    /// `queue_up` (take what is there, queue for the rest, first in line anyway). With
    /// waiters queued it takes the permits the front waiter has collected (only the front one
    /// can have any: releases go to the front, and only a waiter that finds the queue empty
    /// takes permits when it queues) and, if those are not enough, queues *ahead* of it for
    /// the rest. So the permits released from then on come here first.
    fn overtake(
        &self,
        n: usize,
        key: &mut Option<Key>,
        fresh: &mut Option<Waker>,
    ) -> Poll<Result<(), AcquireError>> {
        let mut waiters = self.waiters.lock();
        let mut state = self.state.load(Ordering::Acquire);
        loop {
            if state & CLOSED != 0 {
                return Poll::Ready(Err(AcquireError(())));
            }
            let permits = state >> SHIFT;
            let (take, new) = if state & WAITERS != 0 {
                debug_assert_eq!(permits, 0, "permits in the word while waiters are queued");
                let take = take_collected(&mut waiters, n, false);
                if take == n {
                    return Poll::Ready(Ok(()));
                }
                (take, state)
            } else if permits >= n {
                (n, state - (n << SHIFT))
            } else {
                // Setting WAITERS in the same CAS stops every fast path.
                (permits, (state & CLOSED) | WAITERS)
            };
            if new != state {
                if let Err(actual) = self.state.compare_exchange_weak(
                    state,
                    new,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    state = actual;
                    continue;
                }
                if take == n {
                    return Poll::Ready(Ok(()));
                }
            }
            *key = Some(waiters.push_front(
                Need {
                    remaining: n - take,
                    requested: n,
                    closed: false,
                },
                fresh.take(),
            ));
            return Poll::Pending;
        }
    }
}

/// Under the lock, with waiters queued: takes up to `n` of the permits the front waiter has
/// collected (all or nothing if `all_or_nothing`), which it must then collect again. Returns
/// how many it took.
fn take_collected(waiters: &mut WaitList<Need>, n: usize, all_or_nothing: bool) -> usize {
    let front = waiters
        .front()
        .expect("WAITERS is set under the lock only while waiters are queued");
    let need = waiters.get_mut(front);
    let take = (need.requested - need.remaining).min(n);
    if all_or_nothing && take < n {
        return 0;
    }
    need.remaining += take;
    take
}

/// Permits a poll of a [`RawAcquire`] has got but not returned yet. No slot holds them any
/// more, so if the poll unwinds before it returns them, nothing else ever gives them back;
/// and in between it runs foreign code: it drops a waker clone it did not need (whose
/// destructor may release a guard and wake a panicking waker) and hands out deposits (waking
/// other waiters' wakers). Dropped, this releases the permits it holds, so that a poll that
/// unwinds keeps none, as a dropped acquire keeps none; [`keep`](Refund::keep) hands them to
/// the caller instead.
struct Refund<'a> {
    sem: &'a RawSemaphore,
    permits: Cell<usize>,
}

impl<'a> Refund<'a> {
    fn new(sem: &'a RawSemaphore, permits: usize) -> Self {
        Refund {
            sem,
            permits: Cell::new(permits),
        }
    }

    /// The poll has got `permits` (replacing what it held before).
    fn hold(&self, permits: usize) {
        self.permits.set(permits);
    }

    /// The poll returns its permits to its caller.
    fn keep(self) {
        core::mem::forget(self);
    }
}

impl Drop for Refund<'_> {
    fn drop(&mut self) {
        self.sem.release(self.permits.get());
    }
}

/// Hands out the deposits left to a poll that held the waiter lock
/// ([`RawSemaphore::hand_off_deposits`]) when dropped: when the poll is done with the lock,
/// or while it unwinds (then a waker's panic in the hand-off is dropped, see `wake_all`).
struct HandOffDeposits<'a>(&'a RawSemaphore);

impl Drop for HandOffDeposits<'_> {
    fn drop(&mut self) {
        self.0.hand_off_deposits();
    }
}

/// The leaf future acquiring `n` permits from a [`RawSemaphore`].
#[derive(Debug)]
pub(crate) struct RawAcquire<'a> {
    sem: &'a RawSemaphore,
    n: usize,
    key: Option<Key>,
}

impl<'a> RawAcquire<'a> {
    pub(crate) fn new(sem: &'a RawSemaphore, n: usize) -> Self {
        RawAcquire { sem, n, key: None }
    }
}

impl Future for RawAcquire<'_> {
    type Output = Result<(), AcquireError>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        this.sem.poll_acquire(cx, this.n, &mut this.key)
    }
}

impl Drop for RawAcquire<'_> {
    #[inline]
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sem.cancel(self.n, key);
        }
    }
}

/// The leaf future acquiring `n` permits from a [`RawSemaphore`] *ahead of* every waiter
/// queued when it is first polled: an `RwLock`'s upgrade, which already holds a permit that
/// a queued writer waits for, so waiting behind that writer would deadlock.
///
/// Its first poll takes the permits the front waiter has collected and queues at the front
/// for the rest (see `RawSemaphore::overtake`); from then on it is an ordinary waiter: later
/// polls and its drop (cancel: what it was assigned goes to the next waiters, the one it
/// overtook first) are `RawAcquire`'s. Waiters queued after its first poll queue behind it.
/// Only for a semaphore that neither deposits nor counts returns, and never closes.
#[derive(Debug)]
pub(crate) struct RawOvertake<'a> {
    sem: &'a RawSemaphore,
    n: usize,
    key: Option<Key>,
}

impl<'a> RawOvertake<'a> {
    pub(crate) fn new(sem: &'a RawSemaphore, n: usize) -> Self {
        RawOvertake { sem, n, key: None }
    }
}

impl Future for RawOvertake<'_> {
    type Output = Result<(), AcquireError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let (sem, n, key) = (this.sem, this.n, &mut this.key);
        coop::proceed(cx, |cx| {
            if key.is_some() {
                // `poll_acquire_slow` polls a queued waiter (`poll_waiter`), which so keeps
                // its one caller and stays inlined there (measured: called out of line, every
                // contended acquire of every semaphore paid about ten instructions more).
                sem.poll_acquire_slow(cx, n, key)
            } else {
                sem.poll_overtake(cx, n, key)
            }
        })
    }
}

impl Drop for RawOvertake<'_> {
    fn drop(&mut self) {
        if let Some(key) = self.key.take() {
            self.sem.cancel(self.n, key);
        }
    }
}

/// A counting semaphore (asyncio's `Semaphore`): FIFO-fair, cancel-safe, closable.
///
/// Waiters are served strictly in arrival order, also across different batch sizes: a large
/// [`acquire_many`](Semaphore::acquire_many) at the front holds back smaller requests behind it.
/// Dropping a pending acquire gives back every permit it had been assigned.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Semaphore;
/// let sem = Semaphore::new(2);
/// ciranda::run(async {
///     let a = sem.acquire().await.unwrap();
///     let _b = sem.acquire().await.unwrap();
///     assert_eq!(sem.available_permits(), 0);
///     assert!(sem.try_acquire().is_err());
///     drop(a);
///     assert_eq!(sem.available_permits(), 1);
/// });
/// ```
pub struct Semaphore {
    raw: RawSemaphore,
}

impl fmt::Debug for Semaphore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Read first, written after: the writer is the caller's code and may call back into the
        // semaphore, so it must not run under the waiter lock (a derived `Debug` would format
        // the waiter list under it).
        let (available, closed) = (self.available_permits(), self.is_closed());
        f.debug_struct("Semaphore")
            .field("available_permits", &available)
            .field("closed", &closed)
            .finish()
    }
}

impl Semaphore {
    /// The largest number of permits a semaphore can hold (`usize::MAX >> 3`).
    pub const MAX_PERMITS: usize = MAX_PERMITS;

    crate::loom::const_fn! {
        /// Creates a semaphore with `permits` permits.
        ///
        /// # Panics
        ///
        /// If `permits > Semaphore::MAX_PERMITS`; use [`Semaphore::try_new`] to get an `Err`.
        pub fn new(permits: usize) -> Self {
            Semaphore {
                raw: RawSemaphore::new(permits),
            }
        }
    }

    /// Creates a semaphore, or returns an error when `permits > Semaphore::MAX_PERMITS`.
    pub fn try_new(permits: usize) -> Result<Self, TooManyPermitsError> {
        if permits > MAX_PERMITS {
            return Err(TooManyPermitsError { requested: permits });
        }
        Ok(Self::new(permits))
    }

    /// The number of permits that can be taken right now.
    pub fn available_permits(&self) -> usize {
        self.raw.available_permits()
    }

    /// Waits for one permit. Fails only if the semaphore is (or gets) closed.
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in line and gives back any permit already assigned to
    /// it, to the next waiters: a dropped `acquire` never keeps a permit.
    pub async fn acquire(&self) -> Result<SemaphorePermit<'_>, AcquireError> {
        self.acquire_many(1).await
    }

    /// Waits for `n` permits, taken atomically as one batch and released together.
    ///
    /// # Panics
    ///
    /// If `n > Semaphore::MAX_PERMITS` (such a request could never be served).
    ///
    /// # Cancel safety
    ///
    /// Dropping the future gives up its place in line and gives back every permit already assigned
    /// to it (a large request collects released permits while it waits at the front), to the next
    /// waiters: a dropped `acquire_many` keeps none.
    pub async fn acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, AcquireError> {
        check_request(n);
        RawAcquire::new(&self.raw, n).await?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Takes one permit if it is available now and nobody is queued ahead.
    pub fn try_acquire(&self) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.try_acquire_many(1)
    }

    /// Takes `n` permits if they are available now and nobody is queued ahead.
    pub fn try_acquire_many(&self, n: usize) -> Result<SemaphorePermit<'_>, TryAcquireError> {
        self.raw.try_acquire(n).map_err(TryAcquireError::from)?;
        Ok(SemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Like [`acquire`](Semaphore::acquire), with a permit that keeps the semaphore alive.
    ///
    /// # Cancel safety
    ///
    /// As for [`acquire`](Semaphore::acquire): a dropped `acquire_owned` keeps no permit.
    pub async fn acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, AcquireError> {
        self.acquire_many_owned(1).await
    }

    /// Like [`acquire_many`](Semaphore::acquire_many), with a permit that keeps the semaphore
    /// alive.
    ///
    /// # Panics
    ///
    /// If `n > Semaphore::MAX_PERMITS`.
    ///
    /// # Cancel safety
    ///
    /// As for [`acquire_many`](Semaphore::acquire_many): a dropped `acquire_many_owned` keeps no
    /// permit.
    pub async fn acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, AcquireError> {
        check_request(n);
        RawAcquire::new(&self.raw, n).await?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Like [`try_acquire`](Semaphore::try_acquire), with a permit that keeps the semaphore
    /// alive.
    pub fn try_acquire_owned(self: Arc<Self>) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.try_acquire_many_owned(1)
    }

    /// Like [`try_acquire_many`](Semaphore::try_acquire_many), with a permit that keeps the
    /// semaphore alive.
    pub fn try_acquire_many_owned(
        self: Arc<Self>,
        n: usize,
    ) -> Result<OwnedSemaphorePermit, TryAcquireError> {
        self.raw.try_acquire(n).map_err(TryAcquireError::from)?;
        Ok(OwnedSemaphorePermit {
            sem: self,
            permits: n,
        })
    }

    /// Adds `n` permits, handing them to queued waiters first (in arrival order).
    ///
    /// # Panics
    ///
    /// If the semaphore would hold more than [`Semaphore::MAX_PERMITS`] permits.
    pub fn add_permits(&self, n: usize) {
        assert!(
            n <= MAX_PERMITS,
            "cannot add {n} permits: more than Semaphore::MAX_PERMITS ({MAX_PERMITS})"
        );
        self.raw.release(n);
    }

    /// Removes up to `n` currently available permits for good; returns how many were removed.
    pub fn forget_permits(&self, n: usize) -> usize {
        self.raw.forget_permits(n)
    }

    /// Closes the semaphore: pending and future acquires fail with [`AcquireError`]. Permits
    /// already held stay valid and are returned as usual.
    pub fn close(&self) {
        self.raw.close();
    }

    /// `true` once [`close`](Semaphore::close) was called.
    pub fn is_closed(&self) -> bool {
        self.raw.is_closed()
    }
}

fn check_request(n: usize) {
    assert!(
        n <= MAX_PERMITS,
        "cannot acquire {n} permits: more than Semaphore::MAX_PERMITS ({MAX_PERMITS})"
    );
}

/// Permits borrowed from a [`Semaphore`]; dropping it returns them.
///
/// # Examples
///
/// ```
/// let sem = ciranda::sync::Semaphore::new(3);
/// let permit = sem.try_acquire_many(2).unwrap();
/// assert_eq!(permit.num_permits(), 2);
/// permit.forget(); // the two permits are gone for good
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct SemaphorePermit<'a> {
    sem: &'a Semaphore,
    permits: usize,
}

impl SemaphorePermit<'_> {
    /// How many permits this value holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// Drops the permit without returning its permits to the semaphore.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for SemaphorePermit<'_> {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for SemaphorePermit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// Permits taken from an `Arc<Semaphore>`; dropping it returns them.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// let sem = Arc::new(ciranda::sync::Semaphore::new(1));
/// let permit = sem.clone().try_acquire_owned().unwrap();
/// std::thread::spawn(move || drop(permit)).join().unwrap();
/// assert_eq!(sem.available_permits(), 1);
/// ```
#[must_use = "the permits are released as soon as the permit is dropped"]
pub struct OwnedSemaphorePermit {
    sem: Arc<Semaphore>,
    permits: usize,
}

impl OwnedSemaphorePermit {
    /// How many permits this value holds.
    pub fn num_permits(&self) -> usize {
        self.permits
    }

    /// The semaphore the permits came from.
    pub fn semaphore(&self) -> &Arc<Semaphore> {
        &self.sem
    }

    /// Drops the permit without returning its permits to the semaphore.
    pub fn forget(mut self) {
        self.permits = 0;
    }
}

impl Drop for OwnedSemaphorePermit {
    fn drop(&mut self) {
        self.sem.raw.release(self.permits);
    }
}

impl fmt::Debug for OwnedSemaphorePermit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedSemaphorePermit")
            .field("permits", &self.permits)
            .finish()
    }
}

/// The semaphore was closed, so the acquire failed.
///
/// # Examples
///
/// ```
/// let sem = ciranda::sync::Semaphore::new(1);
/// sem.close();
/// let err = ciranda::run(sem.acquire()).unwrap_err();
/// assert_eq!(err.to_string(), "semaphore closed");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquireError(());

impl fmt::Display for AcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("semaphore closed")
    }
}

impl std::error::Error for AcquireError {}

/// Why [`Semaphore::try_acquire`] failed.
///
/// # Examples
///
/// ```
/// use ciranda::sync::{Semaphore, TryAcquireError};
/// let sem = Semaphore::new(0);
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::NoPermits);
/// sem.close();
/// assert_eq!(sem.try_acquire().unwrap_err(), TryAcquireError::Closed);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TryAcquireError {
    /// The semaphore was closed.
    Closed,
    /// Not enough permits are available, or other waiters are queued ahead (would block).
    NoPermits,
}

impl From<TryAcquireRaw> for TryAcquireError {
    fn from(raw: TryAcquireRaw) -> Self {
        match raw {
            TryAcquireRaw::Closed => TryAcquireError::Closed,
            TryAcquireRaw::NoPermits => TryAcquireError::NoPermits,
        }
    }
}

impl fmt::Display for TryAcquireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TryAcquireError::Closed => f.write_str("semaphore closed"),
            TryAcquireError::NoPermits => f.write_str("no permits available (would block)"),
        }
    }
}

impl std::error::Error for TryAcquireError {}

/// [`Semaphore::try_new`] was asked for more than [`Semaphore::MAX_PERMITS`] permits.
///
/// # Examples
///
/// ```
/// use ciranda::sync::Semaphore;
/// let err = Semaphore::try_new(Semaphore::MAX_PERMITS + 1).unwrap_err();
/// assert!(err.to_string().contains("MAX_PERMITS"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooManyPermitsError {
    requested: usize,
}

impl fmt::Display for TooManyPermitsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} permits requested, more than Semaphore::MAX_PERMITS ({MAX_PERMITS})",
            self.requested
        )
    }
}

impl std::error::Error for TooManyPermitsError {}

/// loom models of the deposits, on the raw semaphore that makes them (the channel's): the
/// public `Semaphore` does not deposit. Leaving out any one of the four looks after letting
/// go of the lock (after `queue_up`, `poll_waiter`, `cancel`, `release_locked`) makes one of
/// them fail: a deposit stranded with nobody to hand it out.
#[cfg(all(test, loom))]
mod deposit_models {
    use super::{RawAcquire, RawSemaphore};
    use core::future::Future;
    use core::pin::pin;
    use core::task::{Context, Poll, Waker};
    use loom::future::block_on;
    use loom::sync::Arc;
    use loom::sync::atomic::{AtomicBool, Ordering};
    use loom::thread;
    use std::panic::{AssertUnwindSafe, catch_unwind};

    /// A waker that records whether it was woken (a loom atomic, so loom sees the hand-over).
    struct Flag(AtomicBool);

    impl std::task::Wake for Flag {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    fn flag_waker() -> (std::sync::Arc<Flag>, Waker) {
        let flag = std::sync::Arc::new(Flag(AtomicBool::new(false)));
        (flag.clone(), Waker::from(flag))
    }

    /// After a poll that raced a release: a waiter left pending was woken, and its next poll
    /// is served (a deposit stranded with nobody to hand it out fails here).
    fn served_or_woken(
        poll: Poll<Result<(), super::AcquireError>>,
        flag: &Flag,
        acquire: core::pin::Pin<&mut RawAcquire<'_>>,
        waker: &Waker,
    ) {
        if poll.is_pending() {
            assert!(flag.0.load(Ordering::SeqCst), "the deposit was stranded");
            let again = acquire.poll(&mut Context::from_waker(waker));
            assert!(matches!(again, Poll::Ready(Ok(()))), "woken but not served");
        }
    }

    /// One poll of an acquire of one permit, then a drop (a cancelled wait); a permit
    /// served at once goes back.
    fn poll_once_then_cancel(sem: &RawSemaphore) {
        let mut acquire = pin!(RawAcquire::new(sem, 1));
        let mut cx = Context::from_waker(Waker::noop());
        if let Poll::Ready(Ok(())) = acquire.as_mut().poll(&mut cx) {
            sem.release(1);
        }
    }

    /// A release while the waiter holds the lock to queue up: whichever of the two comes
    /// second sees the other, so the waiter is served at its first poll or woken.
    #[test]
    fn release_racing_a_waiter_that_queues() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let s2 = sem.clone();
            let releaser = thread::spawn(move || s2.release(1));
            let (flag, waker) = flag_waker();
            let mut acquire = pin!(RawAcquire::new(&sem, 1));
            let first = acquire.as_mut().poll(&mut Context::from_waker(&waker));
            releaser.join().unwrap();
            served_or_woken(first, &flag, acquire, &waker);
            assert_eq!(sem.available_permits(), 0);
        });
    }

    /// A deposit racing the cancel of the only waiter: the queue empties and the permit
    /// becomes available rather than owed to nobody.
    #[test]
    fn deposit_racing_the_last_waiters_cancel() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let s2 = sem.clone();
            let canceller = thread::spawn(move || poll_once_then_cancel(&s2));
            sem.release(1);
            canceller.join().unwrap();
            assert_eq!(sem.available_permits(), 1);
            assert!(sem.try_acquire(1).is_ok());
        });
    }

    /// Two releases at once for a queued waiter that needs both: one hands its permit out
    /// under the lock while the other deposits; the first passes the deposit on.
    #[test]
    fn two_releases_for_a_queued_batch_waiter() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let s1 = sem.clone();
            let waiter = thread::spawn(move || block_on(RawAcquire::new(&s1, 2)).unwrap());
            let s2 = sem.clone();
            let releaser = thread::spawn(move || s2.release(1));
            sem.release(1);
            releaser.join().unwrap();
            waiter.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
        });
    }

    /// A waiter cancelled while a release deposits, with a second waiter behind it: the
    /// cancel (holding the lock) passes the deposit on to the one behind.
    #[test]
    fn release_racing_a_cancel_with_a_waiter_behind() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let s1 = sem.clone();
            let canceller = thread::spawn(move || poll_once_then_cancel(&s1));
            let s2 = sem.clone();
            let waiter = thread::spawn(move || block_on(RawAcquire::new(&s2, 1)).unwrap());
            sem.release(1);
            canceller.join().unwrap();
            waiter.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
        });
    }

    /// A waker that panics when woken (a plain `std` waker: nothing for loom to see).
    struct Panics;

    impl std::task::Wake for Panics {
        fn wake(self: std::sync::Arc<Self>) {
            panic!("expected test panic: waker");
        }
    }

    /// A granted waiter re-polled while a release deposits for the waiter behind it, whose
    /// waker panics: the re-poll hands the deposit out after letting go, the panic unwinds
    /// out of the poll, and the permit the poll had been granted goes back with it (the
    /// poll's result is lost, so nobody else would ever return it).
    #[test]
    fn repoll_of_a_granted_waiter_whose_hand_off_panics() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let noop = &mut Context::from_waker(Waker::noop());
            let mut first = pin!(RawAcquire::new(&sem, 1));
            assert!(first.as_mut().poll(noop).is_pending());
            let panics = Waker::from(std::sync::Arc::new(Panics));
            // Boxed, so that it can be dropped before the end.
            let mut second = Box::pin(RawAcquire::new(&sem, 1));
            assert!(
                second
                    .as_mut()
                    .poll(&mut Context::from_waker(&panics))
                    .is_pending()
            );
            sem.release(1); // grants `first`
            let s2 = sem.clone();
            let releaser = thread::spawn(move || {
                // Handing the permit to `second` itself panics here.
                let _ = catch_unwind(AssertUnwindSafe(|| s2.release(1)));
            });
            // Err: the hand-off woke `second`, and its panic went on into this poll.
            let polled = catch_unwind(AssertUnwindSafe(|| first.as_mut().poll(noop)));
            releaser.join().unwrap();
            // `second` was handed the other permit: its drop gives it back.
            drop(second);
            match polled {
                Ok(Poll::Ready(Ok(()))) => sem.release(1),
                Ok(other) => panic!("a granted waiter polled to {other:?}"),
                Err(_) => {}
            }
            assert_eq!(sem.available_permits(), 2, "a permit was lost");
        });
    }

    /// A waker whose last copy panics when it is dropped (a plain `std` waker).
    struct PanicsOnDrop;

    impl std::task::Wake for PanicsOnDrop {
        fn wake(self: std::sync::Arc<Self>) {}
    }

    impl Drop for PanicsOnDrop {
        fn drop(&mut self) {
            panic!("expected test panic: waker drop");
        }
    }

    /// A queued waiter re-polled with a new waker while a release deposits: the waker it
    /// replaces is dropped after the poll let go of the lock, and that drop panics. The
    /// deposit left to the poll is handed out all the same (the waiter is granted and woken
    /// through its new waker), not stranded in the word with the waiter queued for good.
    #[test]
    fn release_racing_a_repoll_whose_replaced_waker_panics() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let mut acquire = Box::pin(RawAcquire::new(&sem, 1));
            let old = Waker::from(std::sync::Arc::new(PanicsOnDrop));
            assert!(
                acquire
                    .as_mut()
                    .poll(&mut Context::from_waker(&old))
                    .is_pending()
            );
            // The waiter's slot holds the last copy now.
            drop(old);
            let s2 = sem.clone();
            let releaser = thread::spawn(move || {
                // A release that comes before the re-poll's lock grants the waiter and wakes
                // the old waker, whose drop then panics here.
                let _ = catch_unwind(AssertUnwindSafe(|| s2.release(1)));
            });
            let (flag, waker) = flag_waker();
            let polled = catch_unwind(AssertUnwindSafe(|| {
                acquire.as_mut().poll(&mut Context::from_waker(&waker))
            }));
            releaser.join().unwrap();
            match polled {
                Ok(Poll::Ready(Ok(()))) => {}
                Ok(other) => panic!("a re-poll that replaced no waker polled to {other:?}"),
                Err(_) => {
                    // The new waker was stored before the old one was dropped.
                    assert!(flag.0.load(Ordering::SeqCst), "the deposit was stranded");
                    let again = acquire.as_mut().poll(&mut Context::from_waker(&waker));
                    assert!(matches!(again, Poll::Ready(Ok(()))), "woken but not served");
                }
            }
            sem.release(1);
            drop(acquire);
            assert_eq!(sem.available_permits(), 1, "a permit was lost");
        });
    }

    /// `close` racing a release that finds the batch waiter queued: `close` hands nothing
    /// out (and does not look for deposits after it lets go), but it clears `WAITERS`
    /// under the lock, so a deposit made while it held the lock becomes available with it;
    /// one assigned to the waiter before comes back when the failed waiter is polled.
    #[test]
    fn close_racing_a_deposit() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let mut waiter = Box::pin(RawAcquire::new(&sem, 2));
            let noop = &mut Context::from_waker(Waker::noop());
            assert!(waiter.as_mut().poll(noop).is_pending());
            let s2 = sem.clone();
            let releaser = thread::spawn(move || s2.release(1));
            sem.close();
            releaser.join().unwrap();
            assert!(matches!(waiter.as_mut().poll(noop), Poll::Ready(Err(_))));
            drop(waiter);
            assert_eq!(sem.available_permits(), 1, "the released permit was lost");
        });
    }

    /// The receiver's two give-backs racing a sender that needs both and queues: each is
    /// counted before the queuing (and moved into the word by it) or released at once
    /// after it; the sender is served either way.
    #[test]
    fn give_backs_racing_a_queueing_batch_waiter() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::for_channel(2));
            sem.try_acquire(2).unwrap();
            let s2 = sem.clone();
            let receiver = thread::spawn(move || {
                s2.give_back(1);
                s2.give_back(1);
            });
            block_on(RawAcquire::new(&sem, 2)).unwrap();
            receiver.join().unwrap();
            assert_eq!(sem.available_permits(), 0);
            sem.release(2);
            assert_eq!(sem.available_permits(), 2);
        });
    }

    /// A queued waiter re-polled (the lock taken again by `poll_waiter`) while a release
    /// deposits: the re-poll hands the deposit out after letting go.
    #[test]
    fn release_racing_a_waiters_repoll() {
        loom::model(|| {
            let sem = Arc::new(RawSemaphore::with_deposits(0));
            let (flag, waker) = flag_waker();
            let mut acquire = pin!(RawAcquire::new(&sem, 1));
            assert!(
                acquire
                    .as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
            let s2 = sem.clone();
            let releaser = thread::spawn(move || s2.release(1));
            let second = acquire.as_mut().poll(&mut Context::from_waker(&waker));
            releaser.join().unwrap();
            served_or_woken(second, &flag, acquire, &waker);
            assert_eq!(sem.available_permits(), 0);
        });
    }
}
