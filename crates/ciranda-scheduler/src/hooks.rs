//! User callbacks the runtime calls on its own threads, and the guard that contains their
//! panics.

use crate::report::{drop_payload, report};
use crate::task::{JoinError, panic_message};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

/// A callback run on each runtime thread when it starts or stops.
pub(crate) type ThreadHook = Arc<dyn Fn() + Send + Sync>;
/// A callback for panics nobody will read.
pub(crate) type PanicHook = Arc<dyn Fn(&JoinError) + Send + Sync>;

/// Calls a user hook (`name` is its builder option) on a runtime thread. A panic in it is
/// contained: reported on stderr with the hook's name, and the thread carries on — a hook
/// must never take a worker (or the shutdown that waits for it) down with it.
pub(crate) fn call_hook(name: &str, hook: impl FnOnce()) {
    contain(hook, |message| {
        let thread = std::thread::current();
        report(format_args!(
            "the {name} hook panicked on thread {:?}: {message}; the panic was caught and \
             the thread carries on",
            thread.name().unwrap_or("<unnamed>")
        ));
    });
}

/// Runs `call`, foreign code (a hook, a `tracing` subscriber) called where nothing may
/// unwind out. A panic in it is caught: `report_panic` is given its message (to report on
/// stderr), the payload is dropped under a guard of its own (its destructor is foreign code
/// as well), and the result is `None`.
pub(crate) fn contain<R>(call: impl FnOnce() -> R, report_panic: impl FnOnce(&str)) -> Option<R> {
    let payload = match catch_unwind(AssertUnwindSafe(call)) {
        Ok(value) => return Some(value),
        Err(payload) => payload,
    };
    report_panic(panic_message(&*payload).unwrap_or("<non-string payload>"));
    drop_payload(payload);
    None
}
