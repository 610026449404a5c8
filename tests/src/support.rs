//! Helpers shared by the test files in `tests/`: each was copied into several of them before.

use std::sync::Once;
use std::time::{Duration, Instant};

/// Runs `f` on its own thread and returns its result, or panics naming `what` if it has not
/// finished after `secs` seconds: a hang or a deadlock fails the test instead of stalling the
/// suite. A panic in `f` is resumed on the caller's thread.
///
/// ```
/// let sum = ciranda_tests::support::within(5, "adding", || 1 + 1);
/// assert_eq!(sum, 2);
/// ```
pub fn within<T: Send + 'static>(
    secs: u64,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)));
    });
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(Ok(v)) => v,
        Ok(Err(panic)) => std::panic::resume_unwind(panic),
        Err(_) => panic!("{what}: did not finish within {secs} s (a hang or a deadlock)"),
    }
}

/// The message of a panic payload (`panic!` with a literal gives a `&str`, with arguments a
/// `String`); empty for any other payload.
///
/// ```
/// let caught = std::panic::catch_unwind(|| panic!("lost {}", 7)).unwrap_err();
/// assert_eq!(ciranda_tests::support::panic_message(&*caught), "lost 7");
/// ```
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_default()
}

/// Installs, once per process, a panic hook that stays silent for panics whose message
/// contains `mark` (the ones a test provokes on purpose) and reports every other panic as
/// usual. Call it at the start of each test that panics on purpose; the first call's `mark`
/// is the one used.
///
/// ```
/// ciranda_tests::support::quiet_expected_panics("expected in this doctest");
/// let caught = std::panic::catch_unwind(|| panic!("expected in this doctest"));
/// assert!(caught.is_err());
/// ```
pub fn quiet_expected_panics(mark: &'static str) {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !panic_message(info.payload()).contains(mark) {
                default(info);
            }
        }));
    });
}

/// Waits until `cond` holds, checking every millisecond; panics naming `what` after 30 s.
/// For states another thread reaches soon but not at once (a worker parking, a thread
/// exiting).
///
/// ```
/// let start = std::time::Instant::now();
/// ciranda_tests::support::wait_until("a millisecond passed", || {
///     start.elapsed() >= std::time::Duration::from_millis(1)
/// });
/// ```
pub fn wait_until(what: &str, cond: impl Fn() -> bool) {
    wait_until_within(30, what, cond);
}

/// [`wait_until`] with a deadline of `secs` seconds.
///
/// ```
/// ciranda_tests::support::wait_until_within(1, "true", || true);
/// ```
pub fn wait_until_within(secs: u64, what: &str, cond: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Live threads of this process whose name starts with `prefix` (0 where there is no
/// `/proc/self/task`). The listing can skip a live thread while other threads exit: a count
/// may come out low, never high.
///
/// ```
/// assert_eq!(ciranda_tests::support::threads_named("no-thread-is-named-so"), 0);
/// ```
pub fn threads_named(prefix: &str) -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    dir.filter_map(|e| std::fs::read_to_string(e.ok()?.path().join("comm")).ok())
        .filter(|comm| comm.starts_with(prefix))
        .count()
}

/// What a [`hooked_waker`]'s copies share: its hooks and counters.
struct Hooks {
    on_clone: Box<dyn Fn() + Send + Sync>,
    // In a mutex only to make `Hooks` `Sync`, as a waker must be.
    on_drop: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
    stats: std::sync::Arc<WakerStats>,
}

/// Observes a [`hooked_waker`] without keeping it alive.
#[derive(Debug, Default)]
pub struct WakerStats {
    clones: std::sync::atomic::AtomicUsize,
    dropped: std::sync::atomic::AtomicBool,
}

impl WakerStats {
    /// How many times the waker was cloned.
    pub fn clones(&self) -> usize {
        self.clones.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Whether some copy of the waker is still alive (held by a primitive, or by the test).
    pub fn alive(&self) -> bool {
        !self.dropped.load(std::sync::atomic::Ordering::SeqCst)
    }
}

impl Drop for Hooks {
    fn drop(&mut self) {
        if let Some(f) = self.on_drop.get_mut().unwrap().take() {
            f();
        }
        self.stats
            .dropped
            .store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// A waker whose every `clone` runs `on_clone`, and whose last copy runs `on_drop` when it is
/// dropped (or consumed by `wake`). Waking does nothing else: the tests that use it poll by
/// hand. Foreign code of the kind users' wakers run: a primitive that clones or drops a waker
/// while it holds its own lock deadlocks when `on_clone` or `on_drop` calls back into it.
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use std::sync::Arc;
/// let dropped = Arc::new(AtomicBool::new(false));
/// let flag = dropped.clone();
/// let (waker, stats) =
///     ciranda_tests::support::hooked_waker(|| {}, move || flag.store(true, Ordering::SeqCst));
/// let copy = waker.clone();
/// assert_eq!(stats.clones(), 1);
/// drop(waker);
/// assert!(stats.alive() && !dropped.load(Ordering::SeqCst));
/// drop(copy);
/// assert!(!stats.alive() && dropped.load(Ordering::SeqCst));
/// ```
pub fn hooked_waker(
    on_clone: impl Fn() + Send + Sync + 'static,
    on_drop: impl FnOnce() + Send + 'static,
) -> (std::task::Waker, std::sync::Arc<WakerStats>) {
    let stats = std::sync::Arc::new(WakerStats::default());
    let hooks = std::sync::Arc::new(Hooks {
        on_clone: Box::new(on_clone),
        on_drop: std::sync::Mutex::new(Some(Box::new(on_drop))),
        stats: stats.clone(),
    });
    let raw = std::task::RawWaker::new(std::sync::Arc::into_raw(hooks).cast(), &HOOKED_VTABLE);
    // SAFETY: `raw` owns one strong count of an `Arc<Hooks>`, and HOOKED_VTABLE treats the
    // data pointer exactly as that (see the functions below).
    (unsafe { std::task::Waker::from_raw(raw) }, stats)
}

static HOOKED_VTABLE: std::task::RawWakerVTable =
    std::task::RawWakerVTable::new(clone_hooked, wake_hooked, wake_hooked_by_ref, drop_hooked);

unsafe fn clone_hooked(data: *const ()) -> std::task::RawWaker {
    let data = data.cast::<Hooks>();
    // SAFETY: `data` came from `Arc::into_raw` and the caller's waker still owns its count.
    unsafe { std::sync::Arc::increment_strong_count(data) };
    // SAFETY: as above, the pointee is alive while the caller's waker is.
    let hooks = unsafe { &*data };
    hooks
        .stats
        .clones
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    (hooks.on_clone)();
    std::task::RawWaker::new(data.cast(), &HOOKED_VTABLE)
}

unsafe fn wake_hooked(data: *const ()) {
    // SAFETY: `wake` consumes the waker: both calls use its one count.
    unsafe {
        wake_hooked_by_ref(data);
        drop_hooked(data);
    }
}

unsafe fn wake_hooked_by_ref(_data: *const ()) {}

unsafe fn drop_hooked(data: *const ()) {
    // SAFETY: gives back the count owned by the waker being dropped.
    unsafe { std::sync::Arc::decrement_strong_count(data.cast::<Hooks>()) };
}
