//! asyncio's timer rule on the current-thread flavor with a paused clock: timers fire in
//! deadline order, and timers with equal deadlines in the order they were made (asyncio keeps
//! its timers in a heap ordered by deadline, then by creation), also when they were made far
//! apart in time, on different levels of the timer wheel.

#![cfg(not(loom))]

use ciranda::time::{Duration, Instant, sleep_until};
use ciranda::{Flavor, Runtime};
use std::sync::{Arc, Mutex};

/// Three deadlines (70 ms, 5 s and 10 min from the start); for each, timers made at several
/// times before it. Made at the start, the 70 ms timer sits on the wheel's second level and
/// moves down to the first at 64 ms (a cascade), after which one made at 65 ms goes to the
/// first level directly; likewise the 5 s and 10 min timers cross two or three levels. Each
/// timer is made by its own task, which first sleeps until the time it makes it at.
#[test]
fn equal_deadlines_fire_in_creation_order_across_the_wheels_levels() {
    let rt = Runtime::builder()
        .flavor(Flavor::CurrentThread)
        .start_paused(true)
        .build()
        .unwrap();
    let fired = Arc::new(Mutex::new(Vec::new()));
    let deadlines = [
        Duration::from_millis(70),
        Duration::from_secs(5),
        Duration::from_secs(600),
    ];
    let made_at = [
        Duration::ZERO,
        Duration::from_millis(1),
        Duration::from_millis(63),
        Duration::from_millis(65),
        Duration::from_millis(69),
        Duration::from_secs(1),
        Duration::from_millis(4_900),
        Duration::from_millis(4_990),
        Duration::from_secs(300),
        Duration::from_millis(599_900),
    ];
    let mut expected = Vec::new();
    rt.block_on(async {
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (j, &deadline) in deadlines.iter().enumerate() {
            for (k, &at) in made_at.iter().enumerate() {
                if at >= deadline {
                    continue;
                }
                expected.push((j, k));
                let fired = fired.clone();
                tasks.push(ciranda::spawn(async move {
                    sleep_until(start + at).await;
                    assert_eq!(Instant::now() - start, at, "made on time");
                    sleep_until(start + deadline).await;
                    assert_eq!(Instant::now() - start, deadline, "fired on time");
                    fired.lock().unwrap().push((j, k));
                }));
            }
        }
        for task in tasks {
            task.await.unwrap();
        }
    });
    // Deadline first, then the time the timer was made.
    expected.sort_unstable();
    assert_eq!(*fired.lock().unwrap(), expected);
}
