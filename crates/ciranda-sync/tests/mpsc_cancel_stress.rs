//! Bounded channels under threads that cancel their `send`s and `recv`s at random points,
//! polled by a foreign executor (a thread-parking loop whose waker is sometimes a new one).
//!
//! What each run checks, on both cores (the ring, and the locked core for a channel whose
//! ring would be too large):
//!
//! * every `send` that returned `Ok` is received exactly once, each sender's in order, and a
//!   cancelled `send` is never received: its message is dropped with the future, once;
//! * no more than the capacity is ever in the channel (`len()`), so no permit is counted
//!   twice;
//! * every wait ends: a sender parked while the channel has room, or a receiver parked beside
//!   a published message (a lost wake-up, a stranded deposit), fails the run instead of
//!   hanging it;
//! * once everything is received, `capacity()` is `max_capacity()` again: no cancelled send
//!   kept a permit.
#![cfg(not(loom))]
#![cfg(not(miri))]

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;
use std::time::{Duration, Instant};

use ciranda_sync::mpsc;

/// Longer than any wait a run has when nothing is lost, even on a saturated machine.
const STUCK: Duration = Duration::from_secs(20);

/// What a thread's wakers share: the thread to unpark, and whether one of them woke it.
struct Parker {
    thread: Thread,
    woken: AtomicBool,
}

impl Parker {
    fn current() -> Arc<Self> {
        Arc::new(Parker {
            thread: std::thread::current(),
            woken: AtomicBool::new(false),
        })
    }

    fn wake(&self) {
        self.woken.store(true, Ordering::SeqCst);
        self.thread.unpark();
    }
}

impl Wake for Parker {
    fn wake(self: Arc<Self>) {
        Parker::wake(&self);
    }
}

/// A waker of its own (not `will_wake` the thread's usual one) that wakes the same thread.
struct OtherWaker(Arc<Parker>);

impl Wake for OtherWaker {
    fn wake(self: Arc<Self>) {
        Parker::wake(&self.0);
    }
}

/// A small xorshift generator: each thread its own, seeded from its number.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Polls `fut` until it is ready, parking between polls and polling again only once a waker
/// woke the thread (a lost wake-up is not papered over by a timed re-poll). With
/// `cancel_after` set, gives up (drops the future) after that many `Pending` polls; `stop`
/// is asked while parked whether to give up (the receiver once everything arrived). Most
/// polls pass the thread's usual waker, one in three a different one (the primitive has to
/// replace what it holds). Panics if one wait lasts [`STUCK`]: nobody woke this thread.
fn drive<F: Future>(
    parker: &Arc<Parker>,
    fut: F,
    cancel_after: Option<u32>,
    stop: &dyn Fn() -> bool,
    rng: &mut Rng,
    what: &str,
) -> Option<F::Output> {
    let usual = Waker::from(parker.clone());
    let mut fut = pin!(fut);
    let mut pending = 0;
    loop {
        let other;
        let waker = if rng.below(3) == 0 {
            other = Waker::from(Arc::new(OtherWaker(parker.clone())));
            &other
        } else {
            &usual
        };
        if let Poll::Ready(v) = fut.as_mut().poll(&mut Context::from_waker(waker)) {
            return Some(v);
        }
        pending += 1;
        if cancel_after.is_some_and(|n| pending >= n) {
            return None;
        }
        let start = Instant::now();
        while !parker.woken.swap(false, Ordering::SeqCst) {
            if stop() {
                return None;
            }
            assert!(
                start.elapsed() < STUCK,
                "{what}: parked for {STUCK:?} without a wake-up"
            );
            std::thread::park_timeout(Duration::from_millis(10));
        }
    }
}

/// A message: its sender and sequence number, and its drop recorded in `drops`.
struct Message<const PAD: usize> {
    sender: usize,
    seq: usize,
    drops: Arc<Vec<AtomicU8>>,
    _pad: [u8; PAD],
}

impl<const PAD: usize> Message<PAD> {
    fn id(&self, each: usize) -> usize {
        self.sender * each + self.seq
    }
}

impl<const PAD: usize> Drop for Message<PAD> {
    fn drop(&mut self) {
        let each = self.drops.len() / SENDERS;
        self.drops[self.id(each)].fetch_add(1, Ordering::Relaxed);
    }
}

const SENDERS: usize = 4;

/// One run: `SENDERS` threads send `each` messages (cancelling about one wait in four, after
/// one or two `Pending` polls); this thread receives, cancelling about one `recv` wait in
/// four, and checks the properties listed in the module docs.
fn run<const PAD: usize>(capacity: usize, each: usize, seed: u64) {
    let drops = Arc::new(
        (0..SENDERS * each)
            .map(|_| AtomicU8::new(0))
            .collect::<Vec<_>>(),
    );
    // Sends that returned `Ok`, added by each sender when it is done; and senders done.
    let sent_ok = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let (tx, mut rx) = mpsc::channel::<Message<PAD>>(capacity);
    let senders: Vec<_> = (0..SENDERS)
        .map(|s| {
            let tx = tx.clone();
            let drops = drops.clone();
            let (sent_ok, done) = (sent_ok.clone(), done.clone());
            std::thread::spawn(move || {
                let parker = Parker::current();
                let mut rng = Rng::new(seed * 31 + s as u64 + 1);
                let mut ok = Vec::new();
                for seq in 0..each {
                    let message = Message {
                        sender: s,
                        seq,
                        drops: drops.clone(),
                        _pad: [0; PAD],
                    };
                    let cancel_after = (rng.below(4) == 0).then(|| 1 + rng.below(2) as u32);
                    let never = || false;
                    match drive(
                        &parker,
                        tx.send(message),
                        cancel_after,
                        &never,
                        &mut rng,
                        "a sender",
                    ) {
                        Some(Ok(())) => ok.push(seq),
                        Some(Err(_)) => panic!("the receiver is there"),
                        None => {}
                    }
                }
                sent_ok.fetch_add(ok.len(), Ordering::SeqCst);
                done.fetch_add(1, Ordering::SeqCst);
                ok
            })
        })
        .collect();
    let parker = Parker::current();
    let mut rng = Rng::new(seed);
    let mut received: Vec<Vec<usize>> = vec![Vec::new(); SENDERS];
    let got = AtomicUsize::new(0);
    // `tx` is still alive (for the last check), so no `None` ends the stream: the receiver
    // stops once every sender is done and everything they sent arrived.
    let all_in = || {
        done.load(Ordering::SeqCst) == SENDERS
            && got.load(Ordering::Relaxed) == sent_ok.load(Ordering::SeqCst)
    };
    while !all_in() {
        let cancel_after = (rng.below(4) == 0).then_some(1);
        let Some(message) = drive(
            &parker,
            rx.recv(),
            cancel_after,
            &all_in,
            &mut rng,
            "the receiver",
        ) else {
            continue;
        };
        let message = message.expect("`tx` is alive");
        assert!(
            rx.len() <= capacity,
            "{} in a channel of capacity {capacity}",
            rx.len()
        );
        received[message.sender].push(message.seq);
        got.fetch_add(1, Ordering::Relaxed);
        if rng.below(16) == 0 {
            std::thread::yield_now();
        }
    }
    for (s, t) in senders.into_iter().enumerate() {
        let ok = t.join().unwrap();
        assert_eq!(
            received[s], ok,
            "sender {s}: received exactly the sends that returned Ok, in order"
        );
    }
    assert!(rx.is_empty());
    assert_eq!(
        tx.capacity(),
        tx.max_capacity(),
        "every permit back once the channel is empty"
    );
    drop(tx);
    let never = || false;
    let end = drive(&parker, rx.recv(), None, &never, &mut rng, "the end");
    assert!(end.expect("not cancelled").is_none());
    for (id, count) in drops.iter().enumerate() {
        assert_eq!(
            count.load(Ordering::Relaxed),
            1,
            "message {id} dropped once"
        );
    }
}

/// The ring core (small messages), at capacities of one slot, a few, and a non-power of two.
#[test]
fn ring_core_under_cancelled_sends_and_receives() {
    for (round, capacity) in [1, 2, 3, 8].into_iter().enumerate() {
        run::<0>(capacity, 3_000, round as u64);
    }
}

/// The locked core: 40 KiB messages, 8 slots of which take more than a ring may (256 KiB).
#[test]
fn locked_core_under_cancelled_sends_and_receives() {
    for (round, capacity) in [5, 8].into_iter().enumerate() {
        run::<40_960>(capacity, 400, 100 + round as u64);
    }
}
