//! Reports that the runtime writes to stderr, and the disposal of panic payloads — both on
//! worker threads, where nothing may unwind.
//!
//! `eprintln!` panics when stderr fails (a closed pipe: `prog 2>&1 | head`), and a panic
//! payload's destructor is user code that may panic again. Either would unwind out of a
//! worker and kill it, or, during an unwind, abort the process. These two functions are the
//! only way the scheduler writes a report or drops a payload it caught.

use std::any::Any;
use std::fmt;
use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Writes `ciranda: {message}` and a newline to stderr, ignoring a failing stderr.
///
/// Through `eprintln!` where that is safe, so a test harness that captures output captures
/// the report too; its panic on a failing stderr is caught. While the thread unwinds, a
/// second panic would abort the process, and with `panic = "abort"` any panic does: there
/// the report goes straight to the stderr handle, whose error is ignored.
pub(crate) fn report(message: fmt::Arguments<'_>) {
    if cfg!(not(panic = "unwind")) || std::thread::panicking() {
        let _ = writeln!(std::io::stderr(), "ciranda: {message}");
    } else if let Err(payload) = catch_unwind(AssertUnwindSafe(|| eprintln!("ciranda: {message}")))
    {
        drop_payload(payload);
    }
}

/// Drops a caught panic payload without letting its destructor unwind any further. A payload
/// whose destructor panicked in turn is leaked: dropping that one could panic the same way.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    if let Err(again) = catch_unwind(AssertUnwindSafe(move || drop(payload))) {
        std::mem::forget(again);
    }
}

/// Drops `value` (user data: a task's output, a future) and returns the panic of its
/// destructor, if any.
pub(crate) fn drop_caught<T>(value: T) -> Result<(), Box<dyn Any + Send>> {
    catch_unwind(AssertUnwindSafe(move || drop(value)))
}
