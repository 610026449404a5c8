//! ciranda-sync under the real multi-threaded scheduler (issue 4's stress tests).

use ciranda::sync::{Mutex, Semaphore, mpsc};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

#[ciranda::test(worker_threads = 2)]
async fn eight_tasks_lock_and_unlock_100_000_times_each() {
    let counter = Arc::new(Mutex::new(0u64));
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let counter = counter.clone();
            ciranda::spawn(async move {
                for _ in 0..100_000 {
                    *counter.lock().await += 1;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(*counter.lock().await, 800_000);
}

#[ciranda::test(worker_threads = 2)]
async fn ten_producers_100_000_messages_each_through_a_bounded_channel() {
    let (tx, mut rx) = mpsc::channel::<(u32, u32)>(64);
    for producer in 0..10u32 {
        let tx = tx.clone();
        ciranda::spawn(async move {
            for seq in 0..100_000u32 {
                tx.send((producer, seq)).await.unwrap();
            }
        });
    }
    drop(tx);
    let mut next = [0u32; 10];
    let mut received = 0u64;
    while let Some((producer, seq)) = rx.recv().await {
        // Every message arrives once, in order per producer.
        assert_eq!(seq, next[producer as usize]);
        next[producer as usize] += 1;
        received += 1;
    }
    assert_eq!(received, 1_000_000);
    assert!(next.iter().all(|&n| n == 100_000));
}

#[ciranda::test(worker_threads = 2)]
async fn semaphore_never_over_grants_under_load() {
    let semaphore = Arc::new(Semaphore::new(3));
    let inside = Arc::new(AtomicUsize::new(0));
    let peak = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let (semaphore, inside, peak) = (semaphore.clone(), inside.clone(), peak.clone());
            ciranda::spawn(async move {
                for _ in 0..200 {
                    let _permit = semaphore.acquire().await.unwrap();
                    let now = inside.fetch_add(1, SeqCst) + 1;
                    peak.fetch_max(now, SeqCst);
                    ciranda::task::yield_now().await;
                    inside.fetch_sub(1, SeqCst);
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    assert!(peak.load(SeqCst) <= 3);
    assert_eq!(semaphore.available_permits(), 3);
}
