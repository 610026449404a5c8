//! A `TaskGroup` whose members are cancelled on a thread that unwinds from an unrelated panic:
//! a current-thread runtime driven from a cleanup guard's destructor.

#![cfg(not(loom))]

use ciranda::task::TaskGroup;
use std::future::pending;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};

/// Runs its closure when dropped; the test drops it while unwinding.
struct Cleanup(Option<Box<dyn FnOnce()>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        assert!(std::thread::panicking());
        if let Some(cleanup) = self.0.take() {
            cleanup();
        }
    }
}

/// A member aborted from outside is listed in `GroupError::cancelled()` and cancels nobody
/// else; also when its future is dropped on a thread unwinding from a panic that is not the
/// member's. The group took every member dropped while the thread was panicking for one that
/// panicked itself, unless the member had also last been polled during that panic: a member
/// polled before the panic and aborted in a cleanup guard's `block_on` failed the group, which
/// cancelled the other members (here the sibling never ran to its `Ok`). A member now fails
/// the group only when its own poll unwinds.
#[test]
fn a_member_aborted_on_an_unwinding_thread_does_not_fail_its_group() {
    let rt = Arc::new(current_thread());
    let gate = Arc::new(ciranda::sync::Event::new());
    let sibling_ran = Arc::new(AtomicBool::new(false));
    let mut group = TaskGroup::<u32, String>::new();
    let victim = rt.block_on(async {
        let victim = group.spawn(pending());
        let (gate, ran) = (gate.clone(), sibling_ran.clone());
        group.spawn(async move {
            gate.wait().await;
            ran.store(true, SeqCst);
            Ok(1)
        });
        ciranda::task::yield_now().await; // both members have run once, before any panic
        victim
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let runtime = rt.clone();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _cleanup = Cleanup(Some(Box::new(move || {
            let report = runtime.block_on(async move {
                let id = victim.id();
                victim.abort();
                gate.set();
                let error = group.join().await.unwrap_err();
                (
                    error.cancelled() == [id],
                    error.errors().len(),
                    error.panics().len(),
                )
            });
            tx.send(report).unwrap();
        })));
        panic!("the test body fails (expected by this test)");
    }));
    assert!(unwound.is_err());
    let (listed, errors, panics) = rx.recv().unwrap();
    assert!(listed, "the aborted member is listed as cancelled");
    assert_eq!((errors, panics), (0, 0));
    assert!(
        sibling_ran.load(SeqCst),
        "the abort failed the group, which cancelled the other member"
    );
}

/// A member that panics still fails its group at once (before `join` is awaited), also when
/// it panics in a poll on a thread that was already unwinding.
#[test]
fn a_member_that_panics_on_an_unwinding_thread_still_fails_its_group_at_once() {
    let rt = Arc::new(current_thread());
    let (tx, rx) = std::sync::mpsc::channel();
    let runtime = rt.clone();
    let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
        let _cleanup = Cleanup(Some(Box::new(move || {
            let report = runtime.block_on(a_member_panics("the member's own panic"));
            tx.send(report).unwrap();
        })));
        panic!("the test body fails (expected by this test)");
    }));
    assert!(unwound.is_err());
    assert_eq!(rx.recv().unwrap(), (true, 1, 0));
}

/// And on a thread that is not unwinding, a member's panic fails the group at once too.
#[test]
fn a_member_that_panics_fails_its_group_at_once() {
    let rt = current_thread();
    let report = rt.block_on(a_member_panics(
        "the member's own panic (expected by this test)",
    ));
    assert_eq!(report, (true, 1, 0));
}

/// A group of a pending sibling and a member that panics with `message`: whether the sibling
/// was cancelled before `join` was polled (both run once first), then the number of panics
/// and of cancellations `join`'s error lists.
async fn a_member_panics(message: &'static str) -> (bool, usize, usize) {
    let mut group = TaskGroup::<u32, String>::new();
    let sibling = group.spawn(pending());
    group.spawn(async move { panic!("{message}") });
    ciranda::task::yield_now().await;
    ciranda::task::yield_now().await;
    let cancelled_at_once = sibling.is_finished();
    let error = group.join().await.unwrap_err();
    (
        cancelled_at_once,
        error.panics().len(),
        error.cancelled().len(),
    )
}

/// A current-thread runtime: the flavor a cleanup guard drives with `block_on`.
fn current_thread() -> ciranda::Runtime {
    ciranda::Runtime::builder()
        .flavor(ciranda::Flavor::CurrentThread)
        .build()
        .unwrap()
}
