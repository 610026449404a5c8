//! The readiness poller: what the reactor needs from the kernel and nothing more.
//!
//! On Linux and Android this is epoll used directly, unless the `polling-backend` feature
//! selects `polling`, the backend of every other target. `polling` re-arms a
//! `timerfd` and its wake-up descriptor around every wait: five system calls (the wait, two
//! `epoll_ctl`, a `timerfd_settime` and an eventfd `read`) where one does. Here:
//!
//! * every descriptor is registered edge-triggered and never re-armed;
//! * the timeout is exact to the nanosecond with `epoll_pwait2` (Linux 5.11): a wait for the
//!   next timer ends at its tick, not up to a millisecond later (and not up to the kernel's
//!   default 50 µs timer slack later either: see `precise_timer_slack`). Where that call is missing
//!   (`ENOSYS`, or `EPERM` from a seccomp filter that predates it) the first wait finds out,
//!   once for the process, and every wait uses `epoll_wait`, whose timeout is in milliseconds,
//!   rounded up so that a timer still never fires early (Android always does: see `PWAIT2`);
//! * the wake-up eventfd is registered edge-triggered too: each write is an edge, so it is
//!   never read back (only if its counter would overflow). A flag coalesces notifications
//!   until the next wait returns, and a notification while no thread is inside (or entering)
//!   `epoll_wait` writes nothing: the flag alone makes the next wait return at once. The
//!   waiter raises `in_wait` and then reads the flag, the notifier raises the flag and then
//!   reads `in_wait` (all `SeqCst`), so either the wait sees the flag or the notifier sees the
//!   waiter and writes.
//!
//! Events also say whether the descriptor reported a hang-up, an error or urgent data
//! ([`Event::exceptional`]): after one, a short read no longer proves that the socket was
//! drained (see `registration`).

/// One readiness report: the registration key and the directions it concerns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Event {
    pub(crate) key: usize,
    pub(crate) readable: bool,
    pub(crate) writable: bool,
    /// A hang-up (either side), an error or urgent data was reported.
    pub(crate) exceptional: bool,
}

impl Event {
    /// A plain read report (tests).
    #[cfg(test)]
    pub(crate) fn readable(key: usize) -> Event {
        Event {
            key,
            readable: true,
            writable: false,
            exceptional: false,
        }
    }
}

/// The key of the poller's own wake-up descriptor; never a registration's (see `register`).
pub(crate) const NOTIFY_KEY: usize = usize::MAX;

/// Does a short transfer on a stream socket prove that its kernel buffer was drained (read)
/// or filled (write)? Only where the poller reports hang-ups separately ([`Event::exceptional`]):
/// the epoll backend. `polling`'s events do not tell a peer's FIN (`EPOLLRDHUP`) apart on
/// every target (on Linux the FIN test in `tests/short_transfers.rs` fails with them), so with
/// it every transfer asks the kernel until it says `EAGAIN`.
pub(crate) const SHORT_TRANSFER_DRAINS: bool = cfg!(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
));

#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
))]
pub(crate) use epoll::{Events, Poller};
#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
)))]
pub(crate) use portable::{Events, Poller};

#[cfg(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
))]
mod epoll {
    use super::{Event, NOTIFY_KEY};
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, AtomicU8, Ordering::Relaxed, Ordering::SeqCst};
    use std::time::Duration;

    /// Whether `epoll_pwait2` works here: not known yet, yes, or no. The kernel does not
    /// change under a running process, so the first timed wait decides for every poller.
    /// Never tried on Android, whose app sandbox kills a process that makes a system call
    /// its seccomp filter does not list, rather than failing the call.
    pub(super) static PWAIT2: AtomicU8 = AtomicU8::new(if cfg!(target_os = "android") {
        PWAIT2_NO
    } else {
        PWAIT2_UNKNOWN
    });
    pub(super) const PWAIT2_UNKNOWN: u8 = 0;
    const PWAIT2_YES: u8 = 1;
    pub(super) const PWAIT2_NO: u8 = 2;

    /// The kernel's `__kernel_timespec`: 64-bit fields on every ABI (unlike `libc::timespec`
    /// on 32-bit targets), which is what `epoll_pwait2` reads.
    #[repr(C)]
    struct KernelTimespec {
        tv_sec: i64,
        tv_nsec: i64,
    }

    /// Events a turn collects at most; more stay queued in the kernel for the next turn.
    const CAPACITY: usize = 1024;

    const READ_FLAGS: u32 =
        (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP)
            as u32;
    const WRITE_FLAGS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    const EXCEPTIONAL_FLAGS: u32 =
        (libc::EPOLLPRI | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLRDHUP) as u32;
    const EDGE: u32 = libc::EPOLLET as u32;
    /// Both directions, a peer's FIN and urgent data (hang-ups and errors come regardless).
    const INTEREST: u32 =
        (libc::EPOLLIN | libc::EPOLLPRI | libc::EPOLLRDHUP | libc::EPOLLOUT) as u32;

    /// An epoll instance and its wake-up eventfd.
    #[derive(Debug)]
    pub(crate) struct Poller {
        epoll: OwnedFd,
        wake: OwnedFd,
        /// A notification was made and no wait has returned since.
        notified: AtomicBool,
        /// A thread is inside `wait`, from before it reads `notified` until `epoll_wait`
        /// returned.
        in_wait: AtomicBool,
    }

    /// The buffer one wait fills.
    pub(crate) struct Events {
        list: Vec<libc::epoll_event>,
    }

    impl Events {
        pub(crate) fn new() -> Events {
            Events {
                list: Vec::with_capacity(CAPACITY),
            }
        }

        pub(crate) fn clear(&mut self) {
            self.list.clear();
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
            self.list.iter().map(|ev| {
                let flags = ev.events;
                Event {
                    key: ev.u64 as usize,
                    readable: flags & READ_FLAGS != 0,
                    writable: flags & WRITE_FLAGS != 0,
                    exceptional: flags & EXCEPTIONAL_FLAGS != 0,
                }
            })
        }
    }

    fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            // SAFETY: plain system calls with no pointers; each returned descriptor is new
            // and owned by exactly one `OwnedFd` from here on.
            let (epoll, wake) = unsafe {
                let epoll = OwnedFd::from_raw_fd(check(libc::epoll_create1(libc::EPOLL_CLOEXEC))?);
                let wake = OwnedFd::from_raw_fd(check(libc::eventfd(
                    0,
                    libc::EFD_CLOEXEC | libc::EFD_NONBLOCK,
                ))?);
                (epoll, wake)
            };
            let poller = Poller {
                epoll,
                wake,
                notified: AtomicBool::new(false),
                in_wait: AtomicBool::new(false),
            };
            poller.ctl(
                libc::EPOLL_CTL_ADD,
                poller.wake.as_raw_fd(),
                libc::EPOLLIN as u32 | EDGE,
                NOTIFY_KEY,
            )?;
            Ok(poller)
        }

        fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: usize) -> io::Result<()> {
            let mut ev = libc::epoll_event {
                events,
                u64: key as u64,
            };
            // SAFETY: `ev` is a valid `epoll_event` for the call's duration; the kernel only
            // reads it. The descriptor numbers are plain integers to the call.
            check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) }).map(drop)
        }

        /// Adds `fd` edge-triggered with no interest (hang-ups and errors are still reported).
        ///
        /// # Safety
        /// `fd` must stay open until [`delete`](Poller::delete) has returned for it.
        pub(crate) unsafe fn add(&self, fd: RawFd, key: usize) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_ADD, fd, EDGE, key)
        }

        /// Turns on both directions of an added descriptor (one system call, once: this also
        /// reports what is ready already).
        pub(crate) fn arm(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_MOD, fd.as_raw_fd(), INTEREST | EDGE, key)
        }

        /// Adds `fd` edge-triggered with both directions on: [`add`](Poller::add) and
        /// [`arm`](Poller::arm) in one system call (which reports what is ready already).
        ///
        /// # Safety
        /// As [`add`](Poller::add).
        pub(crate) unsafe fn add_armed(&self, fd: RawFd, key: usize) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_ADD, fd, INTEREST | EDGE, key)
        }

        pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
        }

        /// Waits for events at most `timeout` (`None`: until one arrives or a notification).
        /// A signal interrupting the wait ends it with no events.
        pub(crate) fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<()> {
            self.in_wait.store(true, SeqCst);
            // A notification made before this wait began: collect events, do not sleep.
            let timeout = if self.notified.load(SeqCst) {
                Some(Duration::ZERO)
            } else {
                timeout
            };
            events.list.clear();
            let n = self.epoll_wait(events, timeout);
            self.in_wait.store(false, SeqCst);
            // Whatever was notified before this point has ended this wait (by the flag or the
            // eventfd) or is queued for the next one (an edge stays in the ready list until
            // collected).
            self.notified.store(false, SeqCst);
            match check(n) {
                Ok(n) => {
                    // SAFETY: the kernel initialised the first `n` entries (n <= capacity).
                    unsafe { events.list.set_len(n as usize) };
                    Ok(())
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
                Err(e) => Err(e),
            }
        }

        /// One wait into `events.list` (empty); returns the system call's result.
        fn epoll_wait(&self, events: &mut Events, timeout: Option<Duration>) -> libc::c_int {
            let epoll = self.epoll.as_raw_fd();
            let buffer = events.list.as_mut_ptr();
            let capacity = events.list.capacity() as libc::c_int;
            if let Some(t) = timeout.filter(|t| !t.is_zero()) {
                let known = PWAIT2.load(Relaxed);
                if known != PWAIT2_NO {
                    precise_timer_slack();
                    let ts = KernelTimespec {
                        tv_sec: i64::try_from(t.as_secs()).unwrap_or(i64::MAX),
                        tv_nsec: i64::from(t.subsec_nanos()),
                    };
                    // SAFETY: the buffer has room for `capacity` events and the kernel writes
                    // at most that many, initialising the first `n` it reports; `ts` is a
                    // valid `__kernel_timespec` it only reads; a null signal mask means none
                    // (the size is then not read).
                    let n = unsafe {
                        libc::syscall(
                            libc::SYS_epoll_pwait2,
                            epoll,
                            buffer,
                            capacity,
                            &ts as *const KernelTimespec,
                            std::ptr::null::<libc::sigset_t>(),
                            std::mem::size_of::<libc::sigset_t>(),
                        )
                    };
                    let missing = n == -1
                        && matches!(
                            io::Error::last_os_error().raw_os_error(),
                            Some(libc::ENOSYS | libc::EPERM)
                        );
                    if !missing {
                        if known == PWAIT2_UNKNOWN {
                            PWAIT2.store(PWAIT2_YES, Relaxed);
                        }
                        // A count of at most `capacity`, or -1.
                        return n as libc::c_int;
                    }
                    PWAIT2.store(PWAIT2_NO, Relaxed);
                }
            }
            let ms = match timeout {
                None => -1,
                // Rounded up: waking before a deadline would only make the turn wait again.
                Some(t) => {
                    let ms = t.as_nanos().div_ceil(1_000_000);
                    libc::c_int::try_from(ms).unwrap_or(libc::c_int::MAX)
                }
            };
            // SAFETY: as above, with a timeout in milliseconds.
            unsafe { libc::epoll_wait(epoll, buffer, capacity, ms) }
        }

        /// Ends the current wait, or the next one if nobody waits; coalesces until a wait
        /// returns.
        pub(crate) fn notify(&self) -> io::Result<()> {
            if self.notified.swap(true, SeqCst) || !self.in_wait.load(SeqCst) {
                return Ok(());
            }
            let one = 1u64.to_ne_bytes();
            loop {
                // SAFETY: writes 8 bytes from a live buffer to our own eventfd.
                let n = unsafe { libc::write(self.wake.as_raw_fd(), one.as_ptr().cast(), 8) };
                if n == 8 {
                    return Ok(());
                }
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::Interrupted => {}
                    // The counter is at its maximum (never read back): reset it and write again.
                    io::ErrorKind::WouldBlock => {
                        let mut buf = [0u8; 8];
                        // SAFETY: reads at most 8 bytes into a live buffer of 8.
                        unsafe { libc::read(self.wake.as_raw_fd(), buf.as_mut_ptr().cast(), 8) };
                    }
                    _ => {
                        self.notified.store(false, SeqCst);
                        return Err(e);
                    }
                }
            }
        }
    }

    /// Sets this thread's timer slack to one nanosecond, once per thread, before its first
    /// timed wait. A timed sleep of a normal thread may end up to its slack (50 µs by
    /// default) after its timeout, so that the kernel can batch wake-ups; a wait for a timer
    /// would then fire it up to 50 µs late, on top of the wheel's tick. The slack is a
    /// per-thread attribute: it also tightens other timed sleeps of a `block_on` thread that
    /// waited here, which only makes them more precise.
    fn precise_timer_slack() {
        thread_local! {
            static DONE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
        }
        DONE.with(|done| {
            if !done.replace(true) {
                // SAFETY: `PR_SET_TIMERSLACK` takes an integer and touches no memory of ours;
                // failure (an old kernel, a seccomp filter) leaves the default slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1 as libc::c_ulong) };
            }
        });
    }
}

#[cfg(not(all(
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
)))]
mod portable {
    //! Elsewhere (kqueue: untested), and on Linux with the `polling-backend` feature (CI runs
    //! the reactor's tests that way): `polling`, with the same interface.

    use super::{Event, NOTIFY_KEY};
    use polling::PollMode;
    use std::io;
    use std::os::fd::{BorrowedFd, RawFd};
    use std::time::Duration;

    #[derive(Debug)]
    pub(crate) struct Poller(polling::Poller);

    pub(crate) struct Events(polling::Events);

    impl Events {
        pub(crate) fn new() -> Events {
            Events(polling::Events::new())
        }

        pub(crate) fn clear(&mut self) {
            self.0.clear();
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
            self.0
                .iter()
                .filter(|ev| ev.key != NOTIFY_KEY)
                .map(|ev| Event {
                    key: ev.key,
                    readable: ev.readable,
                    writable: ev.writable,
                    exceptional: ev.is_interrupt() || ev.is_err().unwrap_or(false),
                })
        }
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            polling::Poller::new().map(Poller)
        }

        /// # Safety
        /// `fd` must stay open until [`delete`](Poller::delete) has returned for it.
        pub(crate) unsafe fn add(&self, fd: RawFd, key: usize) -> io::Result<()> {
            // SAFETY: forwarded from our caller.
            unsafe {
                self.0
                    .add_with_mode(fd, polling::Event::none(key), PollMode::Edge)
            }
        }

        pub(crate) fn arm(&self, fd: BorrowedFd<'_>, key: usize) -> io::Result<()> {
            self.0
                .modify_with_mode(fd, polling::Event::all(key), PollMode::Edge)
        }

        /// # Safety
        /// As [`add`](Poller::add).
        pub(crate) unsafe fn add_armed(&self, fd: RawFd, key: usize) -> io::Result<()> {
            // SAFETY: forwarded from our caller.
            unsafe {
                self.0
                    .add_with_mode(fd, polling::Event::all(key), PollMode::Edge)
            }
        }

        pub(crate) fn delete(&self, fd: BorrowedFd<'_>) -> io::Result<()> {
            self.0.delete(fd)
        }

        pub(crate) fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<()> {
            self.0.wait(&mut events.0, timeout).map(drop)
        }

        pub(crate) fn notify(&self) -> io::Result<()> {
            self.0.notify()
        }
    }
}

#[cfg(all(
    test,
    not(loom),
    any(target_os = "linux", target_os = "android"),
    not(feature = "polling-backend")
))]
mod tests {
    use super::*;
    use std::os::fd::{AsFd, AsRawFd};
    use std::os::unix::net::UnixStream;
    use std::time::{Duration, Instant};

    #[test]
    fn notifications_coalesce_and_wake_the_next_wait() {
        let poller = Poller::new().unwrap();
        let mut events = Events::new();
        poller.notify().unwrap();
        poller.notify().unwrap();
        let start = Instant::now();
        poller.wait(&mut events, None).unwrap();
        assert!(events.iter().all(|e| e.key == NOTIFY_KEY));
        // Consumed: the next wait times out (the eventfd is never read back, its edge is).
        poller
            .wait(&mut events, Some(Duration::from_millis(20)))
            .unwrap();
        assert_eq!(
            events.iter().count(),
            0,
            "a consumed notification came back"
        );
        assert!(
            start.elapsed() >= Duration::from_millis(20),
            "the timeout ended early"
        );
        // And a later one still works (with nobody waiting it is only a flag: no event, but
        // this wait, which would otherwise sleep forever, returns at once).
        poller.notify().unwrap();
        poller.wait(&mut events, None).unwrap();
        assert!(events.iter().all(|e| e.key == NOTIFY_KEY));
    }

    /// Timed waits end at or after their timeout, never before, with `epoll_pwait2` and with
    /// the `epoll_wait` fallback (forced here: the machine may well have the newer call).
    #[test]
    fn timed_waits_never_end_early_with_either_system_call() {
        use super::epoll::{PWAIT2, PWAIT2_NO, PWAIT2_UNKNOWN};
        use std::sync::atomic::Ordering::Relaxed;
        let poller = Poller::new().unwrap();
        let mut events = Events::new();
        let timeouts = [1, 250_000, 1_300_000, 2_700_001, 999_999].map(Duration::from_nanos);
        let wait_all = |events: &mut Events| {
            for t in timeouts {
                let start = Instant::now();
                poller.wait(events, Some(t)).unwrap();
                assert!(start.elapsed() >= t, "a {t:?} wait ended early");
                assert_eq!(events.iter().count(), 0);
            }
        };
        wait_all(&mut events);
        // The first timed wait of the process decided which call to use, for good.
        let decided = PWAIT2.load(Relaxed);
        assert_ne!(decided, PWAIT2_UNKNOWN);
        PWAIT2.store(PWAIT2_NO, Relaxed);
        wait_all(&mut events);
        PWAIT2.store(decided, Relaxed);
        // Either way a notification still ends a long wait.
        poller.notify().unwrap();
        poller
            .wait(&mut events, Some(Duration::from_secs(60)))
            .unwrap();
    }

    #[test]
    fn a_notification_ends_a_wait_in_progress() {
        let poller = std::sync::Arc::new(Poller::new().unwrap());
        for _ in 0..20 {
            let waiter = {
                let poller = poller.clone();
                std::thread::spawn(move || {
                    let mut events = Events::new();
                    poller.wait(&mut events, None).unwrap();
                })
            };
            // Sometimes before the wait begins, sometimes during it.
            std::thread::sleep(Duration::from_millis(2));
            poller.notify().unwrap();
            waiter.join().unwrap();
        }
    }

    #[test]
    fn an_armed_descriptor_reports_each_change_once_and_hang_ups_as_exceptional() {
        let poller = Poller::new().unwrap();
        let mut events = Events::new();
        let (a, b) = UnixStream::pair().unwrap();
        // SAFETY: `a` is deleted below before it is dropped.
        unsafe { poller.add(a.as_raw_fd(), 7).unwrap() };
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 0, "no interest, no event");
        poller.arm(a.as_fd(), 7).unwrap();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        let got: Vec<Event> = events.iter().collect();
        assert_eq!(got.len(), 1);
        assert!(got[0].writable && !got[0].readable && !got[0].exceptional);
        // Edge-triggered: nothing new, nothing reported.
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        assert_eq!(events.iter().count(), 0);
        std::io::Write::write_all(&mut &b, b"x").unwrap();
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        let got: Vec<Event> = events.iter().collect();
        assert!(
            got.len() == 1 && got[0].readable && !got[0].exceptional,
            "{got:?}"
        );
        drop(b);
        poller.wait(&mut events, Some(Duration::ZERO)).unwrap();
        let got: Vec<Event> = events.iter().collect();
        assert!(
            got.len() == 1 && got[0].readable && got[0].exceptional,
            "{got:?}"
        );
        poller.delete(a.as_fd()).unwrap();
    }
}
