#![cfg(not(loom))]
//! The cooperative budget: leaf futures yield when it is spent.

use ciranda_reactor::block_on;
use futures_util::io::{AsyncReadExt, AsyncWriteExt};
use std::cell::Cell;

/// Polls `fut` to completion with a fresh budget of `units` on every poll, as a scheduler
/// opens one per task poll, counting the polls in `polls`.
async fn with_budget_per_poll<F: Future>(units: u8, polls: &Cell<u32>, fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    std::future::poll_fn(|cx| {
        polls.set(polls.get() + 1);
        ciranda_coop::with_budget(units, || fut.as_mut().poll(cx))
    })
    .await
}

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
        with_budget_per_poll(4, &polls, read_all).await
    })
    .unwrap();
    // 64 ready reads at 4 per poll: at least 16 polls, so the task yielded in between.
    assert!(polls.get() >= 16, "only {} polls", polls.get());
}

use std::future::Future;

#[test]
fn a_spent_budget_does_not_pass_for_an_elapsed_timeout() {
    use ciranda_reactor::time::{Duration, timeout};
    let polls = Cell::new(0u32);
    let got = block_on(async {
        let (mut a, mut b) = ciranda_reactor::net::UnixStream::pair()?;
        a.write_all(&[7; 64]).await?;
        // asyncio's `wait_for(q.get(), 0)` drain: every byte is there, so every read is ready
        // on its first real poll and none may time out.
        let drain = async {
            let mut got = 0;
            let mut buf = [0; 1];
            while let Ok(read) = timeout(Duration::ZERO, b.read_exact(&mut buf)).await {
                read?;
                got += 1;
                if got == 64 {
                    break;
                }
            }
            std::io::Result::Ok(got)
        };
        // The fifth read of a poll is refused by the budget, not by the deadline.
        with_budget_per_poll(4, &polls, drain).await
    })
    .unwrap();
    assert_eq!(got, 64, "the drain took a budget refusal for a timeout");
    assert!(polls.get() >= 16, "only {} polls", polls.get());
}

#[test]
fn timers_that_are_not_due_spend_no_budget() {
    use ciranda_reactor::time::{Duration, interval, sleep};
    let polls = Cell::new(0u32);
    block_on(async {
        // Ten sleeps and ten intervals (past their first tick), all 30 ms from due, polled
        // together on every poll with a budget of 4: a timer that is not due completes no
        // operation and must not spend the budget, or the fifth one is refused, wakes the task
        // at once, and the task spins until the timers fire instead of sleeping.
        let mut sleeps: Vec<_> = (0..10).map(|_| sleep(Duration::from_millis(30))).collect();
        let mut intervals: Vec<_> = (0..10)
            .map(|_| interval(Duration::from_millis(30)))
            .collect();
        for ticks in &mut intervals {
            ticks.tick().await;
        }
        let all = std::future::poll_fn(|cx| {
            let mut due = 0;
            for s in &mut sleeps {
                due += usize::from(std::pin::Pin::new(s).poll(cx).is_ready());
            }
            for ticks in &mut intervals {
                due += usize::from(ticks.poll_tick(cx).is_ready());
            }
            if due > 0 {
                std::task::Poll::Ready(())
            } else {
                std::task::Poll::Pending
            }
        });
        with_budget_per_poll(4, &polls, all).await
    });
    // One poll to set the timers, one (or a few, if they fire in different turns) when they
    // are due; a task spinning on refusals polls thousands of times in 30 ms.
    assert!(polls.get() <= 12, "{} polls", polls.get());
}

/// A socket read or write that waits completes nothing and spends no budget: a task that
/// polls more waiting sockets than its budget at once must not have the rest refused (each
/// refusal wakes the task at once, and it spins instead of sleeping).
#[test]
fn waiting_socket_operations_spend_no_budget() {
    let polls = Cell::new(0u32);
    block_on(async {
        // Ten idle pairs: nothing to read. Ten writers into full buffers: no room.
        let mut readers: Vec<_> = (0..10)
            .map(|_| ciranda_reactor::net::UnixStream::pair())
            .collect::<std::io::Result<_>>()?;
        let mut writers = Vec::new();
        for _ in 0..10 {
            let (mut w, r) = ciranda_reactor::net::UnixStream::pair()?;
            let chunk = [0u8; 65536];
            // Fill until the kernel says no more (a write would wait).
            while futures_util::poll!(w.write(&chunk)).is_ready() {}
            writers.push((w, r));
        }
        let (mut wake_tx, wake_rx) = std::os::unix::net::UnixStream::pair()?;
        let mut wake_rx = ciranda_reactor::net::UnixStream::from_std(wake_rx)?;
        let timer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(30));
            std::io::Write::write_all(&mut wake_tx, b"x").unwrap();
            wake_tx
        });
        let mut buf = [0u8; 16];
        let mut wake_buf = [0u8; 1];
        let all = std::future::poll_fn(|cx| {
            if polls.get() > 10_000 {
                // Spinning on refusals: the wake-up byte's read is refused every time.
                return std::task::Poll::Ready(Err(std::io::Error::other("spinning")));
            }
            for (_, b) in &mut readers {
                assert!(
                    std::pin::Pin::new(&mut b.read(&mut buf))
                        .poll(cx)
                        .is_pending()
                );
            }
            for (w, _) in &mut writers {
                assert!(
                    std::pin::Pin::new(&mut w.write(&[1; 16]))
                        .poll(cx)
                        .is_pending()
                );
            }
            std::pin::Pin::new(&mut wake_rx.read(&mut wake_buf)).poll(cx)
        });
        with_budget_per_poll(4, &polls, all)
            .await
            .map(drop)
            .unwrap_or_else(|e| panic!("{e} after {} polls", polls.get()));
        drop(timer.join().unwrap());
        std::io::Result::Ok(())
    })
    .unwrap();
    // One poll to wait, one (or a few) when the byte arrives; a task spinning on refusals
    // polls thousands of times in 30 ms.
    assert!(polls.get() <= 12, "{} polls", polls.get());
}

/// `readable()`/`writable()` (and `Async::poll_readable`/`poll_writable`) are leaf futures too:
/// one that is ready at once spends a unit, so a loop that waits for readiness and then does
/// the operation itself (`Async`'s documented pattern, or a `socket2::SockRef` send or
/// receive on a ciranda socket) still yields once per budget. They spent nothing, so such a
/// loop over a socket that stays ready never yielded: on one worker nothing else ran again.
#[test]
fn readiness_waits_that_are_ready_spend_the_budget() {
    use std::io::{Read, Write};
    let polls = Cell::new(0u32);
    block_on(async {
        let (mut a, b) = ciranda_reactor::net::UnixStream::pair()?;
        // `b` has bytes to read for the whole loop; both ends have room to write.
        futures_util::io::AsyncWriteExt::write_all(&mut a, &[7; 64]).await?;
        let (c, mut d) = std::os::unix::net::UnixStream::pair()?;
        let c = ciranda_reactor::Async::new(c)?;
        d.write_all(&[9; 64])?;
        let loops = async {
            for _ in 0..16 {
                a.writable().await?;
                b.readable().await?;
                c.writable().await?;
                std::future::poll_fn(|cx| c.poll_readable(cx)).await?;
                std::future::poll_fn(|cx| c.poll_writable(cx)).await?;
            }
            let mut byte = [0; 1];
            c.get_ref().read_exact(&mut byte)?;
            std::io::Result::Ok(())
        };
        with_budget_per_poll(4, &polls, loops).await
    })
    .unwrap();
    // 80 ready waits at 4 per poll: at least 20 polls; they spent nothing before, and the
    // whole loop ran in one poll.
    assert!(polls.get() >= 20, "only {} polls", polls.get());
}
