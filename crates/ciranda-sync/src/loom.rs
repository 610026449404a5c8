//! The loom shim: the one place library code gets its synchronisation primitives from.
//!
//! In a normal build it re-exports `std` atomics and `Arc` and wraps `parking_lot::Mutex`; under
//! `cfg(loom)` it re-exports loom's instrumented versions. Both builds expose the same interface:
//! [`Mutex::lock`] returns the guard directly (no poisoning).
//!
//! Exception: the coop hook (`crate::coop`) is a process-wide configuration cell, not part of any
//! protocol, so it uses `core` atomics directly in both builds.

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
        pub(crate) fn new(value: T) -> Self {
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

    /// `loom::sync::Mutex` behind the shim's interface.
    #[derive(Debug, Default)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    /// The guard returned by [`Mutex::lock`].
    pub(crate) type MutexGuard<'a, T> = loom::sync::MutexGuard<'a, T>;

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }

        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            // A panic while holding one of our internal locks is a bug in this crate; loom
            // reports it anyway, so poisoning is just unwrapped here.
            self.0.lock().unwrap()
        }
    }
}

pub(crate) use imp::*;
