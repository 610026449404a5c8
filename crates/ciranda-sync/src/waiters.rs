//! The shared waiter-queue core: a slab-backed FIFO list of waiters.
//!
//! Every primitive keeps one (or a few) [`WaitList`]s inside a mutex from the loom shim. A
//! waiting future owns a [`Key`] to its slot; the slot holds a primitive-specific state `S`
//! (for example "still waiting" / "granted") and the future's latest waker. Granting works the
//! same way everywhere, which is what makes fairness and cancel-safety uniform:
//!
//! * the granter takes the *front* waiter (FIFO), writes the grant into its state and
//!   [`unlink`](WaitList::unlink)s it from the queue; the slot itself stays allocated, so the
//!   grant is owned by the future even before it is polled again;
//! * the future, when polled, sees the grant and [`remove`](WaitList::remove)s its slot;
//! * a future dropped while it still owns a slot removes it and, if the state says it was
//!   granted, hands the grant to the next waiter — nothing is lost, nothing is granted twice.
//!
//! Wakers are collected in a [`WakeList`] and woken after the mutex is released, so a waker
//! that runs code synchronously can never deadlock on our lock. A waker that panics does not
//! cost the others their wake-up: every one is woken, then the panic goes on into the caller.
//!
//! The same holds for a waker's `clone` and `drop`, which are foreign code too (a waker may own
//! a permit, a guard or a sender, or notify from its `clone`): no waker is cloned or dropped
//! while the lock is held. A waiter that is about to wait clones its waker *before* taking the
//! lock ([`push_back`](WaitList::push_back) takes it by value); a re-poll with a new waker asks
//! for a clone through [`store_waker`] (release the lock, clone, retry); and every waker taken
//! out of the list ([`store_waker`], [`remove`](WaitList::remove)) is handed back to the caller
//! to drop after unlocking.
//!
//! Such a drop may panic, so no poll drops a waker after it has taken its grant out of its
//! slot (the grant would be lost with the unwinding poll's result): while it has one to drop,
//! [`poll_wait`] has its check leave the grant where it is ([`Queued::Over`]), drops the waker
//! and takes the lock again. If the drop panics, the grant is still the future's: a re-poll
//! returns it, a drop hands it on like a cancelled waiter's.
//!
//! Slot life cycle:
//!
//! | slot state          | in FIFO? | who frees it                            |
//! |---------------------|----------|-----------------------------------------|
//! | vacant              | no       | —                                       |
//! | occupied, linked    | yes      | owner on drop (cancel)                  |
//! | occupied, unlinked  | no       | owner on completion or drop (hand-off)  |

use core::task::{Poll, Waker};
use std::any::Any;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};

const NIL: usize = usize::MAX;

/// A handle to one slot of a [`WaitList`], owned by exactly one waiting future.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Key(usize);

#[derive(Debug)]
struct Node<S> {
    state: S,
    waker: Option<Waker>,
    prev: usize,
    next: usize,
    linked: bool,
}

#[derive(Debug)]
enum Slot<S> {
    Vacant { next_free: usize },
    Occupied(Node<S>),
}

/// A FIFO of waiters stored in a slab (a `Vec` of slots with a free list). All operations are
/// O(1) except the rare shrink.
#[derive(Debug)]
pub(crate) struct WaitList<S> {
    slots: Vec<Slot<S>>,
    free: usize,
    head: usize,
    tail: usize,
    linked: usize,
    occupied: usize,
}

impl<S> Default for WaitList<S> {
    fn default() -> Self {
        Self::new()
    }
}

impl<S> WaitList<S> {
    /// An empty list; allocates nothing.
    pub(crate) const fn new() -> Self {
        WaitList {
            slots: Vec::new(),
            free: NIL,
            head: NIL,
            tail: NIL,
            linked: 0,
            occupied: 0,
        }
    }

    /// `true` when no waiter is queued (granted-but-unclaimed slots do not count).
    pub(crate) fn is_empty(&self) -> bool {
        self.linked == 0
    }

    /// The number of queued waiters.
    #[allow(dead_code)]
    pub(crate) fn len(&self) -> usize {
        self.linked
    }

    fn node(&self, key: Key) -> &Node<S> {
        match &self.slots[key.0] {
            Slot::Occupied(node) => node,
            Slot::Vacant { .. } => unreachable!("waiter key refers to a vacant slot"),
        }
    }

    fn node_mut(&mut self, key: Key) -> &mut Node<S> {
        match &mut self.slots[key.0] {
            Slot::Occupied(node) => node,
            Slot::Vacant { .. } => unreachable!("waiter key refers to a vacant slot"),
        }
    }

    /// Appends a waiter at the back of the queue and returns its key. `waker` was cloned by the
    /// caller before it took the lock.
    pub(crate) fn push_back(&mut self, state: S, waker: Option<Waker>) -> Key {
        let node = Node {
            state,
            waker,
            prev: self.tail,
            next: NIL,
            linked: true,
        };
        let index = if self.free != NIL {
            let index = self.free;
            match self.slots[index] {
                Slot::Vacant { next_free } => self.free = next_free,
                Slot::Occupied(_) => unreachable!("free list points at an occupied slot"),
            }
            self.slots[index] = Slot::Occupied(node);
            index
        } else {
            self.slots.push(Slot::Occupied(node));
            self.slots.len() - 1
        };
        if self.tail != NIL {
            self.node_mut(Key(self.tail)).next = index;
        } else {
            self.head = index;
        }
        self.tail = index;
        self.linked += 1;
        self.occupied += 1;
        Key(index)
    }

    /// Puts a waiter at the *front* of the queue, ahead of every queued waiter, and returns its
    /// key. Only for the one kind of waiter allowed to overtake the queue (an `RwLock`'s
    /// upgrade, see `RawSemaphore::poll_overtake`); `waker` as for
    /// [`push_back`](WaitList::push_back).
    pub(crate) fn push_front(&mut self, state: S, waker: Option<Waker>) -> Key {
        let key = self.push_back(state, waker);
        if self.head != key.0 {
            // At least two waiters: move the new tail to the head.
            let old_head = self.head;
            let prev = self.node(key).prev;
            self.node_mut(Key(prev)).next = NIL;
            self.tail = prev;
            let node = self.node_mut(key);
            node.prev = NIL;
            node.next = old_head;
            self.node_mut(Key(old_head)).prev = key.0;
            self.head = key.0;
        }
        key
    }

    /// The first queued waiter, if any.
    pub(crate) fn front(&self) -> Option<Key> {
        (self.head != NIL).then_some(Key(self.head))
    }

    /// The state of `key`'s slot.
    pub(crate) fn get(&self, key: Key) -> &S {
        &self.node(key).state
    }

    /// The state of `key`'s slot, mutably.
    pub(crate) fn get_mut(&mut self, key: Key) -> &mut S {
        &mut self.node_mut(key).state
    }

    /// Makes `waker` the one to wake for the queued waiter `key`; see [`store_waker`].
    fn update_waker(
        &mut self,
        key: Key,
        waker: &Waker,
        fresh: &mut Option<Waker>,
    ) -> Result<Option<Waker>, NeedWaker> {
        let node = self.node_mut(key);
        debug_assert!(node.linked, "only a queued waiter has a waker to update");
        store_waker(&mut node.waker, waker, fresh)
    }

    /// A [`poll_wait`] check for a waiter whose own state says when its wait is over: if
    /// `output` makes something of the state of the queued waiter `*queued`, the waiter leaves
    /// the list, `*queued` is cleared and the wait ends with that (unless the poll must
    /// [`hold`](WaitList::hold) first); otherwise it keeps waiting here. `output` may be called
    /// without its result being used, so it must not have side effects.
    pub(crate) fn finish_if<T>(
        &mut self,
        queued: &mut Option<Key>,
        hold: bool,
        output: impl FnOnce(&S) -> Option<T>,
    ) -> Queued<'_, S, T> {
        let key = queued.expect("only a queued waiter can finish");
        match output(self.get(key)) {
            Some(output) => {
                if let Some(stale) = self.hold(key, hold) {
                    return Queued::Over(stale);
                }
                *queued = None;
                Queued::Done(output, self.remove(key).1)
            }
            None => Queued::Waiting(self),
        }
    }

    /// For a [`poll_wait`] check that found the wait of `key` over: whether it must leave the
    /// grant in the slot for now, and return [`Queued::Over`] with the waker returned here.
    /// It must when the poll has a waker clone to drop (`hold`), or when the slot still holds
    /// a waker (taken out here, to be dropped too): a waker's drop may panic, and a grant
    /// taken out of its slot before it would be lost with the unwinding poll's result. `None`:
    /// nothing is left to drop, the check may take the grant (and [`remove`](WaitList::remove)
    /// the slot, which then hands back no waker).
    pub(crate) fn hold(&mut self, key: Key, hold: bool) -> Option<Option<Waker>> {
        let waker = &mut self.node_mut(key).waker;
        (hold || waker.is_some()).then(|| waker.take())
    }

    /// Takes `key` out of the FIFO (its slot stays allocated) and returns its waker for the
    /// caller to wake once the lock is released. A no-op for an unlinked slot.
    pub(crate) fn unlink(&mut self, key: Key) -> Option<Waker> {
        let (prev, next) = {
            let node = self.node_mut(key);
            if !node.linked {
                return None;
            }
            node.linked = false;
            (node.prev, node.next)
        };
        if prev != NIL {
            self.node_mut(Key(prev)).next = next;
        } else {
            self.head = next;
        }
        if next != NIL {
            self.node_mut(Key(next)).prev = prev;
        } else {
            self.tail = prev;
        }
        self.linked -= 1;
        self.node_mut(key).waker.take()
    }

    /// Grants the front waiter: `grant` rewrites its state, then it is unlinked and its waker
    /// is pushed to `wakers`. Returns `false` when the queue was empty.
    pub(crate) fn grant_front(
        &mut self,
        wakers: &mut WakeList,
        grant: impl FnOnce(&mut S),
    ) -> bool {
        let Some(key) = self.front() else {
            return false;
        };
        grant(self.get_mut(key));
        wakers.push(self.unlink(key));
        true
    }

    /// Frees `key`'s slot (unlinking it first if needed) and returns its final state and the
    /// waker it still held (only a slot that was still queued holds one). Drop that waker after
    /// releasing the lock: its destructor is foreign code.
    #[must_use = "the returned waker must be dropped after the lock is released"]
    pub(crate) fn remove(&mut self, key: Key) -> (S, Option<Waker>) {
        let waker = self.unlink(key);
        let slot = core::mem::replace(
            &mut self.slots[key.0],
            Slot::Vacant {
                next_free: self.free,
            },
        );
        self.free = key.0;
        self.occupied -= 1;
        if self.occupied == 0 && self.slots.len() > 64 {
            // A burst of waiters is over: give the memory back.
            self.slots = Vec::new();
            self.free = NIL;
        }
        match slot {
            Slot::Occupied(node) => {
                debug_assert!(node.waker.is_none(), "a granted slot holds no waker");
                (node.state, waker)
            }
            Slot::Vacant { .. } => unreachable!("waiter key refers to a vacant slot"),
        }
    }
}

/// [`store_waker`] needs an owned clone of the new waker: release the lock, clone it into
/// `fresh`, and retry (re-checking the state, which may have changed meanwhile).
#[derive(Debug)]
struct NeedWaker;

/// Stores `waker` in `slot` (a waiter's waker slot, under the caller's lock) unless an
/// equivalent one is already there.
///
/// The clone is never made here: it is taken from `fresh`, which the caller fills *without*
/// holding the lock, because `Waker::clone` may call back into the primitive. With `fresh`
/// empty and a new waker to store, returns [`NeedWaker`]. On success, returns the replaced
/// waker (or an unused `fresh`), which the caller must drop only after releasing the lock.
#[must_use = "the returned waker must be dropped after the lock is released"]
fn store_waker(
    slot: &mut Option<Waker>,
    waker: &Waker,
    fresh: &mut Option<Waker>,
) -> Result<Option<Waker>, NeedWaker> {
    if let Some(old) = slot {
        if old.will_wake(waker) {
            return Ok(fresh.take());
        }
    }
    match fresh.take() {
        Some(new) => Ok(slot.replace(new)),
        None => Err(NeedWaker),
    }
}

/// What a waiting future's poll finds under the lock (see [`poll_wait`]).
pub(crate) enum Queued<'a, S, T> {
    /// The wait is over with `T`. If the waiter was removed from its list (and its key
    /// cleared), the waker its slot still held goes here, to be dropped after unlocking; a
    /// check that took a grant out of the slot must leave none (see [`WaitList::hold`]).
    Done(T, Option<Waker>),
    /// The wait is over, but the grant stays in the waiter's slot until the poll has dropped
    /// this waker (taken out of the slot) and its unused clone, with the lock released; then it
    /// checks again.
    Over(Option<Waker>),
    /// Still waiting: keep the current waker for the queued waiter in this list.
    Waiting(&'a mut WaitList<S>),
    /// Waiting: if not queued yet, queue in this list with state `S` and the current waker;
    /// otherwise as [`Waiting`](Queued::Waiting).
    Enqueue(&'a mut WaitList<S>, S),
}

/// One poll of a waiting future, the loop every primitive needs: take the lock (`lock`), let
/// `check` decide whether the wait is over, and otherwise keep `waker` for the waiter `key`
/// (queuing it first, for [`Queued::Enqueue`]).
///
/// A waker that must be cloned is cloned with the lock released (its `clone` may call back
/// into the primitive), and then everything is checked again; a replaced or removed waker is
/// dropped after unlocking (its destructor is foreign code too). `fresh` is a clone the caller
/// already made, if any (an unused one is also dropped after unlocking).
///
/// `check`'s last argument, `hold`, says that the poll has such a clone: a check that would
/// end the wait by taking a grant out of the waiter's slot must then leave it there and return
/// [`Queued::Over`] (see [`WaitList::hold`]). So the clone is dropped before the grant is
/// taken, and if its destructor panics, the grant is still in the slot. That costs one more
/// round of the lock, but only to a poll that cloned a waker and then found its wait over;
/// a poll with nothing to drop takes its grant at once.
pub(crate) fn poll_wait<G, S, T>(
    waker: &Waker,
    key: &mut Option<Key>,
    mut fresh: Option<Waker>,
    mut lock: impl FnMut() -> G,
    mut check: impl for<'g> FnMut(&'g mut G, &mut Option<Key>, bool) -> Queued<'g, S, T>,
) -> Poll<T> {
    loop {
        let mut guard = lock();
        let stale = match (check(&mut guard, key, fresh.is_some()), *key) {
            (Queued::Done(output, stale), _) => {
                drop(guard);
                drop(stale);
                return Poll::Ready(output);
            }
            (Queued::Over(stale), _) => {
                drop(guard);
                drop(stale);
                drop(fresh.take());
                continue;
            }
            (Queued::Waiting(list) | Queued::Enqueue(list, _), Some(queued)) => {
                list.update_waker(queued, waker, &mut fresh)
            }
            (Queued::Enqueue(list, state), None) => match fresh.take() {
                Some(waker) => {
                    *key = Some(list.push_back(state, Some(waker)));
                    Ok(None)
                }
                None => Err(NeedWaker),
            },
            (Queued::Waiting(_), None) => unreachable!("only a queued waiter can keep waiting"),
        };
        drop(guard);
        match stale {
            Ok(stale) => {
                drop(stale);
                return Poll::Pending;
            }
            Err(NeedWaker) => fresh = Some(waker.clone()),
        }
    }
}

/// Wakers collected under a lock, to be woken after it is released.
///
/// The first waker is kept inline: most releases (a mutex or permit hand-off, a message to a
/// waiting receiver) wake exactly one task, and that should not cost an allocation.
#[derive(Debug, Default)]
pub(crate) struct WakeList {
    first: Option<Waker>,
    rest: Vec<Waker>,
}

impl WakeList {
    /// An empty list; allocates only from the second `push` of a waker on.
    pub(crate) const fn new() -> Self {
        WakeList {
            first: None,
            rest: Vec::new(),
        }
    }

    /// Remembers `waker` (if any) for [`WakeList::wake_all`].
    pub(crate) fn push(&mut self, waker: Option<Waker>) {
        let Some(waker) = waker else { return };
        if self.first.is_none() {
            self.first = Some(waker);
        } else {
            self.rest.push(waker);
        }
    }

    /// Wakes everything collected. Call it after releasing the lock.
    ///
    /// Each waker runs under `catch_unwind`, so one that panics cannot cost the wakers after
    /// it their wake-up: their waiters were already granted, and unwoken they would wait
    /// forever. Once all are woken, the first panic is resumed (it unwinds into the caller,
    /// as documented) and any later ones are dropped. If the thread is already unwinding —
    /// a guard released in a `drop` during a panic — the waker's panic is dropped as well,
    /// since resuming it there would abort the process.
    pub(crate) fn wake_all(self) {
        let mut first_panic = None;
        for waker in self.first.into_iter().chain(self.rest) {
            if let Err(payload) = catch_unwind(AssertUnwindSafe(move || waker.wake())) {
                if first_panic.is_none() {
                    first_panic = Some(payload);
                } else {
                    discard(payload);
                }
            }
        }
        if let Some(payload) = first_panic {
            if std::thread::panicking() {
                discard(payload);
            } else {
                resume_unwind(payload);
            }
        }
    }
}

/// Wakes its wakers when dropped, also while unwinding: for code that must run destructors of
/// foreign values (messages, wakers) between publishing its state and waking.
pub(crate) struct WakeOnDrop(pub(crate) Option<WakeList>);

impl Drop for WakeOnDrop {
    fn drop(&mut self) {
        if let Some(wakers) = self.0.take() {
            wakers.wake_all();
        }
    }
}

/// Drops a panic payload without letting its destructor (foreign code) unwind any further.
///
/// The scheduler has the same few lines (`report::drop_payload`). They stay twice on purpose:
/// the only crate below both is `ciranda-coop`, whose one job is the budget, and this crate
/// must not depend on the scheduler (it works on any executor). A shared crate for four lines
/// would cost more than it saves.
pub(crate) fn discard(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        // Dropping this one could panic the same way: leak it instead.
        core::mem::forget(again);
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn fifo_order_and_slot_reuse() {
        let mut list = WaitList::new();
        let a = list.push_back('a', None);
        let b = list.push_back('b', None);
        let c = list.push_back('c', None);
        assert_eq!(list.len(), 3);
        assert_eq!(list.front(), Some(a));
        list.unlink(b);
        assert_eq!(list.len(), 2);
        // b is unlinked but still owned.
        assert_eq!(*list.get(b), 'b');
        assert_eq!(list.remove(a).0, 'a');
        assert_eq!(list.front(), Some(c));
        assert_eq!(list.remove(b).0, 'b');
        let d = list.push_back('d', None);
        // The freed slot is reused.
        assert!(d == a || d == b);
        assert_eq!(list.front(), Some(c));
        let _ = list.remove(c);
        assert_eq!(list.front(), Some(d));
        let _ = list.remove(d);
        assert!(list.is_empty());
        assert_eq!(list.front(), None);
    }

    #[test]
    fn push_front_goes_ahead_of_the_queue() {
        let mut list = WaitList::new();
        let a = list.push_front('a', None);
        assert_eq!(list.front(), Some(a));
        list.push_back('b', None);
        list.push_front('c', None);
        assert_eq!(list.len(), 3);
        let mut order = Vec::new();
        while let Some(key) = list.front() {
            order.push(list.remove(key).0);
        }
        assert_eq!(order, ['c', 'a', 'b']);
        assert!(list.is_empty());
        // Links stay consistent after a front insertion into a one-waiter list.
        let d = list.push_back('d', None);
        let e = list.push_front('e', None);
        let f = list.push_back('f', None);
        assert_eq!(list.remove(d).0, 'd');
        assert_eq!(list.front(), Some(e));
        assert_eq!(list.remove(e).0, 'e');
        assert_eq!(list.front(), Some(f));
        assert_eq!(list.remove(f).0, 'f');
        assert!(list.is_empty());
    }

    #[test]
    fn grant_front_unlinks_and_collects() {
        let mut list = WaitList::new();
        let waker = futures_util::task::noop_waker();
        let a = list.push_back(0, Some(waker.clone()));
        let b = list.push_back(0, Some(waker.clone()));
        let mut wakers = WakeList::new();
        assert!(list.grant_front(&mut wakers, |s| *s = 7));
        assert!(wakers.first.is_some() && wakers.rest.is_empty());
        assert_eq!(*list.get(a), 7);
        assert_eq!(list.front(), Some(b));
        wakers.wake_all();
    }

    struct Counting {
        woken: std::sync::atomic::AtomicUsize,
        panics: bool,
    }

    impl std::task::Wake for Counting {
        fn wake(self: std::sync::Arc<Self>) {
            self.woken.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if self.panics {
                panic!("expected test panic: waker");
            }
        }
    }

    fn counting(panics: bool) -> std::sync::Arc<Counting> {
        std::sync::Arc::new(Counting {
            woken: std::sync::atomic::AtomicUsize::new(0),
            panics,
        })
    }

    fn woken(c: &Counting) -> usize {
        c.woken.load(std::sync::atomic::Ordering::SeqCst)
    }

    #[test]
    fn wake_all_wakes_everyone_then_resumes_the_first_panic() {
        let all: Vec<_> = [false, true, false, true, false]
            .into_iter()
            .map(counting)
            .collect();
        let mut wakers = WakeList::new();
        for c in &all {
            wakers.push(Some(Waker::from(c.clone())));
        }
        let payload = catch_unwind(AssertUnwindSafe(|| wakers.wake_all()))
            .expect_err("the first panic goes on into the caller");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"expected test panic: waker")
        );
        for c in &all {
            assert_eq!(woken(c), 1, "every waker is woken once");
        }
    }

    #[test]
    fn wake_all_while_unwinding_does_not_abort() {
        struct WakeOnDrop(Option<WakeList>);
        impl Drop for WakeOnDrop {
            fn drop(&mut self) {
                self.0.take().unwrap().wake_all();
            }
        }
        let (bad, good) = (counting(true), counting(false));
        let mut wakers = WakeList::new();
        wakers.push(Some(Waker::from(bad.clone())));
        wakers.push(Some(Waker::from(good.clone())));
        let payload = catch_unwind(AssertUnwindSafe(|| {
            let _guard = WakeOnDrop(Some(wakers));
            panic!("expected test panic: owner");
        }))
        .expect_err("the owner's panic");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"expected test panic: owner")
        );
        assert_eq!((woken(&bad), woken(&good)), (1, 1));
    }

    #[test]
    fn shrinks_after_a_burst() {
        let mut list = WaitList::new();
        let keys: Vec<_> = (0..100).map(|i| list.push_back(i, None)).collect();
        for (i, key) in keys.into_iter().enumerate() {
            assert_eq!(list.remove(key).0, i);
        }
        assert_eq!(list.slots.len(), 0);
        let k = list.push_back(5, None);
        assert_eq!(list.remove(k).0, 5);
    }
}
