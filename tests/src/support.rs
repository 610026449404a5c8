//! Helpers shared by the test files in `tests/`: each was copied into several of them before.

use std::sync::Once;
use std::time::Duration;

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
