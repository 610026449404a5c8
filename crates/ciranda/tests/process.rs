//! Child processes: the `Command` builder's defaults and what `output`/`status` leave behind.

use ciranda::process::Command;

/// `output()` pipes stdout/stderr and nulls stdin only for its own child: a later `spawn` of
/// the same `Command` inherits the streams it did not set, as documented.
#[ciranda::test]
async fn output_does_not_change_what_a_later_spawn_inherits() {
    let mut cmd = Command::new("true");
    assert!(cmd.output().await.unwrap().status.success());
    let mut child = cmd.spawn().unwrap();
    assert!(child.stdout.is_none(), "stdout left piped by output()");
    assert!(child.stderr.is_none(), "stderr left piped by output()");
    assert!(child.wait().await.unwrap().success());
}
