#![cfg(not(loom))]
//! The cooperative-budget hook: leaf futures yield when it says so. Alone in its binary: the
//! hook is process-wide.

use ciranda_reactor::{block_on, coop};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

static CALLS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    static BUDGET: Cell<u32> = const { Cell::new(u32::MAX) };
}

/// A budget of 4 operations per poll of the test's outer future.
fn hook(_cx: &mut Context<'_>) -> Poll<()> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    BUDGET.with(|b| {
        if b.get() == 0 {
            Poll::Pending
        } else {
            b.set(b.get() - 1);
            Poll::Ready(())
        }
    })
}

#[test]
fn leaf_futures_yield_when_the_budget_is_spent() {
    coop::set_hook(hook);
    let polls = Cell::new(0u32);
    block_on(async {
        let (mut a, mut b) = ciranda_reactor::net::UnixStream::pair()?;
        a.write_all(&[7; 64]).await?;
        let read_all = async {
            let mut buf = [0; 1];
            for _ in 0..64 {
                // Each byte is ready at once: only the budget makes this yield.
                b.read_exact(&mut buf).await?;
            }
            std::io::Result::Ok(())
        };
        // Refill the budget on every poll of the outer future, as a scheduler would per task.
        let mut read_all = std::pin::pin!(read_all);
        std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            BUDGET.with(|b| b.set(4));
            read_all.as_mut().poll(cx)
        })
        .await
    })
    .unwrap();
    assert!(CALLS.load(Ordering::SeqCst) >= 64);
    // 64 ready reads at 4 per poll: at least 16 polls, so the task yielded in between.
    assert!(polls.get() >= 16, "only {} polls", polls.get());
}

use std::future::Future;
