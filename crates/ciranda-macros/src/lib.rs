//! The `#[ciranda::main]` and `#[ciranda::test]` attributes: `asyncio.run(main())` and
//! `pytest-asyncio` for [ciranda](https://github.com/ciranda-rs/ciranda).
//!
//! **Use them through the `ciranda` crate**, which re-exports them as `ciranda::main` and
//! `ciranda::test`; do not depend on this crate directly. The generated code calls the runtime
//! through the absolute path `::ciranda`, so `ciranda` must be a dependency of the crate that
//! uses the attributes, under that name.
//!
//! | asyncio / pytest | ciranda |
//! |---|---|
//! | `asyncio.run(main())` | `#[ciranda::main] async fn main()` |
//! | `@pytest.mark.asyncio` | `#[ciranda::test] async fn name()` (a fresh runtime per test) |
//! | a fake event-loop clock in tests | `#[ciranda::test(start_paused = true)]` |
//!
//! The examples on this page are not compiled by this crate's doctests: they need the `ciranda`
//! crate, which itself depends on this one.
//!
//! # `#[ciranda::main]`
//!
//! Placed on an `async fn` without arguments, it turns it into an ordinary function that starts
//! a multi-threaded ciranda runtime, runs the body on it until it completes, and returns the
//! body's output. The return type is kept, so `main` can return a `Result`:
//!
//! ```ignore
//! use std::time::Duration;
//!
//! #[ciranda::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let task = ciranda::spawn(async {
//!         ciranda::time::sleep(Duration::from_millis(10)).await;
//!         "world"
//!     });
//!     println!("hello, {}", task.await?);
//!     Ok(())
//! }
//! ```
//!
//! expands to (up to hygiene and a few `#[allow]` lint attributes):
//!
//! ```ignore
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let body = async move {
//!         let output: Result<(), Box<dyn std::error::Error>> = {
//!             let task = ciranda::spawn(async { /* ... */ });
//!             println!("hello, {}", task.await?);
//!             Ok(())
//!         };
//!         return output;
//!     };
//!     let runtime = match ::ciranda::Runtime::builder().flavor(/* CIRANDA_FLAVOR */).build() {
//!         Ok(runtime) => runtime,
//!         Err(error) => panic!("ciranda: failed to start the runtime: {}", error),
//!     };
//!     runtime.block_on(body)
//! }
//! ```
//!
//! The body is checked against the declared return type exactly as the body of an `async fn`
//! would be (`?` converts errors into the declared error type; a wrong tail expression is
//! reported inside the body). Attributes, doc comments and visibility are kept. The function
//! does not have to be named `main`: the attribute can also turn a helper into a blocking
//! function.
//!
//! Options:
//!
//! - `flavor = "current_thread"` or `flavor = "multi_thread"`: the runtime's flavor
//!   (`ciranda::Flavor`). `current_thread` runs every task on the thread of `main`, in the
//!   order tasks were spawned or woken — asyncio's order, so the program's output is the same
//!   on every run. Without the option, the flavor comes from the environment variable
//!   **`CIRANDA_FLAVOR`** (`current_thread` or `multi_thread`; unset or empty means
//!   multi-thread; any other value panics naming the variable), read when the function starts:
//!   `CIRANDA_FLAVOR=current_thread cargo test` runs a whole suite of `#[ciranda::test]`s on
//!   the current-thread flavor without editing it. A written flavor always wins.
//! - `worker_threads = N`: the number of worker threads (an integer literal, at least 1 and at
//!   most `ciranda_scheduler::MAX_WORKERS`); the default is the runtime builder's (one per
//!   CPU). `#[ciranda::main(worker_threads = 2)]` becomes
//!   `::ciranda::Runtime::builder().flavor(..).worker_threads(2).build()`. It cannot
//!   be combined with `flavor = "current_thread"` (a compile error); on a current-thread
//!   runtime chosen by `CIRANDA_FLAVOR` it is ignored.
//! - `unhandled_panic = "shutdown" | "ignore"`: what a panic in a detached task does
//!   ([`Builder::unhandled_panic`](https://docs.rs/ciranda/latest/ciranda/runtime/struct.Builder.html#method.unhandled_panic)).
//!   With `"shutdown"` the runtime fails and the function panics with that task's message;
//!   `"ignore"`, like leaving the option out, reports the panic on stderr and carries on.
//!
//! # `#[ciranda::test]`
//!
//! Placed on an `async fn` without arguments, it makes it a `#[test]` that builds a **fresh
//! runtime for this test alone** and runs the body on it; the runtime is shut down when the test
//! ends, so no task, timer or socket leaks from one test into another.
//!
//! ```ignore
//! use std::time::Duration;
//!
//! #[ciranda::test]
//! async fn gather_keeps_the_order() {
//!     let results = ciranda::gather((1..=3).map(|i| async move { i * 10 })).await;
//!     assert_eq!(results, [10, 20, 30]);
//! }
//!
//! // The virtual clock: with every task idle, time jumps to the next timer, so this test
//! // takes microseconds, not an hour.
//! #[ciranda::test(start_paused = true)]
//! async fn an_hour_passes_at_once() {
//!     ciranda::time::sleep(Duration::from_secs(3600)).await;
//! }
//!
//! // Other attributes are kept, and tests may return a `Result`.
//! #[ciranda::test(worker_threads = 1)]
//! #[ignore = "needs the network"]
//! async fn fetch() -> std::io::Result<()> {
//!     let _stream = ciranda::net::TcpStream::connect("example.com:80").await?;
//!     Ok(())
//! }
//! ```
//!
//! `#[ciranda::test(start_paused = true)]` expands to (up to hygiene and a few `#[allow]` lint attributes):
//!
//! ```ignore
//! #[::core::prelude::v1::test]
//! fn an_hour_passes_at_once() {
//!     let body = async move {
//!         let output: () = {
//!             ciranda::time::sleep(Duration::from_secs(3600)).await;
//!         };
//!         return output;
//!     };
//!     let runtime = match ::ciranda::Runtime::builder()
//!         .flavor(/* CIRANDA_FLAVOR */)
//!         .start_paused(true)
//!         .build()
//!     {
//!         Ok(runtime) => runtime,
//!         Err(error) => panic!("ciranda: failed to start the runtime: {}", error),
//!     };
//!     runtime.block_on(body)
//! }
//! ```
//!
//! Options:
//!
//! - `flavor = "current_thread" | "multi_thread"`, `worker_threads = N` and
//!   `unhandled_panic = "shutdown" | "ignore"`: as for `#[ciranda::main]` (including
//!   `CIRANDA_FLAVOR` when no flavor is written); with `"shutdown"`, a test fails when a task
//!   it detached panics.
//! - `start_paused = true|false`: start the runtime on the virtual clock
//!   ([`Builder::start_paused`](https://docs.rs/ciranda/latest/ciranda/runtime/struct.Builder.html#method.start_paused));
//!   `false`, like leaving the option out, uses the real clock.
//! - `run_order_seed = N` (an integer literal; needs `flavor = "current_thread"` in the same
//!   attribute): run ready tasks in the seeded, replayable order of
//!   [`Builder::run_order_seed`](https://docs.rs/ciranda/latest/ciranda/runtime/struct.Builder.html#method.run_order_seed)
//!   instead of FIFO.
//!
//! `#[should_panic]`, `#[ignore]` and every other attribute go on the generated test unchanged.
//! Do not add `#[test]` yourself: `#[ciranda::test]` already does (a second test attribute is
//! an error).
//!
//! # Compile errors
//!
//! Misuse is reported at the offending code, with every problem at once:
//!
//! - a function without `async`: "the `async` keyword is missing from the function
//!   declaration", at `fn`;
//! - a function with arguments ("the main function cannot take arguments", "test functions
//!   cannot take arguments") or generics ("... cannot be generic");
//! - a `const` function ("... cannot be `const`", at `const`);
//! - an unknown option (the message lists the known ones), an option without a value, a value of
//!   the wrong kind (`worker_threads = "4"`, `start_paused = 1`), `worker_threads = 0` or above
//!   the scheduler's `MAX_WORKERS` (a constant assertion in the expansion), an option
//!   given twice, `start_paused` or `run_order_seed` on `#[ciranda::main]`, `run_order_seed`
//!   without `flavor = "current_thread"`;
//! - `#[test]` next to `#[ciranda::test]`, or a second main attribute (`#[ciranda::main]`,
//!   `#[tokio::main]`) next to `#[ciranda::main]`;
//! - the attribute on something that is not a function.
//!
//! When the function itself is wrong, the original function is still emitted next to the error
//! (so that its body keeps type-checking and IDE completion keeps working); when only an option is
//! wrong, the function is expanded without that option. Either way, the build fails with the
//! error and nothing else.

mod entry;
mod options;

#[cfg(test)]
mod tests;

use proc_macro::TokenStream;

/// Runs an `async fn main` on a new multi-threaded ciranda runtime: `asyncio.run(main())`.
///
/// Use it as `#[ciranda::main]` (re-exported by the `ciranda` crate). The function must be
/// `async`, take no arguments and have no generics; its return type, attributes and visibility
/// are kept, so it may return a `Result`. The generated function builds the runtime with
/// `::ciranda::Runtime::builder()`, panics with "ciranda: failed to start the runtime: ..." if the
/// runtime cannot start, and otherwise returns what `block_on` returns for the body.
///
/// # Options
///
/// - `flavor = "current_thread" | "multi_thread"`: the runtime's flavor; without it, the
///   `CIRANDA_FLAVOR` environment variable's (multi-thread when unset). See the
///   [crate documentation](crate).
/// - `worker_threads = N` (an integer literal, at least 1): the number of worker threads;
///   without it, the builder's default (one per CPU).
/// - `unhandled_panic = "shutdown" | "ignore"`: with `"shutdown"`, a panic in a detached task
///   fails the runtime and the function panics with that task's message; `"ignore"` (the
///   default) reports it and carries on.
///
/// # Example
///
/// ```ignore
/// #[ciranda::main(worker_threads = 4)]
/// async fn main() -> std::io::Result<()> {
///     let listener = ciranda::net::TcpListener::bind("127.0.0.1:0").await?;
///     println!("listening on {}", listener.local_addr()?);
///     Ok(())
/// }
/// ```
///
/// See the [crate documentation](crate) for the expansion and the compile errors.
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Main, args.into(), item.into()).into()
}

/// Makes an `async fn` a test that runs on its own, fresh ciranda runtime: `pytest-asyncio`.
///
/// Use it as `#[ciranda::test]` (re-exported by the `ciranda` crate) instead of `#[test]`. The
/// function must be `async`, take no arguments and have no generics; it may return a `Result`,
/// and its other attributes (`#[should_panic]`, `#[ignore]`, ...) are kept. Each test builds its
/// own runtime, runs the body on it, and drops it at the end, so tests never share tasks, timers
/// or sockets.
///
/// # Options
///
/// - `flavor = "current_thread" | "multi_thread"`: the runtime's flavor; without it, the
///   `CIRANDA_FLAVOR` environment variable's (multi-thread when unset), so
///   `CIRANDA_FLAVOR=current_thread cargo test` runs a suite on the current-thread flavor.
/// - `worker_threads = N` (an integer literal, at least 1): the number of worker threads;
///   without it, the builder's default.
/// - `unhandled_panic = "shutdown" | "ignore"`: with `"shutdown"`, a panic in a task the test
///   detached fails the test; `"ignore"` (the default) reports it and carries on.
/// - `start_paused = true|false`: with `true`, the runtime starts on the virtual clock, which
///   jumps to the next timer whenever every task is idle, so tests of timeouts and sleeps run
///   instantly and deterministically.
/// - `run_order_seed = N` (with `flavor = "current_thread"`): ready tasks run in a
///   pseudo-random order fixed by `N` instead of FIFO; the same seed replays it.
///
/// # Example
///
/// ```ignore
/// use std::time::Duration;
///
/// #[ciranda::test(start_paused = true)]
/// async fn timeout_fires() {
///     let never = std::future::pending::<()>();
///     let result = ciranda::time::timeout(Duration::from_secs(5), never).await;
///     assert!(result.is_err());
/// }
///
/// #[ciranda::test]
/// #[should_panic(expected = "boom")]
/// async fn panics() {
///     panic!("boom");
/// }
/// ```
///
/// See the [crate documentation](crate) for the expansion and the compile errors.
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    entry::expand(entry::Kind::Test, args.into(), item.into()).into()
}
