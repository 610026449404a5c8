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
    let Err(payload) = catch_unwind(AssertUnwindSafe(hook)) else {
        return;
    };
    let message = panic_message(&*payload).unwrap_or("<non-string payload>");
    let thread = std::thread::current();
    report(format_args!(
        "the {name} hook panicked on thread {:?}: {message}; the panic was caught and the \
         thread carries on",
        thread.name().unwrap_or("<unnamed>")
    ));
    // The payload's destructor is user code as well: contain it too.
    drop_payload(payload);
}
