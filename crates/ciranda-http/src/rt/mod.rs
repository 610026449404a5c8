//! hyper's runtime traits on ciranda: I/O adapters, an executor and a timer.
//!
//! hyper 1.x is runtime-agnostic: it reads and writes through its own `rt::Read`/`rt::Write`,
//! spawns background work through an `rt::Executor` and sleeps through an `rt::Timer`. These
//! three types plug ciranda into those holes, the way hyper-util's `TokioIo`, `TokioExecutor`
//! and `TokioTimer` plug in Tokio:
//!
//! | hyper needs | ciranda gives |
//! |---|---|
//! | `rt::Read + rt::Write` | [`CirandaIo`] over any `futures-io` stream (and the reverse) |
//! | `rt::Executor` | [`CirandaExecutor`]: `ciranda::spawn` |
//! | `rt::Timer` | [`CirandaTimer`]: `ciranda::time`, virtual clock included |

mod executor;
mod io;
mod timer;

pub use executor::CirandaExecutor;
pub use io::CirandaIo;
pub use timer::CirandaTimer;
