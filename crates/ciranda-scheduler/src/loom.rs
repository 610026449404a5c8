//! The loom shim: the one place this crate's code takes its synchronisation primitives from —
//! `std`/`parking_lot` in normal builds, loom's instrumented ones under `cfg(loom)` — behind
//! one interface (a `Mutex` whose `lock()` returns the guard directly, a `Condvar` that waits
//! on it, an `UnsafeCell` with loom's closure access). See `docs/CONVENTIONS.md`.
//!
//! Models: `src/loom_models/`. Run them with
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test -p ciranda-scheduler --release --lib --tests`

#[cfg(not(loom))]
mod imp {
    pub(crate) mod atomic {
        pub(crate) use std::sync::atomic::{
            AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }

    /// A mutex whose `lock` returns the guard directly in both builds.
    pub(crate) type Mutex<T> = parking_lot::Mutex<T>;
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    /// A condition variable paired with [`Mutex`].
    #[derive(Default)]
    pub(crate) struct Condvar(parking_lot::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(parking_lot::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            self.0.wait(guard);
        }
        /// Returns `true` when the wait timed out.
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            timeout: std::time::Duration,
        ) -> bool {
            self.0.wait_for(guard, timeout).timed_out()
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }

    /// `UnsafeCell` with loom's closure-based access, so loom can track each access.
    #[derive(Debug)]
    pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

    impl<T> UnsafeCell<T> {
        pub(crate) const fn new(value: T) -> Self {
            Self(std::cell::UnsafeCell::new(value))
        }
        #[inline(always)]
        pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
            f(self.0.get())
        }
        #[inline(always)]
        pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
            f(self.0.get())
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::cell::UnsafeCell;
    pub(crate) use loom::sync::Arc;
    pub(crate) mod atomic {
        pub(crate) use loom::sync::atomic::{
            AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering, fence,
        };
    }

    /// `loom::sync::Mutex` behind the shim's interface (no poisoning).
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Self(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // Poisoning means a panic under one of our locks, a bug loom reports anyway.
            self.0.lock().expect("loom mutex poisoned")
        }
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock().ok()
        }
    }

    impl<T: Default> Default for Mutex<T> {
        fn default() -> Self {
            Self::new(T::default())
        }
    }

    /// loom's condition variable behind the `parking_lot`-style interface.
    #[derive(Debug, Default)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Self(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<T>(&self, guard: &mut MutexGuard<'_, T>) {
            // loom's condvar consumes and returns the guard; swap it through a raw read/write.
            // SAFETY: `guard` is read out and immediately replaced with the guard `wait`
            // returns; nothing can observe the moved-from slot in between (no panic path:
            // loom's `wait` only errs on poisoning, which cannot happen without a panic).
            unsafe {
                let taken = std::ptr::read(guard);
                let back = self.0.wait(taken).unwrap();
                std::ptr::write(guard, back);
            }
        }
        pub(crate) fn wait_for<T>(
            &self,
            guard: &mut MutexGuard<'_, T>,
            _timeout: std::time::Duration,
        ) -> bool {
            // loom has no time: a timed wait is modelled as a wait that may also return
            // spuriously, which every caller must tolerate anyway.
            self.wait(guard);
            false
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::*;

impl Condvar {
    /// Waits on `guard` while `waiting` holds for the guarded value, until `deadline` if there
    /// is one (then it returns with `waiting` possibly still true). Shutdown's waits for
    /// threads to exit, bounded or not.
    pub(crate) fn wait_while_until<T>(
        &self,
        guard: &mut MutexGuard<'_, T>,
        deadline: Option<std::time::Instant>,
        mut waiting: impl FnMut(&T) -> bool,
    ) {
        while waiting(guard) {
            match deadline {
                None => self.wait(guard),
                Some(deadline) => {
                    let now = std::time::Instant::now();
                    if now >= deadline {
                        return;
                    }
                    self.wait_for(guard, deadline - now);
                }
            }
        }
    }
}
