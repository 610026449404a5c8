//! ciranda workspace integration tests.
//!
//! The tests live in `tests/`. This library exists so that `cargo test --workspace` also
//! compiles and runs every Rust snippet of the asyncio guide (`docs/asyncio.md`) and of the
//! README as a doctest: neither can drift away from the API without a test failing. It also
//! holds the helpers the test files share ([`support`]).

pub mod support;

#[cfg(doctest)]
#[doc = include_str!("../../docs/asyncio.md")]
pub struct AsyncioGuide;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct Readme;
