//! Task combinators at their edges: a group spawner used where it cannot spawn.

use ciranda::task::TaskGroup;

/// The text of a panic payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// A spawner used on a plain thread panics there ("outside a runtime", as documented), and
/// no member came of it: the group must carry on as if the call had not been made. The spawn
/// used to take its member's index before it failed, so `join` later found a hole in the
/// outputs and panicked itself ("every member succeeded"), losing the group's results.
#[ciranda::test]
async fn a_spawner_that_panicked_outside_a_runtime_leaves_the_group_whole() {
    let mut group = TaskGroup::<u32, String>::new();
    group.spawn(async { Ok(1) });
    let spawner = group.spawner();
    let outside = std::thread::spawn(move || spawner.spawn(async { Ok(2) }).map(drop))
        .join()
        .expect_err("spawning outside a runtime panics");
    let message = panic_text(&*outside);
    assert!(message.contains("outside a runtime"), "{message}");
    group.spawn(async { Ok(3) });
    let members = group.len();
    assert_eq!(group.join().await.unwrap(), vec![1, 3]);
    assert_eq!(members, 2, "the spawn that panicked is no member");
}
