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
            let payload = info.payload();
            let message = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            if !message.contains(mark) {
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
