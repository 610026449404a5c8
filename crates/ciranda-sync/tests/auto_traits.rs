//! `Send`/`Sync` of the public types, checked at compile time.
//!
//! The positive side lives here (a type that should be `Send`/`Sync` for ordinary `T`); the
//! negative side — a guard must not be `Sync` for a `T` that is `Sync` but not `Send` — is
//! pinned by the `compile_fail` doctests on `MutexGuard` and `OwnedMutexGuard`.

use ciranda_sync::{
    Barrier, BarrierWait, BarrierWaitChecked, BrokenBarrierError, Condition, Event, EventWait, Get,
    GetChecked, Join, Mutex, MutexGuard, Notified, Notify, OwnedMutexGuard, OwnedSemaphorePermit,
    Promise, PromiseWait, Put, PutChecked, Queue, QueueShutDown, RwLock, RwLockReadGuard,
    RwLockWriteGuard, Semaphore, SemaphorePermit, TryPutCheckedError, mpsc, oneshot,
};
use std::cell::Cell;

fn send<T: Send>() {}
fn sync<T: Sync>() {}
fn both<T: Send + Sync>() {}

#[test]
fn primitives_and_their_futures_are_send_and_sync() {
    both::<Mutex<u8>>();
    both::<RwLock<u8>>();
    both::<Semaphore>();
    both::<Notify>();
    both::<Notified<'static>>();
    both::<Event>();
    both::<EventWait<'static>>();
    both::<Condition>();
    both::<Barrier>();
    both::<BarrierWait<'static>>();
    both::<BarrierWaitChecked<'static>>();
    both::<BrokenBarrierError>();
    both::<Promise<u8>>();
    both::<PromiseWait<'static, u8>>();
    both::<Queue<u8>>();
    both::<Put<'static, u8>>();
    both::<PutChecked<'static, u8>>();
    both::<Get<'static, u8>>();
    both::<GetChecked<'static, u8>>();
    both::<Join<'static, u8>>();
    both::<QueueShutDown<u8>>();
    both::<TryPutCheckedError<u8>>();
    both::<oneshot::Sender<u8>>();
    both::<oneshot::Receiver<u8>>();
    both::<mpsc::Sender<u8>>();
    both::<mpsc::Receiver<u8>>();
    both::<mpsc::UnboundedSender<u8>>();
    both::<mpsc::UnboundedReceiver<u8>>();
    // A `Send`-only value still makes a `Sync` mutex (it is the point of a mutex).
    sync::<Mutex<Cell<u8>>>();
}

#[test]
fn guards_and_permits() {
    both::<MutexGuard<'static, u8>>();
    both::<OwnedMutexGuard<u8>>();
    both::<RwLockReadGuard<'static, u8>>();
    both::<RwLockWriteGuard<'static, u8>>();
    both::<SemaphorePermit<'static>>();
    both::<OwnedSemaphorePermit>();
    // A guard of a `Send` but not `Sync` value may move to another thread with the lock.
    send::<MutexGuard<'static, Cell<u8>>>();
    send::<OwnedMutexGuard<Cell<u8>>>();
    send::<RwLockWriteGuard<'static, Cell<u8>>>();
}
