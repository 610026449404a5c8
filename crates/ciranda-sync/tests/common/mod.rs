//! Test helpers: a thread-parking `block_on` and a waker that counts its wake-ups.
#![allow(dead_code)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::Thread;

struct ThreadWaker(Thread);

impl Wake for ThreadWaker {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

/// Drives `fut` to completion on the current thread.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let waker = Waker::from(Arc::new(ThreadWaker(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
        std::thread::park();
    }
}

#[derive(Default)]
struct Count(AtomicUsize);

impl Wake for Count {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A hand-driven "task": polls a boxed future with a waker that counts wake-ups.
pub struct Task<F: Future> {
    fut: Pin<Box<F>>,
    count: Arc<Count>,
    waker: Waker,
}

impl<F: Future> Task<F> {
    pub fn new(fut: F) -> Self {
        let count = Arc::new(Count::default());
        let waker = Waker::from(count.clone());
        Task {
            fut: Box::pin(fut),
            count,
            waker,
        }
    }

    pub fn poll(&mut self) -> Poll<F::Output> {
        let mut cx = Context::from_waker(&self.waker);
        self.fut.as_mut().poll(&mut cx)
    }

    /// Polls and expects `Pending`.
    #[track_caller]
    pub fn pending(&mut self) {
        assert!(self.poll().is_pending(), "expected Pending");
    }

    /// Polls and expects `Ready`, returning the output.
    #[track_caller]
    pub fn ready(&mut self) -> F::Output {
        match self.poll() {
            Poll::Ready(v) => v,
            Poll::Pending => panic!("expected Ready"),
        }
    }

    /// The future itself, pinned: to call its own methods between polls.
    pub fn future(&mut self) -> Pin<&mut F> {
        self.fut.as_mut()
    }

    /// How many times this task was woken so far.
    pub fn wakes(&self) -> usize {
        self.count.0.load(Ordering::SeqCst)
    }

    pub fn is_woken(&self) -> bool {
        self.wakes() > 0
    }
}

/// A foreign waker that calls back into a primitive and panics when a clone is dropped: its
/// `clone` runs `on_clone` (foreign code may, as the waker docs allow), and the clones it makes
/// panic when dropped (as a waker's drop does when it owns a guard whose release wakes a
/// panicking waker). The waker returned drops quietly, and waking a clone does not panic.
pub fn calls_back_on_clone(on_clone: impl Fn() + Send + Sync + 'static) -> Waker {
    use std::task::{RawWaker, RawWakerVTable};

    type Callback = Box<dyn Fn() + Send + Sync>;
    static ORIGINAL: RawWakerVTable = RawWakerVTable::new(clone, wake, noop, release);
    static CLONE: RawWakerVTable = RawWakerVTable::new(clone, wake, noop, release_panics);

    unsafe fn clone(data: *const ()) -> RawWaker {
        let data = data.cast::<Callback>();
        // SAFETY: `data` came from `Arc::into_raw` and the waker being cloned holds a count.
        unsafe {
            Arc::increment_strong_count(data);
            (*data)();
        }
        RawWaker::new(data.cast(), &CLONE)
    }

    unsafe fn wake(data: *const ()) {
        // SAFETY: waking consumes the waker and its count.
        unsafe { release(data) }
    }

    unsafe fn noop(_: *const ()) {}

    unsafe fn release(data: *const ()) {
        // SAFETY: the waker being dropped holds one count of the `Arc`.
        drop(unsafe { Arc::from_raw(data.cast::<Callback>()) });
    }

    unsafe fn release_panics(data: *const ()) {
        // SAFETY: as in `release`; the count goes first, so that the panic leaks nothing.
        unsafe { release(data) };
        panic!("expected test panic: waker drop");
    }

    let callback: Callback = Box::new(on_clone);
    let data = Arc::into_raw(Arc::new(callback)).cast::<()>();
    // SAFETY: every vtable function keeps the contract of `RawWaker`: each waker owns one
    // count of the `Arc` behind `data`, which is `Send + Sync`.
    unsafe { Waker::from_raw(RawWaker::new(data, &ORIGINAL)) }
}

impl<F: Future> Task<F> {
    /// Polls once with `waker` instead of the counting one, expecting the poll to panic in the
    /// drop of a [`calls_back_on_clone`] waker's clone.
    #[track_caller]
    pub fn poll_panics_with(&mut self, waker: &Waker) {
        let mut cx = Context::from_waker(waker);
        let fut = self.fut.as_mut();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(&mut cx)));
        let payload = polled.err().expect("the poll dropped a clone of the waker");
        assert_eq!(
            payload.downcast_ref::<&str>(),
            Some(&"expected test panic: waker drop")
        );
    }
}

struct PanicsOnWake(AtomicUsize);

impl Wake for PanicsOnWake {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("expected test panic: wake");
    }
}

/// A waker that counts its wake-ups and panics in each ("expected test panic: wake"); the
/// returned closure reads the count.
pub fn panics_on_wake() -> (Waker, impl Fn() -> usize) {
    let count = Arc::new(PanicsOnWake(AtomicUsize::new(0)));
    let read = {
        let count = count.clone();
        move || count.0.load(Ordering::SeqCst)
    };
    (Waker::from(count), read)
}

struct CallsBackOnDrop(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Wake for CallsBackOnDrop {
    fn wake(self: Arc<Self>) {}
}

impl Drop for CallsBackOnDrop {
    fn drop(&mut self) {
        if let Some(on_drop) = self.0.take() {
            on_drop();
        }
    }
}

/// A foreign waker that runs `on_drop` when its last clone is dropped (a waker owning a guard
/// whose release calls back into the primitive); waking it does nothing.
pub fn calls_back_on_drop(on_drop: impl FnOnce() + Send + Sync + 'static) -> Waker {
    Waker::from(Arc::new(CallsBackOnDrop(Some(Box::new(on_drop)))))
}

impl<F: Future> Task<F> {
    /// Polls once with `waker` instead of the counting one.
    pub fn poll_with(&mut self, waker: &Waker) -> Poll<F::Output> {
        self.fut.as_mut().poll(&mut Context::from_waker(waker))
    }

    /// Polls once and expects the poll to panic; returns the panic's message.
    #[track_caller]
    pub fn poll_panics(&mut self) -> String {
        let mut cx = Context::from_waker(&self.waker);
        let fut = self.fut.as_mut();
        let polled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| fut.poll(&mut cx)));
        let payload = polled.err().expect("the poll panicked");
        panic_message(&*payload)
    }
}

/// The message of a panic payload (`&str` or `String`).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .expect("a panic message")
}

/// Runs `body` on a thread of its own and returns its result; fails the test if the body has
/// not finished after 10 s (a deadlock: the thread is left behind). A panic in the body goes on
/// into the caller.
pub fn within_10s<R: Send + 'static>(body: impl FnOnce() -> R + Send + 'static) -> R {
    let (done, finished) = std::sync::mpsc::channel::<()>();
    let thread = std::thread::spawn(move || {
        // Dropped, disconnecting the channel, when the body returns or unwinds.
        let _done = done;
        body()
    });
    let waited = finished.recv_timeout(std::time::Duration::from_secs(10));
    assert!(
        waited != Err(std::sync::mpsc::RecvTimeoutError::Timeout),
        "not finished after 10 s: deadlocked"
    );
    match thread.join() {
        Ok(result) => result,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// Runs `scenario` in a child process of this test binary, which re-runs the test named
/// `test` (the caller, which must call this first): a process abort there (a panic while
/// unwinding) then fails the test instead of killing the whole test binary. Under Miri, which
/// starts no processes, the scenario runs in this one.
pub fn in_child_process(test: &str, scenario: impl FnOnce()) {
    const CHILD: &str = "CIRANDA_SYNC_TEST_CHILD";
    const DONE: &str = "child scenario done";
    if cfg!(miri) || std::env::var_os(CHILD).is_some() {
        scenario();
        println!("{DONE}");
        return;
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success() && stdout.contains(DONE),
        "child failed ({:?}); its stdout:\n{stdout}\nits stderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
}
