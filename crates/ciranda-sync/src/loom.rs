//! The loom shim: the one place this crate's code takes its synchronisation primitives from —
//! `std`/`parking_lot` in normal builds, loom's instrumented ones under `cfg(loom)` — behind
//! one interface (a `Mutex` whose `lock()` returns the guard directly). See
//! `docs/CONVENTIONS.md`.
//!
//! Models: `tests/loom.rs`. Run them with
//! `CARGO_TARGET_DIR=target/loom RUSTFLAGS="--cfg loom -C debug-assertions" LOOM_MAX_PREEMPTIONS=2 cargo test -p ciranda-sync --release --lib --tests`

#[cfg(not(loom))]
mod imp {
    pub(crate) use std::sync::Arc;
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

    /// `parking_lot::Mutex` behind the shim's interface.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(parking_lot::Mutex<T>);

    /// The guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = parking_lot::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) const fn new(value: T) -> Self {
            Mutex(parking_lot::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock()
        }

        /// The guard if the lock is free now; `None` if another thread holds it.
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            self.0.try_lock()
        }
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};

    /// `loom::sync::Mutex` behind the shim's interface (no poisoning), with a loom atomic
    /// that says whether it is held. `try_lock` reads that flag, so loom explores a
    /// `try_lock` that finds the lock taken against every point of the holder's critical
    /// section (loom's own `try_lock` is an opaque branch, which its search does not line up
    /// against the holder's unlock).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T> {
        inner: loom::sync::Mutex<T>,
        held: AtomicBool,
    }

    /// The guard returned by [`Mutex::lock`]: clears the flag, then unlocks.
    pub(crate) struct MutexGuard<'a, T> {
        guard: Option<loom::sync::MutexGuard<'a, T>>,
        held: &'a AtomicBool,
    }

    impl<T> core::ops::Deref for MutexGuard<'_, T> {
        type Target = T;
        fn deref(&self) -> &T {
            self.guard.as_ref().expect("a live guard")
        }
    }

    impl<T> core::ops::DerefMut for MutexGuard<'_, T> {
        fn deref_mut(&mut self) -> &mut T {
            self.guard.as_mut().expect("a live guard")
        }
    }

    impl<T> Drop for MutexGuard<'_, T> {
        fn drop(&mut self) {
            // Unwinding from a failed model (loom reports a deadlock with a panic): a loom
            // operation now would panic again and abort the whole test binary.
            if !std::thread::panicking() {
                self.held.store(false, Ordering::SeqCst);
            }
            drop(self.guard.take());
        }
    }

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex {
                inner: loom::sync::Mutex::new(value),
                held: AtomicBool::new(false),
            }
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // Poisoning means a panic under one of our locks, a bug loom reports anyway.
            let guard = self.inner.lock().expect("loom mutex poisoned");
            self.held.store(true, Ordering::SeqCst);
            MutexGuard {
                guard: Some(guard),
                held: &self.held,
            }
        }

        /// `None` if the lock is held. A lock taken between the look and the locking makes
        /// this wait for it instead (a real `try_lock` would fail): the callers' protocols
        /// hold either way, as the holder never waits for a `try_lock` caller.
        pub(crate) fn try_lock(&self) -> Option<MutexGuard<'_, T>> {
            if self.held.load(Ordering::SeqCst) {
                return None;
            }
            Some(self.lock())
        }
    }
}

pub(crate) use imp::*;

/// A cell whose accesses loom checks for races; in normal builds a plain `UnsafeCell` with
/// loom's closure API, so one body serves both.
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(core::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        UnsafeCell(core::cell::UnsafeCell::new(value))
    }

    /// Runs `f` on a shared pointer to the contents.
    #[inline(always)]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }

    /// Runs `f` on a mutable pointer to the contents.
    #[inline(always)]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Defines functions that are `const fn` in normal builds and plain `fn` under `cfg(loom)`,
/// whose primitives have no `const` constructors — one body for both, so that
/// `static LOCK: Mutex<()> = Mutex::new(());` works and loom still builds.
macro_rules! const_fn {
    ($($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block)*) => {
        $(
            #[cfg(not(loom))]
            $(#[$attr])*
            $vis const fn $name($($arg: $ty),*) -> $ret $body

            #[cfg(loom)]
            $(#[$attr])*
            $vis fn $name($($arg: $ty),*) -> $ret $body
        )*
    };
}
pub(crate) use const_fn;
