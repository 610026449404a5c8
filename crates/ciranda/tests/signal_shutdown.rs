//! `ciranda::signal::ctrl_c()` polled after the runtime it was first polled in has shut down.
//! Alone in its binary: listening for `SIGINT` replaces its default action for the process.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::Poll;

/// The error of a `ctrl_c()` first polled (so bound) in a runtime that is then dropped, and
/// polled again in another runtime; `keep_handle`: a handle of the first runtime outlives it
/// (its reactor then still exists, but no runtime thread drives it).
fn error_after_shutdown(flavor: ciranda::Flavor, keep_handle: bool) -> io::Error {
    let first = ciranda::Runtime::builder().flavor(flavor).build().unwrap();
    let handle = keep_handle.then(|| first.handle());
    let mut interrupted = ciranda::signal::ctrl_c();
    first.block_on(poll_fn(|cx| {
        assert!(Pin::new(&mut interrupted).poll(cx).is_pending());
        Poll::Ready(())
    }));
    drop(first);
    let second = ciranda::Runtime::builder().flavor(flavor).build().unwrap();
    let error = second
        .block_on(interrupted)
        .expect_err("a ctrl_c() of a runtime that shut down completed");
    drop(handle);
    error
}

/// The error used to be the reactor's generic one, of kind `Other`, about "I/O objects" and
/// "create sockets inside the runtime that uses them", which names nothing the caller did.
#[test]
fn ctrl_c_after_its_runtime_shut_down_says_so() {
    for flavor in [ciranda::Flavor::MultiThread, ciranda::Flavor::CurrentThread] {
        for keep_handle in [false, true] {
            let error = error_after_shutdown(flavor, keep_handle);
            let message = error.to_string();
            assert_eq!(
                error.kind(),
                io::ErrorKind::BrokenPipe,
                "{flavor:?}, handle kept: {keep_handle}: {message}"
            );
            assert!(
                message.contains("signal")
                    && message.contains("has shut down")
                    && message.contains("needs a running runtime")
                    && !message.contains("socket"),
                "{flavor:?}, handle kept: {keep_handle}: {message}"
            );
        }
    }
}
