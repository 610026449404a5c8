//! The task dump through the facade: the spawn location is the user's line for every
//! spawning API (`spawn`, `Runtime::spawn`, `Handle::spawn`, `task::Builder`, `TaskGroup`,
//! `JoinSet`), and the parent is the spawning task (none from outside).

use ciranda::task::{JoinSet, TaskGroup, TaskId, TaskInfo};
use std::future::pending;

fn info(id: TaskId) -> TaskInfo {
    ciranda::Handle::current()
        .dump()
        .tasks()
        .iter()
        .find(|t| t.id() == id)
        .cloned()
        .unwrap_or_else(|| panic!("task {id} is in the dump"))
}

fn assert_at(task: &TaskInfo, line: u32, parent: Option<TaskId>) {
    assert_eq!(
        (task.location().file(), task.location().line()),
        (file!(), line),
        "{task:?}"
    );
    assert_eq!(task.parent(), parent, "{task:?}");
}

#[ciranda::test]
async fn every_spawning_api_records_the_users_line() {
    let handle = ciranda::Handle::current();
    // From outside any task: block_on's future is not a task.
    let line = line!() + 1;
    let outside = ciranda::spawn(pending::<()>());
    assert_at(&info(outside.id()), line, None);
    let line = line!() + 1;
    let via_handle = handle.spawn(pending::<()>());
    assert_at(&info(via_handle.id()), line, None);

    // From a task: TaskGroup, JoinSet, Builder, plain spawn.
    let parent = ciranda::spawn(async {
        let me = info_of_current();
        let mut group: TaskGroup<(), ()> = TaskGroup::new();
        let group_line = line!() + 1;
        let in_group = group.spawn(async { pending::<Result<(), ()>>().await });
        assert_at(&info(in_group.id()), group_line, Some(me));
        let mut set = JoinSet::new();
        let set_line = line!() + 1;
        let in_set = set.spawn(pending::<()>());
        assert_at(&info(in_set.id()), set_line, Some(me));
        let builder_line = line!() + 3;
        let built = ciranda::task::Builder::new()
            .name("b")
            .spawn(pending::<()>());
        assert_at(&info(built.id()), builder_line, Some(me));
        let plain_line = line!() + 1;
        let plain = ciranda::spawn(pending::<()>());
        assert_at(&info(plain.id()), plain_line, Some(me));
        let text = ciranda::Handle::current().dump().to_string();
        assert!(
            text.contains(&format!("\n  {} \"b\" ", built.id())),
            "{text}"
        );
        in_group.abort();
        plain.abort();
        built.abort();
        drop(set);
    });
    parent.await.unwrap();
    outside.abort();
    via_handle.abort();
}

/// The id of the task this runs in: the parent of what it spawns. The probe waits until it is
/// aborted: a probe that could finish might be run to its end by another worker (stolen from
/// this one's LIFO slot) before the dump below is taken, and the dump lists only live tasks.
fn info_of_current() -> TaskId {
    let probe = ciranda::spawn(pending::<()>());
    let parent = info(probe.id()).parent().expect("spawned from a task");
    probe.abort();
    parent
}

#[test]
fn runtime_spawn_records_the_users_line() {
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .build()
        .unwrap();
    let line = line!() + 1;
    let task = rt.spawn(pending::<()>());
    let dump = rt.handle().dump();
    let found = dump.tasks().iter().find(|t| t.id() == task.id()).unwrap();
    assert_at(found, line, None);
    let m = rt.handle().metrics();
    assert_eq!(m.num_workers(), 1);
    assert!(m.num_alive_tasks() >= 1);
}
