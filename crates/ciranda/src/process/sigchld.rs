//! The fallback for kernels without pidfds: one `SIGCHLD` listener for the whole process,
//! polled by one task, that wakes every waiting child to check its own exit.
//!
//! Each delivery bumps a generation and wakes the registered waiters; a waiter records the
//! generation before it checks `waitpid(WNOHANG)`, so an exit between the check and its
//! registration is seen as a newer generation (no lost wake-up). The driver task lives on the
//! runtime of the first waiter; if that runtime shuts down, the driver's guard bumps the
//! generation and wakes everybody, and the next waiter to poll starts a new driver on its own
//! runtime (the bump makes every waiter check again, covering deliveries in between). A waiter
//! whose own runtime has shut down (polled in a `Handle::block_on` after the shutdown) cannot
//! host a driver: its wait fails when it would have to start one.
//!
//! A process that waits through pidfds also comes here for one wait whose `pidfd_open` found
//! the descriptor table full (`EMFILE`, `ENFILE`). The listener needs a socket pair, which it
//! could not open then either, so every spawn sets one pair aside while no driver runs
//! ([`reserve`]); a driver starts on that pair, and the next spawn after a driver's runtime
//! shut down sets aside another.

use crate::signal::unix::Listener;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::io;
use std::os::unix::net::UnixStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll, Waker};

struct Hub {
    generation: u64,
    driver: bool,
    next_key: u64,
    waiters: BTreeMap<u64, Waker>,
    /// A socket pair for the next driver's listener (see [`reserve`]).
    spare: Option<(UnixStream, UnixStream)>,
}

static HUB: Mutex<Hub> = Mutex::new(Hub {
    generation: 0,
    driver: false,
    next_key: 0,
    waiters: BTreeMap::new(),
    spare: None,
});

/// Sets a socket pair aside for the listener of a driver that is not running yet, so that a
/// wait that falls back here because no descriptor was free can still start one. Called at
/// every spawn; a no-op while a driver runs or a pair is set aside (and when no pair can be
/// opened: a wait then opens its own, or fails as before).
pub(crate) fn reserve() {
    let mut hub = HUB.lock();
    if hub.driver || hub.spare.is_some() {
        return;
    }
    hub.spare = UnixStream::pair().ok();
}

/// One child's wait on the shared listener.
pub(crate) struct SigchldWait {
    key: u64,
    seen: u64,
}

impl SigchldWait {
    /// Starts the driver if needed (before the caller's first exit check) and records the
    /// current generation.
    pub(crate) fn new() -> io::Result<SigchldWait> {
        let mut hub = HUB.lock();
        let driver = ensure_driver(&mut hub)?;
        let key = hub.next_key;
        hub.next_key += 1;
        let wait = SigchldWait {
            key,
            seen: hub.generation,
        };
        drop(hub);
        if let Some(start) = driver {
            start()?;
        }
        Ok(wait)
    }

    /// Ready when a `SIGCHLD` (or a driver restart) happened since the last ready poll.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Cloned and dropped outside the lock: a waker may call back into us.
        let waker = cx.waker().clone();
        let mut hub = HUB.lock();
        let driver = ensure_driver(&mut hub)?;
        let (ready, replaced) = if hub.generation != self.seen {
            self.seen = hub.generation;
            (true, hub.waiters.remove(&self.key))
        } else {
            (false, hub.waiters.insert(self.key, waker))
        };
        drop(hub);
        drop(replaced);
        if let Some(start) = driver {
            start()?;
        }
        if ready {
            Poll::Ready(Ok(()))
        } else {
            Poll::Pending
        }
    }
}

impl Drop for SigchldWait {
    fn drop(&mut self) {
        let removed = HUB.lock().waiters.remove(&self.key);
        drop(removed);
    }
}

/// If no driver runs, makes its listener (under the lock, so deliveries from now on are
/// recorded) and returns the spawn to run once the lock is released (a spawn refused by a
/// shutting-down runtime drops the task at once, and its guard takes the lock). The spawn
/// fails when the task is gone before it returns: this runtime runs no task any more (it has
/// shut down; a `Handle::block_on` may still drive its reactor), so no driver can live on it,
/// and a waiter that went on would start and lose one driver after another without end.
fn ensure_driver(hub: &mut Hub) -> io::Result<Option<impl FnOnce() -> io::Result<()> + use<>>> {
    if hub.driver {
        return Ok(None);
    }
    let handle = crate::Handle::try_current()
        .ok_or_else(|| io::Error::other("waiting for a child process outside a ciranda runtime"))?;
    let mut listener = match hub.spare.take() {
        Some((read, write)) => Listener::with_pair(libc::SIGCHLD, read, write)?,
        None => Listener::new(libc::SIGCHLD)?,
    };
    hub.driver = true;
    Ok(Some(move || {
        let gone = Arc::new(AtomicBool::new(false));
        let guard = DriverGuard(gone.clone());
        drop(handle.spawn(async move {
            let _guard = guard;
            while std::future::poll_fn(|cx| listener.poll(cx)).await.is_ok() {
                super::exit::reap_orphans();
                wake_all(false);
            }
        }));
        if gone.load(Ordering::Acquire) {
            return Err(io::Error::other(
                "waiting for a child process: the runtime has shut down, and the SIGCHLD listener's task cannot run on it",
            ));
        }
        Ok(())
    }))
}

/// Bumps the generation and wakes every waiter (outside the lock).
fn wake_all(driver_gone: bool) {
    let wakers = {
        let mut hub = HUB.lock();
        hub.generation += 1;
        if driver_gone {
            hub.driver = false;
        }
        std::mem::take(&mut hub.waiters)
    };
    for (_, waker) in wakers {
        // A panicking waker must not cost the others their wake-up (nor kill the driver).
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| waker.wake()));
    }
}

/// Dropped with the driver task (its runtime shut down): lets the next waiter start another.
/// Its flag tells the spawn whether that happened before the spawn returned.
struct DriverGuard(Arc<AtomicBool>);

impl Drop for DriverGuard {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
        wake_all(true);
    }
}
