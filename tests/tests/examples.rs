//! Runs every example of the `ciranda` crate (`crates/ciranda/examples/`) as a separate
//! process and checks what it prints.
//!
//! The examples are built once, by a nested `cargo build --workspace --example ...` with the
//! same profile and target directory as this test binary. When `cargo test --workspace`
//! already built them (it builds every example, with the test run's profile and the same
//! feature unification), that nested build only finds them up to date (a fraction of a
//! second). Cargo holds no lock on the target directory
//! while test binaries run, so the nested build does not wait for the outer one. The binaries
//! are then run directly, not through `cargo run`, so that a signal reaches the example itself.

#![cfg(not(loom))]

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

/// How long one example may run before it is killed and the test fails. Generous: the
/// examples take at most a few seconds, but CI machines can be slow and loaded.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// Where `cargo build` puts this profile's artifacts, and the profile's name.
struct BuildDir {
    target_dir: PathBuf,
    triple: Option<String>,
    profile: String,
    profile_dir: PathBuf,
}

/// Works out the target directory, the optional `--target` triple and the profile from the
/// path of this test binary: `<target-dir>[/<triple>]/<profile-dir>/deps/<binary>`.
fn build_dir() -> BuildDir {
    // `CARGO_TARGET_TMPDIR` is `<target-dir>/tmp`.
    let target_dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .to_path_buf();
    let exe = std::env::current_exe().expect("path of the test binary");
    let deps = exe.parent().expect("the test binary is in deps/");
    let profile_dir = deps.parent().expect("deps/ is in a profile directory");
    let dir_name = profile_dir
        .file_name()
        .expect("profile directory name")
        .to_string_lossy()
        .into_owned();
    let above = profile_dir
        .parent()
        .expect("profile directory has a parent");
    let triple = if same_dir(above, &target_dir) {
        None
    } else {
        Some(above.file_name().unwrap().to_string_lossy().into_owned())
    };
    // `cargo test` builds examples with the profile of the test run: `test` (whose artifacts go
    // in `debug/`), or `release` with `--release`, or a custom `--profile`. Building them again
    // with that same profile finds them up to date; `dev` would build a second copy.
    let profile = match dir_name.as_str() {
        "debug" => "test".to_string(),
        other => other.to_string(),
    };
    BuildDir {
        target_dir,
        triple,
        profile,
        profile_dir: profile_dir.to_path_buf(),
    }
}

fn same_dir(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// Builds every example of `ciranda` once per test run and returns the examples directory.
fn examples_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = build_dir();
        let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("tests/ is inside the workspace");
        let mut cargo = Command::new(env!("CARGO"));
        // `--workspace`, like `cargo test --workspace`: the features of shared dependencies are
        // unified over the packages a command selects, so building with `-p ciranda` alone
        // could give them other features, other artifact hashes, and a second build.
        cargo
            .current_dir(workspace)
            .args(["build", "--quiet", "--workspace"])
            .arg("--profile")
            .arg(&dir.profile)
            .arg("--target-dir")
            .arg(&dir.target_dir);
        for name in ciranda_examples(workspace) {
            cargo.arg("--example").arg(name);
        }
        if let Some(triple) = &dir.triple {
            cargo.arg("--target").arg(triple);
        }
        let status = cargo
            .status()
            .expect("failed to run `cargo build --examples -p ciranda`");
        assert!(status.success(), "building the examples failed: {status}");
        dir.profile_dir.join("examples")
    })
}

/// The names of the examples in `crates/ciranda/examples/` (`NAME.rs` or `NAME/main.rs`).
fn ciranda_examples(workspace: &Path) -> Vec<String> {
    let dir = workspace.join("crates/ciranda/examples");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let is_example =
                path.extension().is_some_and(|ext| ext == "rs") || path.join("main.rs").is_file();
            let name = path.file_stem()?.to_str()?.to_string();
            is_example.then_some(name)
        })
        .collect();
    names.sort();
    assert!(!names.is_empty(), "no examples in {}", dir.display());
    names
}

/// The command that runs example `name` (its built binary, not `cargo run`, so that signals
/// reach the example itself).
fn example(name: &str) -> Command {
    let path = examples_dir().join(name);
    assert!(path.exists(), "example binary {} not found", path.display());
    let mut command = Command::new(path);
    command
        // The flavor of `#[ciranda::main]` is the default one unless a test asks otherwise.
        .env_remove("CIRANDA_FLAVOR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Reads a pipe to the end on a thread.
fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.read_to_end(&mut bytes);
        bytes
    })
}

/// Waits for `child` to exit, killing it after `timeout`.
fn wait_with_timeout(child: &mut Child, what: &str, timeout: Duration) -> ExitStatus {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {timeout:?}; killed");
        }
        thread::sleep(Duration::from_millis(20));
    }
}

/// Output of a finished example, with helpers for assertions.
struct Run {
    name: String,
    status: ExitStatus,
    stdout: String,
    stderr: String,
    elapsed: Duration,
}

impl Run {
    fn lines(&self) -> Vec<&str> {
        self.stdout.lines().collect()
    }

    /// Asserts that stdout is exactly `expected`, line by line.
    fn assert_stdout(&self, expected: &[&str]) {
        assert_eq!(
            self.lines(),
            expected,
            "unexpected output of example `{}`; stderr:\n{}",
            self.name,
            self.stderr
        );
    }

    /// The rest of the first line that starts with `prefix`.
    fn after(&self, prefix: &str) -> &str {
        self.stdout
            .lines()
            .find_map(|line| line.strip_prefix(prefix))
            .unwrap_or_else(|| {
                panic!(
                    "example `{}` printed no line starting with {prefix:?}:\n{}",
                    self.name, self.stdout
                )
            })
    }
}

/// Runs example `name` with `args` to completion and checks that it exited successfully.
fn run(name: &str, args: &[&str]) -> Run {
    run_with(name, args, example(name))
}

fn run_with(name: &str, args: &[&str], mut command: Command) -> Run {
    command.args(args);
    let start = Instant::now();
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start example `{name}`: {e}"));
    let stdout = drain(child.stdout.take().unwrap());
    let stderr = drain(child.stderr.take().unwrap());
    let status = wait_with_timeout(&mut child, &format!("example `{name}`"), RUN_TIMEOUT);
    let elapsed = start.elapsed();
    let run = Run {
        name: name.to_string(),
        status,
        stdout: String::from_utf8(stdout.join().unwrap()).expect("stdout is UTF-8"),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
        elapsed,
    };
    assert!(
        run.status.success(),
        "example `{name}` failed with {}\nstdout:\n{}\nstderr:\n{}",
        run.status,
        run.stdout,
        run.stderr
    );
    run
}

/// Parses the number in a line such as "finished in 3.0 s".
fn seconds(text: &str) -> f64 {
    text.trim()
        .trim_end_matches('s')
        .trim()
        .parse()
        .unwrap_or_else(|e| panic!("{text:?} is not a number of seconds: {e}"))
}

#[test]
fn hello_sequential_takes_three_seconds_tasks_take_two() {
    let run = run("hello", &[]);
    let lines = run.lines();
    assert_eq!(lines.len(), 8, "output:\n{}", run.stdout);
    assert_eq!(
        &lines[..3],
        ["sequential: started", "hello", "world"],
        "output:\n{}",
        run.stdout
    );
    assert_eq!(
        &lines[4..7],
        ["tasks: started", "hello", "world"],
        "output:\n{}",
        run.stdout
    );
    let sequential = seconds(run.after("sequential: finished in "));
    let concurrent = seconds(run.after("tasks: finished in "));
    // Sleeps never end early, so these lower bounds are safe; no upper bounds.
    assert!(sequential >= 3.0, "sequential run took {sequential} s");
    assert!(concurrent >= 2.0, "concurrent run took {concurrent} s");
    assert!(
        concurrent < sequential,
        "tasks ({concurrent} s) should beat sequential awaits ({sequential} s)"
    );
}

#[test]
fn gather_keeps_input_order_and_errors_in_place() {
    let run = run("gather", &[]);
    let lines = run.lines();
    assert_eq!(
        &lines[..3],
        [
            "received result: sample data from coroutine 1",
            "received result: sample data from coroutine 2",
            "received result: sample data from coroutine 3",
        ]
    );
    // Completion order depends on timers (100 ms apart); check only that it lists all three.
    let mut order: Vec<char> = run
        .after("completion order: ")
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    order.sort_unstable();
    assert_eq!(order, ['1', '2', '3']);
    assert_eq!(
        &lines[4..],
        [
            "slot 0: ok: data 1",
            "slot 1: error: coroutine 2: connection refused",
            "slot 2: ok: data 3",
            "try_gather: failed fast: coroutine 2: connection refused",
            "squares: [1, 4, 16, 64, 256, 1024]",
        ]
    );
}

#[test]
fn task_group_cancels_the_rest_and_keeps_every_failure() {
    run("task_group", &[]).assert_stdout(&[
        "downloaded index.html: 1000 bytes",
        "downloaded style.css: 900 bytes",
        "downloaded app.js: 600 bytes",
        "group failed: task group failed: 1 error(s), 0 panic(s), 0 cancelled from outside; \
         error: broken.txt: 404 not found",
        "  error: broken.txt: 404 not found",
        "  panics: 0",
        "slow member cancelled by the group: true",
        "panic kept in the group error: is_panic = true",
    ]);
}

#[test]
fn cancel_drops_the_future_and_reports_is_cancelled() {
    run("cancel", &[]).assert_stdout(&[
        "routine 1: finished its work",
        "routine 1: cleanup ran",
        "routine 1 result: Ok(\"routine 1 done\")",
        "routine 2 done before cancel: false",
        "routine 2: cleanup ran",
        "routine 2 is_cancelled: true",
        "abort after finish: Ok(7)",
        "routine 3: cleanup ran",
        "routine 3 cancelled from another task: true",
    ]);
}

#[test]
fn shared_promise_one_loader_three_waiters() {
    run("shared_promise", &[]).assert_stdout(&[
        "3 tasks waiting for the configuration (set yet: false)",
        "loader: configuration loaded",
        "task 1 using the configuration: http://example.com with a timeout of 5 seconds",
        "task 2 using the configuration: http://example.com with a timeout of 5 seconds",
        "task 3 using the configuration: http://example.com with a timeout of 5 seconds",
        "set now: true",
        "second set rejected, value given back: http://other.example",
    ]);
}

#[test]
fn lock_counter_reaches_one_million() {
    run("lock_counter", &[]).assert_stdout(&[
        "10 tasks x 100000 increments: final counter = 1000000",
        "expected 1000000",
    ]);
}

#[test]
fn semaphore_allows_at_most_three() {
    run("semaphore", &[]).assert_stdout(&[
        "10 tasks done, results in order: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]",
        "limit 3: max concurrency observed = 3",
        "permits available again: 3",
        "with 3 permits held, try_acquire fails: true",
    ]);
}

#[test]
fn event_releases_every_waiter() {
    run("event", &[]).assert_stdout(&[
        "3 waiters waiting for it ... (is_set: false)",
        "main: setting the event",
        "waiter 1: ... got it! (after set: true)",
        "waiter 2: ... got it! (after set: true)",
        "waiter 3: ... got it! (after set: true)",
        "wait on a set event returns at once (is_set: true)",
        "after clear: a new wait blocks (still waiting after 50 ms: true)",
    ]);
}

#[test]
fn condition_notify_all_and_notify_one() {
    run("condition", &[]).assert_stdout(&[
        "producer: resource ready, notify_all",
        "consumer 1 sees: the shared resource",
        "consumer 2 sees: the shared resource",
        "consumer 3 sees: the shared resource",
        "worker: got item 1",
        "worker: got item 2",
        "worker: got item 3",
        "worker: got item 4",
        "worker: got item 5",
        "worker: total = 15",
    ]);
}

#[test]
fn queue_workers_join_then_cancel() {
    run("queue_workers", &[]).assert_stdout(&[
        "producer: put 20 jobs (queue bound 5)",
        "join returned: 20 jobs processed, sum = 210 (expected 210)",
        "queue empty: true",
        "workers cancelled: 3",
    ]);
}

#[test]
fn blocking_work_on_the_pool_keeps_the_loop_ticking() {
    let run = run("blocking", &[]);
    assert_eq!(run.lines().len(), 2, "output:\n{}", run.stdout);
    assert_eq!(
        run.after("blocking inside a task: "),
        "result 500500; the loop stalled (0 ticks during the call)"
    );
    let pooled = run.after("spawn_blocking: ");
    let ticks: u32 = pooled
        .strip_prefix("result 500500; the loop kept ticking (")
        .and_then(|rest| rest.strip_suffix(" ticks during the call)"))
        .unwrap_or_else(|| panic!("unexpected spawn_blocking line: {pooled:?}"))
        .parse()
        .expect("tick count");
    assert!(ticks >= 1, "the loop did not tick during spawn_blocking");
}

#[test]
fn stream_async_generator_and_adapters() {
    run("stream", &[]).assert_stdout(&[
        "Americas",
        "Africa",
        "Europe",
        "Asia",
        "odd squares from countdown(5): [25, 9, 1]",
        "interval ticks taken: 3",
        "as_completed order: [10, 20, 30]",
    ]);
}

#[test]
fn sqlite_seed_scenario_streams_the_ten_rows() {
    let rows: Vec<String> = (0..10)
        .map(|i| format!("({}, 'Mensagem {i}')", i + 1))
        .collect();
    let list = format!("[{}]", rows.join(", "));
    run("sqlite", &[]).assert_stdout(&[&list, "10 rows streamed from the blocking pool"]);
}

#[test]
fn timeouts_cancel_the_inner_future() {
    const DROPPED: &str = "  (slow operation cancelled: its future was dropped)";
    run("timeouts", &[]).assert_stdout(&[
        "fast operation: Ok(fast result)",
        DROPPED,
        "slow operation: Err(deadline has elapsed)",
        "  step 1 done",
        DROPPED,
        "two steps under one deadline: timed out = true",
        DROPPED,
        "as io::Error: kind TimedOut",
        "zero timeout on ready work: Ok(42)",
        "task timed out; still running: true",
        DROPPED,
        "task aborted: finished = true",
        "wait with timeout: 1 done, 1 pending",
        DROPPED,
    ]);
}

#[test]
fn tour_shows_the_main_scenarios() {
    let run = run("tour", &[]);
    let lines = run.lines();
    for heading in [
        "1. tasks (asyncio.create_task) -- examples/hello.rs",
        "2. gather: results in input order -- examples/gather.rs",
        "3. TaskGroup: one failure cancels the rest -- examples/task_group.rs",
        "4. Lock: 10 tasks x 10 000 increments -- examples/lock_counter.rs",
        "5. Semaphore(3) -- examples/semaphore.rs",
        "6. Queue: producer, 3 workers, join -- examples/queue_workers.rs",
        "7. timeout (asyncio.wait_for) -- examples/timeouts.rs",
        "8. spawn_blocking (asyncio.to_thread) -- examples/blocking.rs",
        "9. async generator (async for) -- examples/stream.rs",
    ] {
        assert!(
            lines.contains(&heading),
            "missing {heading:?} in:\n{}",
            run.stdout
        );
    }
    for line in [
        "  [\"slept 30 ms\", \"slept 10 ms\", \"slept 20 ms\"]",
        "  errors: [\"member 2 failed\"]",
        "  counter = 100000",
        "  9 tasks, at most 3 at a time",
        "  jobs 1..=10 processed, sum = 55",
        "  slow: Err(\"deadline has elapsed\"); fast: Ok(\"done\")",
        "  computed on the blocking pool: 5050",
        "  countdown: [3, 2, 1]",
    ] {
        assert!(
            lines.contains(&line),
            "missing {line:?} in:\n{}",
            run.stdout
        );
    }
    let timing = run.after("  awaited one by one: ");
    let (sequential, concurrent) = timing
        .split_once("; as two tasks: ")
        .unwrap_or_else(|| panic!("unexpected timing line {timing:?}"));
    let (sequential, concurrent) = (seconds(sequential), seconds(concurrent));
    assert!(sequential >= 0.3, "sequential part took {sequential} s");
    assert!(concurrent < sequential, "{concurrent} s vs {sequential} s");
    // The README promises a short tour; only a very loose sanity bound here.
    assert!(run.elapsed < RUN_TIMEOUT);
}

/// Forwards a child's stdout, line by line, to a channel.
fn lines_of(pipe: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Waits for the next line that starts with `prefix`, collecting every line seen.
fn expect_line(rx: &Receiver<String>, seen: &mut Vec<String>, prefix: &str) -> String {
    let deadline = Instant::now() + RUN_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                seen.push(line.clone());
                if line.starts_with(prefix) {
                    return line;
                }
            }
            Err(RecvTimeoutError::Timeout) => {
                panic!("no line starting with {prefix:?} within {RUN_TIMEOUT:?}; saw {seen:?}")
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!("output ended before a line starting with {prefix:?}; saw {seen:?}")
            }
        }
    }
}

/// Kills the server if the test fails half-way.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

#[test]
fn echo_server_and_client_then_ctrl_c() {
    // Port 0: the OS picks a free port and the server prints the address it got.
    let mut server = example("echo_server");
    server.arg("127.0.0.1:0");
    let mut server = KillOnDrop(server.spawn().expect("start echo_server"));
    let stderr = drain(server.0.stderr.take().unwrap());
    let out = lines_of(server.0.stdout.take().unwrap());
    let mut seen = Vec::new();
    let serving = expect_line(&out, &mut seen, "serving on ");
    let addr = serving.trim_start_matches("serving on ").to_string();

    let client = run("echo_client", &[&addr]);
    client.assert_stdout(&[
        &format!("connected to {addr}"),
        "sent: hello",
        "echo: hello",
        "sent: oi, tudo bem?",
        "echo: oi, tudo bem?",
        "sent: bye",
        "echo: bye",
        "closed",
    ]);
    let client = run("echo_client", &[&addr, "one", "two"]);
    assert_eq!(
        client.lines()[1..],
        ["sent: one", "echo: one", "sent: two", "echo: two", "closed"]
    );

    // The server saw both clients come and go.
    for lines in ["3", "2"] {
        expect_line(&out, &mut seen, "client ");
        let gone = expect_line(&out, &mut seen, "client ");
        assert!(
            gone.ends_with(&format!("disconnected after {lines} line(s)")),
            "unexpected line {gone:?}; saw {seen:?}"
        );
    }

    // Ctrl+C: the server stops its accept loop and exits cleanly.
    let pid = server.0.id().to_string();
    let kill = Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .expect("run kill -INT");
    assert!(kill.success(), "kill -INT {pid} failed");
    expect_line(&out, &mut seen, "Ctrl+C received, shutting down");
    expect_line(&out, &mut seen, "server task cancelled: true");
    let status = wait_with_timeout(&mut server.0, "echo_server after SIGINT", RUN_TIMEOUT);
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert!(
        status.success(),
        "echo_server exited with {status} after SIGINT; stdout {seen:?}; stderr:\n{stderr}"
    );
}

#[test]
fn dump_prints_the_task_tree_on_sigusr1() {
    use std::io::Write;
    let mut server = example("dump");
    server.arg("127.0.0.1:0");
    let mut server = KillOnDrop(server.spawn().expect("start dump"));
    let stderr = drain(server.0.stderr.take().unwrap());
    let out = lines_of(server.0.stdout.take().unwrap());
    let mut seen = Vec::new();
    let serving = expect_line(&out, &mut seen, "serving on ");
    let addr = serving["serving on ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .to_string();
    // Two clients, each echoed once: their `conn` and `heartbeat` tasks exist.
    let clients: Vec<std::net::TcpStream> = (0..2)
        .map(|_| {
            let mut c = std::net::TcpStream::connect(&addr).expect("connect");
            c.write_all(b"ping\n").unwrap();
            let mut line = String::new();
            BufReader::new(c.try_clone().unwrap())
                .read_line(&mut line)
                .unwrap();
            assert_eq!(line, "ping\n");
            c
        })
        .collect();
    let pid = server.0.id().to_string();
    let kill = Command::new("kill").args(["-USR1", &pid]).status().unwrap();
    assert!(kill.success(), "kill -USR1 {pid} failed");
    expect_line(&out, &mut seen, "--- ");
    let start = seen.len();
    expect_line(&out, &mut seen, "--- end ---");
    let tree = &seen[start..seen.len() - 1];
    let text = tree.join("\n");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let accept = tree
        .iter()
        .position(|l| l.contains("\"accept loop\""))
        .unwrap_or_else(|| panic!("no accept loop in:\n{text}"));
    assert_eq!(
        indent(&tree[accept]),
        0,
        "spawned by main: top level\n{text}"
    );
    assert!(tree[accept].contains("examples/dump.rs:"), "{text}");
    let conns: Vec<_> = tree.iter().filter(|l| l.contains("\"conn ")).collect();
    assert_eq!(conns.len(), 2, "{text}");
    assert!(
        conns.iter().all(|l| indent(l) == 2),
        "under the accept loop\n{text}"
    );
    let beats: Vec<_> = tree
        .iter()
        .filter(|l| l.contains("\"heartbeat\""))
        .collect();
    assert_eq!(beats.len(), 2, "{text}");
    assert!(
        beats.iter().all(|l| indent(l) == 4),
        "under their conn\n{text}"
    );
    // Each conn line is followed by its heartbeat.
    for (i, l) in tree.iter().enumerate() {
        if l.contains("\"conn ") {
            assert!(tree[i + 1].contains("\"heartbeat\""), "{text}");
        }
    }
    assert!(tree.iter().all(|l| l.contains(" polls=")), "{text}");
    drop(clients);
    let kill = Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(kill.success());
    expect_line(&out, &mut seen, "Ctrl+C received");
    let status = wait_with_timeout(&mut server.0, "dump after SIGINT", RUN_TIMEOUT);
    let stderr = String::from_utf8_lossy(&stderr.join().unwrap()).into_owned();
    assert!(
        status.success(),
        "dump exited with {status}; stderr:\n{stderr}"
    );
}

/// Does `actual` match the expected line `golden`? Placeholders in `golden` stand for what
/// real time decides: `<secs>` a number of seconds such as `2.0`, `<n>` a whole number.
fn line_matches(golden: &str, actual: &str) -> bool {
    let mut rest = actual;
    let mut golden = golden;
    loop {
        let next = [("<secs>", true), ("<n>", false)]
            .into_iter()
            .filter_map(|(p, frac)| golden.find(p).map(|at| (at, p, frac)))
            .min();
        let Some((at, placeholder, fraction)) = next else {
            return rest == golden;
        };
        let Some(after) = rest.strip_prefix(&golden[..at]) else {
            return false;
        };
        let digits = |s: &str| s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let mut taken = digits(after);
        if taken == 0 {
            return false;
        }
        if fraction {
            let Some(frac) = after[taken..].strip_prefix('.') else {
                return false;
            };
            let more = digits(frac);
            if more == 0 {
                return false;
            }
            taken += 1 + more;
        }
        rest = &after[taken..];
        golden = &golden[at + placeholder.len()..];
    }
}

#[test]
fn line_matching_placeholders() {
    assert!(line_matches("took <secs> s", "took 2.01 s"));
    assert!(!line_matches("took <secs> s", "took 2 s"));
    assert!(line_matches("(<n> ticks) <n>", "(16 ticks) 0"));
    assert!(!line_matches("(<n> ticks)", "(x ticks)"));
    assert!(!line_matches("a", "ab"));
}

/// On the current-thread flavor (`CIRANDA_FLAVOR=current_thread`, which `#[ciranda::main]`
/// honours when the example names no flavor) every example runs its tasks in asyncio's
/// order, so its output is exactly the one in `tests/tests/current_thread_output/NAME.txt`,
/// line for line (only real-time measurements are placeholders). The interactive echo pair
/// is checked by `echo_server_and_client_then_ctrl_c`, the signal-driven `dump` server by
/// `dump_prints_the_task_tree_on_sigusr1`.
#[test]
fn every_example_prints_exactly_the_expected_lines_on_the_current_thread_flavor() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let goldens = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/current_thread_output");
    let mut checked = 0;
    for name in ciranda_examples(workspace) {
        if name == "echo_server" || name == "echo_client" || name == "dump" {
            continue;
        }
        let golden_path = goldens.join(format!("{name}.txt"));
        let golden = std::fs::read_to_string(&golden_path).unwrap_or_else(|e| {
            panic!(
                "no expected output for example `{name}` ({}): {e}",
                golden_path.display()
            )
        });
        let mut command = example(&name);
        command.env("CIRANDA_FLAVOR", "current_thread");
        let run = run_with(&name, &[], command);
        let actual = run.lines();
        let expected: Vec<&str> = golden.lines().collect();
        let same = actual.len() == expected.len()
            && expected
                .iter()
                .zip(&actual)
                .all(|(g, a)| line_matches(g, a));
        assert!(
            same,
            "example `{name}` on the current-thread flavor:\nexpected ({}):\n{golden}\ngot:\n{}\nstderr:\n{}",
            golden_path.display(),
            run.stdout,
            run.stderr
        );
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} examples checked");
}
