//! ciranda-sync under the real multi-threaded scheduler (issue 4's stress tests).

use ciranda::sync::{Mutex, Semaphore, mpsc, oneshot};
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

/// Counts its drops, so a value dropped twice or never shows in the total.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, SeqCst);
    }
}

/// The oneshot's races on real threads, many times each: a send against the receiver's
/// drop (while the receiver waits, or before it ever polled), the sender's drop against a
/// waiting receiver, and `close` against a send. Every value is dropped exactly once, every
/// wait ends, and a send reports what happened to its value.
#[ciranda::test(worker_threads = 2)]
async fn oneshot_handles_racing_on_two_workers() {
    const ROUNDS: usize = 100_000;
    let drops = Arc::new(AtomicUsize::new(0));
    let delivered = Arc::new(AtomicUsize::new(0));
    let returned = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for round in 0..ROUNDS {
        let (tx, mut rx) = oneshot::channel::<Counted>();
        let value = Counted(drops.clone());
        let (delivered, returned) = (delivered.clone(), returned.clone());
        match round % 4 {
            // A send racing the drop of a receiver that waits in another task.
            0 => {
                let waiter = ciranda::spawn(async move {
                    let _ = ciranda::time::timeout(std::time::Duration::ZERO, &mut rx).await;
                    drop(rx);
                });
                tasks.push(ciranda::spawn(async move {
                    match tx.send(value) {
                        Ok(()) => delivered.fetch_add(1, SeqCst),
                        Err(v) => {
                            drop(v);
                            returned.fetch_add(1, SeqCst)
                        }
                    };
                }));
                tasks.push(waiter);
            }
            // A waiting receiver gets the value.
            1 => {
                tasks.push(ciranda::spawn(async move {
                    let v = rx.await.expect("sent");
                    drop(v);
                    delivered.fetch_add(1, SeqCst);
                }));
                tasks.push(ciranda::spawn(async move {
                    assert!(tx.send(value).is_ok());
                }));
            }
            // The sender dropped unsent while the receiver waits.
            2 => {
                drop(value);
                returned.fetch_add(1, SeqCst);
                tasks.push(ciranda::spawn(async move {
                    assert!(rx.await.is_err());
                }));
                tasks.push(ciranda::spawn(async move { drop(tx) }));
            }
            // `close` racing a send: the value is received or comes back.
            _ => {
                let sender = ciranda::spawn(async move { tx.send(value) });
                tasks.push(ciranda::spawn(async move {
                    rx.close();
                    let sent = sender.await.unwrap();
                    match (sent, rx.try_recv()) {
                        (Ok(()), Ok(v)) => {
                            drop(v);
                            delivered.fetch_add(1, SeqCst);
                        }
                        (Err(v), Err(oneshot::TryRecvError::Closed)) => {
                            drop(v);
                            returned.fetch_add(1, SeqCst);
                        }
                        (sent, got) => {
                            panic!("send {:?} but try_recv {:?}", sent.is_ok(), got.map(|_| ()))
                        }
                    }
                }));
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(drops.load(SeqCst), ROUNDS);
    // Case 0 drops a delivered value with the receiver, so it counts once either way.
    assert_eq!(delivered.load(SeqCst) + returned.load(SeqCst), ROUNDS);
}
