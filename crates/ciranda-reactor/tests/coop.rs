#![cfg(not(loom))]
//! The cooperative budget: leaf futures yield when it is spent.

use ciranda_reactor::block_on;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::cell::Cell;

#[test]
fn leaf_futures_yield_when_the_budget_is_spent() {
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
        // A fresh budget of 4 on every poll of the outer future, as a scheduler opens one per
        // task poll.
        let mut read_all = std::pin::pin!(read_all);
        std::future::poll_fn(|cx| {
            polls.set(polls.get() + 1);
            ciranda_coop::with_budget(4, || read_all.as_mut().poll(cx))
        })
        .await
    })
    .unwrap();
    // 64 ready reads at 4 per poll: at least 16 polls, so the task yielded in between.
    assert!(polls.get() >= 16, "only {} polls", polls.get());
}

use std::future::Future;
