//! Async I/O traits and helpers: the `futures-io` traits, the `futures-util` extension
//! traits (`read_line`, `write_all`, `flush`, `close`, …), buffered readers and writers, and
//! [`Async`] for any other file descriptor.
//!
//! [`stdin`], [`stdout`] and [`stderr`] are the process's standard streams, served by the
//! blocking pool (asyncio's `sys.stdin`/`sys.stdout` in async code).

pub(crate) mod late_write;
mod stdio;

pub use ciranda_reactor::Async;
pub use ciranda_reactor::io::{Interest, Ready};
pub use futures_io::{AsyncBufRead, AsyncRead, AsyncSeek, AsyncWrite};
pub use futures_util::io::{
    AsyncBufReadExt, AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufReader, BufWriter, Lines,
    ReadHalf, WriteHalf, copy, empty, repeat, sink,
};
pub use stdio::{Stderr, Stdin, Stdout, stderr, stdin, stdout};
pub(crate) use stdio::{wait_ready, write_all_waiting};
