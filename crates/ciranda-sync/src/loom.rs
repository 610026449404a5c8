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
    pub(crate) use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

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
    }
}

#[cfg(loom)]
mod imp {
    pub(crate) use loom::sync::Arc;
    pub(crate) use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

    /// `loom::sync::Mutex` behind the shim's interface (no poisoning).
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // Poisoning means a panic under one of our locks, a bug loom reports anyway.
            self.0.lock().expect("loom mutex poisoned")
        }
    }
}

pub(crate) use imp::*;

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
