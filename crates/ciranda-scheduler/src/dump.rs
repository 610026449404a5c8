//! `TaskDump`: every live task at one moment, drawn as a tree of who spawned whom —
//! asyncio 3.14's `python -m asyncio pstree`.

use crate::shared::Shared;
use crate::task::{TaskId, TaskInfo, TaskState};
use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

/// Every live task of a runtime, as [`Handle::dump`](crate::Handle::dump) found them.
///
/// Its `Display` draws the tree: each task under the task that spawned it, indented; tasks
/// spawned from outside any task, and orphans (their spawner has finished), at the top level.
/// One line per task:
///
/// ```text
/// <id> <name or -> <state> <file>:<line> polls=<n> busy=<time in poll> idle=<since last poll>
/// ```
///
/// `busy` and `idle` show `-` unless task timing is on (`Builder::task_timing(true)`).
/// A task more than 32 levels deep is drawn at the indentation of level 32, with
/// ` depth=<n>` at the end of its line: a chain of spawns thousands deep would otherwise take
/// space quadratic in its length (about 10 GB for 100 000 tasks).
///
/// # Examples
///
/// ```
/// let sched = ciranda_scheduler::Scheduler::builder().worker_threads(1).build().unwrap();
/// let (tx, rx) = std::sync::mpsc::channel();
/// let parent = sched.spawn(async move {
///     let child = ciranda_scheduler::spawn(std::future::pending::<()>());
///     tx.send(child.id()).unwrap();
///     std::future::pending::<()>().await
/// });
/// let child = rx.recv().unwrap();
/// let dump = sched.handle().dump();
/// let info = dump.tasks().iter().find(|t| t.id() == child).unwrap();
/// assert_eq!(info.parent(), Some(parent.id()));
/// // The child's line is indented under its parent's.
/// let text = dump.to_string();
/// assert!(text.contains(&format!("\n  {child} ")), "{text}");
/// ```
#[derive(Clone, Debug)]
pub struct TaskDump {
    tasks: Vec<TaskInfo>,
}

impl TaskDump {
    pub(crate) fn new(mut tasks: Vec<TaskInfo>) -> TaskDump {
        tasks.sort_by_key(TaskInfo::id);
        TaskDump { tasks }
    }

    /// Every task that was live when the dump was taken, by id.
    pub fn tasks(&self) -> &[TaskInfo] {
        &self.tasks
    }
}

/// Snapshots of every live task, with their times when task timing is on.
pub(crate) fn live_tasks(shared: &Shared) -> Vec<TaskInfo> {
    let mut tasks = shared.registry.live_tasks();
    if let Some(times) = &shared.times {
        let now = std::time::Instant::now();
        for task in &mut tasks {
            if let Some((busy, idle)) = times.get(task.id(), now) {
                task.set_timing(busy, idle);
            }
        }
    }
    tasks
}

fn state_name(state: TaskState) -> &'static str {
    match state {
        TaskState::Idle => "idle",
        TaskState::Scheduled => "scheduled",
        TaskState::Running => "running",
        TaskState::Cancelling => "cancelling",
    }
}

struct Time(Option<Duration>);

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("-"),
            Some(d) if d < Duration::from_millis(1) => write!(f, "{}us", d.as_micros()),
            Some(d) if d < Duration::from_secs(1) => write!(f, "{:.1}ms", d.as_secs_f64() * 1e3),
            Some(d) => write!(f, "{:.1}s", d.as_secs_f64()),
        }
    }
}

/// The deepest level drawn by indentation (two spaces a level); deeper tasks are drawn at this
/// one with their depth written out, so the dump's size stays linear in its number of tasks.
const MAX_INDENT_DEPTH: usize = 32;

fn line(f: &mut fmt::Formatter<'_>, depth: usize, task: &TaskInfo) -> fmt::Result {
    let timed = task.is_timed();
    let location = task.location();
    write!(
        f,
        "{:indent$}{} {} {} {}:{} polls={} busy={} idle={}",
        "",
        task.id(),
        task.name()
            .map_or_else(|| "-".to_owned(), |n| format!("{n:?}")),
        state_name(task.state()),
        location.file(),
        location.line(),
        task.poll_count(),
        Time(timed.then(|| task.busy_duration())),
        Time(timed.then(|| task.idle_duration())),
        indent = depth.min(MAX_INDENT_DEPTH) * 2,
    )?;
    if depth > MAX_INDENT_DEPTH {
        write!(f, " depth={depth}")?;
    }
    f.write_str("\n")
}

impl fmt::Display for TaskDump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let index: HashMap<TaskId, usize> = self
            .tasks
            .iter()
            .enumerate()
            .map(|(i, t)| (t.id(), i))
            .collect();
        let mut children: HashMap<TaskId, Vec<usize>> = HashMap::new();
        let mut roots = Vec::new();
        for (i, task) in self.tasks.iter().enumerate() {
            match task.parent().filter(|p| index.contains_key(p)) {
                Some(parent) => children.entry(parent).or_default().push(i),
                None => roots.push(i),
            }
        }
        // Depth-first, iteratively: a long chain of spawns must not overflow the stack.
        // The parent relation has no cycles (a parent exists before its child), and every
        // task is printed once.
        let mut stack: Vec<(usize, usize)> = roots.iter().rev().map(|&i| (i, 0)).collect();
        while let Some((i, depth)) = stack.pop() {
            let task = &self.tasks[i];
            line(f, depth, task)?;
            if let Some(kids) = children.get(&task.id()) {
                stack.extend(kids.iter().rev().map(|&k| (k, depth + 1)));
            }
        }
        Ok(())
    }
}
