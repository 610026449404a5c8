//! The list a reactor turn gathers its wakers in, kept per thread from one turn to the next.
//!
//! A turn wakes its tasks only after it has let go of the poller and every lock, so it first
//! collects their wakers. A new `Vec` per turn cost an allocation, its growth and a free in
//! every turn that woke anything: on `benches/examples/net_probe`'s TCP echo, counted with
//! callgrind, 272 instructions per such turn, about 3% of the process's instructions per
//! round trip.

use std::cell::Cell;
use std::task::Waker;

/// A list that grew past this many wakers is freed after its turn, not kept: one burst (a
/// wheel slot holding 100 000 sleeps) must not pin its room to a thread for the thread's life.
const KEEP_AT_MOST: usize = 1024;

thread_local! {
    static SPARE: Cell<Vec<Waker>> = const { Cell::new(Vec::new()) };
}

/// An empty list for a turn, with the room an earlier turn on this thread left in it. A turn
/// nested in another one's wake-ups (a waker that turns a reactor) finds none and starts
/// with an empty `Vec`.
pub(crate) fn take() -> Vec<Waker> {
    SPARE.try_with(Cell::take).unwrap_or_default()
}

/// Gives a turn's list back, emptied, for the next turn on this thread.
pub(crate) fn give_back(list: Vec<Waker>) {
    debug_assert!(list.is_empty(), "a turn gives its waker list back empty");
    if list.capacity() <= KEEP_AT_MOST {
        // During the thread's exit the slot may be gone: the list is then just dropped.
        let _ = SPARE.try_with(|spare| spare.set(list));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_given_back_is_taken_again_with_its_room() {
        let mut list = take();
        list.reserve(16);
        let room = list.capacity();
        let addr = list.as_ptr();
        give_back(list);
        let again = take();
        assert_eq!(
            (again.len(), again.capacity(), again.as_ptr()),
            (0, room, addr)
        );
        // Taken: a nested turn gets a fresh list meanwhile.
        assert_eq!(take().capacity(), 0);
    }

    #[test]
    fn a_list_past_the_bound_is_not_kept() {
        let mut list = take();
        list.reserve(KEEP_AT_MOST + 1);
        give_back(list);
        assert_eq!(take().capacity(), 0);
    }
}
