//! Child processes — asyncio's `create_subprocess_exec`.
//!
//! [`Command`] has `std::process::Command`'s builder methods plus
//! [`kill_on_drop`](Command::kill_on_drop); [`Child`]'s pipes are non-blocking descriptors
//! registered with the reactor (they implement the `futures-io` traits), and its exit is
//! observed through the reactor too:
//!
//! * on Linux ≥ 5.3, a *pidfd* (`pidfd_open`) per waiting child, which becomes readable when the
//!   child exits;
//! * elsewhere (`pidfd_open` reports `ENOSYS`, or `EPERM`/`EACCES` from a seccomp sandbox that
//!   refuses it), one `SIGCHLD` listener for the whole process, polled by one task: each
//!   delivery makes the waiting children check for their exit with a non-blocking `waitpid`.
//!   A wait whose `pidfd_open` finds no descriptor free (`EMFILE`, `ENFILE`) uses it too, for
//!   that wait only; its listener runs on a socket pair that every spawn sets aside while no
//!   listener runs (so a process that spawns children holds two descriptors more).
//!
//! The `SIGCHLD` listener's task runs on the runtime of the first wait that needed it, and
//! moves to another only when that runtime shuts down: a current-thread runtime left idle
//! (outside its `block_on`) while it holds the task delays the waits of every other runtime
//! until it runs again or is dropped.
//!
//! Never a thread per child. A [`Child`] dropped before it was reaped (detached, or killed by
//! `kill_on_drop`) is waited for by a small task of the current runtime, which reaps it when it
//! exits. Dropped outside a runtime (or if that task is cancelled by a shutdown), it joins a
//! process-wide orphan list that is reaped, without blocking, whenever a child is spawned or a
//! wait completes. Either way children do not pile up as zombies.
//!
//! A pipeline (`a | b`) hands one child's pipe to the next with `Stdio::try_from(pipe)`
//! ([`ChildStdout`], [`ChildStderr`] or [`ChildStdin`]): the pipe leaves the reactor and is
//! made blocking again, as the next child's program expects.
//!
//! The Unix options of `std::os::unix::process::CommandExt` (and of Tokio's `Command`) are
//! methods of [`Command`] itself: [`process_group`](Command::process_group) (asyncio's
//! `process_group=`; `0` keeps a terminal's Ctrl+C from reaching the child),
//! [`uid`](Command::uid), [`gid`](Command::gid), [`arg0`](Command::arg0) and the `unsafe`
//! [`pre_exec`](Command::pre_exec) (for what the others do not cover, such as asyncio's
//! `start_new_session=True`: `setsid` in the child). [`as_std`](Command::as_std) shows the
//! underlying `std::process::Command` read-only.
//!
//! Setting the environment variable `CIRANDA_NO_PIDFD` (read once) forces the `SIGCHLD` path,
//! for testing it on kernels that have pidfds.
//!
//! ```
//! use ciranda::process::Command;
//!
//! ciranda::run(async {
//!     let out = Command::new("echo").arg("hello").output().await?;
//!     assert!(out.status.success());
//!     assert_eq!(out.stdout, b"hello\n");
//!     std::io::Result::Ok(())
//! })?;
//! # std::io::Result::Ok(())
//! ```

mod exit;
mod pipe;
mod sigchld;

pub use pipe::{ChildStderr, ChildStdin, ChildStdout};
pub use std::process::{ExitStatus, Output, Stdio};

use exit::Reaper;
use futures_util::io::AsyncReadExt;
use std::ffi::OsStr;
use std::fmt;
use std::future::Future;
use std::io;
use std::path::Path;

/// A process builder: `std::process::Command`'s methods, spawning a [`Child`] whose pipes and
/// exit are async.
///
/// # Examples
///
/// ```
/// use ciranda::process::{Command, Stdio};
/// use ciranda::io::{AsyncReadExt, AsyncWriteExt};
///
/// ciranda::run(async {
///     let mut child = Command::new("cat")
///         .stdin(Stdio::piped())
///         .stdout(Stdio::piped())
///         .spawn()?;
///     let mut stdin = child.stdin.take().unwrap();
///     stdin.write_all(b"meow").await?;
///     stdin.close().await?; // EOF for cat
///     let mut echoed = String::new();
///     child.stdout.take().unwrap().read_to_string(&mut echoed).await?;
///     assert_eq!(echoed, "meow");
///     assert!(child.wait().await?.success());
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Command {
    std: std::process::Command,
    kill_on_drop: bool,
    stdin_set: bool,
    stdout_set: bool,
    stderr_set: bool,
    /// The program as given: std keeps a placeholder (`"<string-with-nul>"`) for a name with
    /// a NUL byte, which `get_program` and the spawn error would show instead.
    program: std::ffi::OsString,
    /// The first input with a NUL byte (the program, an argument and its position `argv[n]`,
    /// the working directory), which `spawn` refuses naming it: std refuses it too, but keeps
    /// only a placeholder for it, and its message ("nul byte found in provided data") names
    /// nothing.
    nul: Option<String>,
}

/// Whether `s` holds a NUL byte (which no C string passed to `exec` can carry).
fn has_nul(s: &OsStr) -> bool {
    use std::os::unix::ffi::OsStrExt;
    s.as_bytes().contains(&0)
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.std.fmt(f)
    }
}

impl Command {
    /// A command running `program` (looked up in `PATH` if it has no slash), with the
    /// parent's environment and working directory, and (for [`spawn`](Command::spawn) and
    /// [`status`](Command::status)) its standard streams.
    pub fn new(program: impl AsRef<OsStr>) -> Command {
        let program = program.as_ref();
        Command {
            std: std::process::Command::new(program),
            program: program.to_owned(),
            nul: has_nul(program).then(|| "the program name".to_owned()),
            kill_on_drop: false,
            stdin_set: false,
            stdout_set: false,
            stderr_set: false,
        }
    }

    /// Adds an argument. One with a NUL byte makes [`spawn`](Command::spawn) fail naming it.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Command {
        let arg = arg.as_ref();
        if self.nul.is_none() && has_nul(arg) {
            let position = self.std.get_args().len() + 1;
            self.nul = Some(format!("argument {position} {arg:?}"));
        }
        self.std.arg(arg);
        self
    }

    /// Adds arguments (checked as [`arg`](Command::arg)'s).
    pub fn args<I, S>(&mut self, args: I) -> &mut Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        for arg in args {
            self.arg(arg);
        }
        self
    }

    /// Sets an environment variable for the child. A name that is empty or holds `=`, or a
    /// NUL byte in the name or value, makes [`spawn`](Command::spawn) fail naming it.
    pub fn env(&mut self, key: impl AsRef<OsStr>, val: impl AsRef<OsStr>) -> &mut Command {
        self.std.env(key, val);
        self
    }

    /// Sets several environment variables for the child (checked as [`env`](Command::env)'s).
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Command
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        self.std.envs(vars);
        self
    }

    /// Removes an environment variable from the child's environment.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Command {
        self.std.env_remove(key);
        self
    }

    /// Starts the child with an empty environment (plus what `env` adds).
    pub fn env_clear(&mut self) -> &mut Command {
        self.std.env_clear();
        self
    }

    /// The child's working directory. One with a NUL byte makes [`spawn`](Command::spawn)
    /// fail naming it.
    pub fn current_dir(&mut self, dir: impl AsRef<Path>) -> &mut Command {
        let dir = dir.as_ref();
        if self.nul.is_none() && has_nul(dir.as_os_str()) {
            self.nul = Some(format!("the working directory {dir:?}"));
        }
        self.std.current_dir(dir);
        self
    }

    /// The child's standard input ([`Stdio::piped`] gives [`Child::stdin`]).
    pub fn stdin(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdin(cfg);
        self.stdin_set = true;
        self
    }

    /// The child's standard output ([`Stdio::piped`] gives [`Child::stdout`]).
    pub fn stdout(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stdout(cfg);
        self.stdout_set = true;
        self
    }

    /// The child's standard error ([`Stdio::piped`] gives [`Child::stderr`]).
    pub fn stderr(&mut self, cfg: impl Into<Stdio>) -> &mut Command {
        self.std.stderr(cfg);
        self.stderr_set = true;
        self
    }

    /// Whether dropping the [`Child`] before it was reaped sends it `SIGKILL` (default:
    /// `false`, the child runs on). Either way a dropped child is reaped, never left a zombie.
    pub fn kill_on_drop(&mut self, kill_on_drop: bool) -> &mut Command {
        self.kill_on_drop = kill_on_drop;
        self
    }

    /// Runs the child in process group `pgid` (`setpgid` in the child, before `exec`; std's
    /// [`CommandExt::process_group`]): `0` puts it in a new group of its own, with its pid as
    /// the group id (asyncio's `process_group=0`); another value joins that existing group.
    ///
    /// A child in its own group does not get the signals a terminal sends to the foreground
    /// group (`SIGINT` from Ctrl+C, `SIGQUIT` from `Ctrl+\`), so it can be shut down in order
    /// instead, and `kill(-pgid, signal)` reaches it and everything it started in the group.
    ///
    /// [`CommandExt::process_group`]: std::os::unix::process::CommandExt::process_group
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    /// use std::os::unix::process::ExitStatusExt;
    ///
    /// ciranda::run(async {
    ///     let mut child = Command::new("sleep").arg("30").process_group(0).spawn()?;
    ///     let pgid = child.id() as libc::pid_t;
    ///     // SAFETY: `kill` takes no pointers; `-pgid` names the group the child leads.
    ///     assert_eq!(unsafe { libc::kill(-pgid, libc::SIGTERM) }, 0);
    ///     assert_eq!(child.wait().await?.signal(), Some(libc::SIGTERM));
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn process_group(&mut self, pgid: i32) -> &mut Command {
        std::os::unix::process::CommandExt::process_group(&mut self.std, pgid);
        self
    }

    /// Runs the child as user `uid` (`setuid` in the child, before `exec`; std's
    /// [`CommandExt::uid`]). Changing to another user needs the privilege to (root, or
    /// `CAP_SETUID`): without it [`spawn`](Command::spawn) fails with `PermissionDenied`
    /// (`EPERM`). Run from root, the child also loses root's supplementary groups (std drops
    /// them before `setuid`); its group stays the parent's unless [`gid`](Command::gid) sets
    /// another.
    ///
    /// [`CommandExt::uid`]: std::os::unix::process::CommandExt::uid
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    ///
    /// ciranda::run(async {
    ///     // SAFETY: `getuid` takes no arguments and cannot fail.
    ///     let uid = unsafe { libc::getuid() };
    ///     let out = Command::new("id").arg("-u").uid(uid).output().await?;
    ///     assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), uid.to_string());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn uid(&mut self, uid: u32) -> &mut Command {
        std::os::unix::process::CommandExt::uid(&mut self.std, uid);
        self
    }

    /// Runs the child with group id `gid` (`setgid` in the child, before `exec` and before
    /// [`uid`](Command::uid)'s `setuid`; std's [`CommandExt::gid`]). Changing to another group
    /// needs the privilege to: without it [`spawn`](Command::spawn) fails with
    /// `PermissionDenied` (`EPERM`).
    ///
    /// [`CommandExt::gid`]: std::os::unix::process::CommandExt::gid
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    ///
    /// ciranda::run(async {
    ///     // SAFETY: `getgid` takes no arguments and cannot fail.
    ///     let gid = unsafe { libc::getgid() };
    ///     let out = Command::new("id").arg("-g").gid(gid).output().await?;
    ///     assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), gid.to_string());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn gid(&mut self, gid: u32) -> &mut Command {
        std::os::unix::process::CommandExt::gid(&mut self.std, gid);
        self
    }

    /// Sets the child's `argv[0]` — what it sees as its own name (a shell's `$0`, what `ps`
    /// shows) — instead of the program name (std's [`CommandExt::arg0`]). The program to run
    /// is still [`new`](Command::new)'s, looked up in `PATH` as before, and
    /// [`get_program`](Command::get_program) still returns it. One with a NUL byte makes
    /// [`spawn`](Command::spawn) fail naming it.
    ///
    /// [`CommandExt::arg0`]: std::os::unix::process::CommandExt::arg0
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    ///
    /// ciranda::run(async {
    ///     let out = Command::new("sh")
    ///         .arg0("my-worker")
    ///         .args(["-c", "echo \"$0\""])
    ///         .output()
    ///         .await?;
    ///     assert_eq!(out.stdout, b"my-worker\n");
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub fn arg0(&mut self, arg0: impl AsRef<OsStr>) -> &mut Command {
        let arg0 = arg0.as_ref();
        if self.nul.is_none() && has_nul(arg0) {
            self.nul = Some(format!("argv[0] (arg0) {arg0:?}"));
        }
        std::os::unix::process::CommandExt::arg0(&mut self.std, arg0);
        self
    }

    /// Schedules `f` to run in the child after `fork` and before `exec` (std's
    /// [`CommandExt::pre_exec`]): after the standard streams are in place and
    /// [`gid`](Command::gid), [`uid`](Command::uid), [`current_dir`](Command::current_dir) and
    /// [`process_group`](Command::process_group) are applied. Several closures run in the
    /// order they were added. An `Err` from one stops the child before `exec`, and
    /// [`spawn`](Command::spawn) fails with its OS error code (the kind and the `os error N`
    /// in the message; only the code crosses from the child, so an error that has none
    /// arrives as `EINVAL`, `InvalidInput`).
    ///
    /// # Safety
    ///
    /// `f` runs in a copy of the process made by `fork`, in which only the thread that spawned
    /// exists: a lock another thread held (the allocator's, stdio's, a `Mutex`) stays locked
    /// forever there. A ciranda runtime runs several threads, so `f` must only do what is
    /// async-signal-safe (`man 7 signal-safety`): plain system calls, no allocation, no locks,
    /// no `println!`. The file descriptors, memory and so on it touches are the child's copies;
    /// changing them does not affect the parent.
    ///
    /// [`CommandExt::pre_exec`]: std::os::unix::process::CommandExt::pre_exec
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    ///
    /// ciranda::run(async {
    ///     let mut command = Command::new("true");
    ///     // SAFETY: the closure only calls `setsid`, which is async-signal-safe.
    ///     unsafe {
    ///         command.pre_exec(|| {
    ///             // A new session: no controlling terminal for the child.
    ///             if libc::setsid() == -1 {
    ///                 return Err(std::io::Error::last_os_error());
    ///             }
    ///             Ok(())
    ///         });
    ///     }
    ///     assert!(command.status().await?.success());
    ///     std::io::Result::Ok(())
    /// })?;
    /// # std::io::Result::Ok(())
    /// ```
    pub unsafe fn pre_exec<F>(&mut self, f: F) -> &mut Command
    where
        F: FnMut() -> io::Result<()> + Send + Sync + 'static,
    {
        // SAFETY: our caller promises what std's `pre_exec` asks for (see `# Safety`).
        unsafe { std::os::unix::process::CommandExt::pre_exec(&mut self.std, f) };
        self
    }

    /// The `std::process::Command` this builds, to read what was set (`get_args`, `get_envs`,
    /// `get_current_dir`). Read-only: a mutable one would let arguments and streams in past
    /// this builder's checks and bookkeeping. An input holding a NUL byte shows there as std's
    /// placeholder `"<string-with-nul>"` ([`get_program`](Command::get_program) returns the
    /// program as given).
    ///
    /// # Examples
    ///
    /// ```
    /// use ciranda::process::Command;
    ///
    /// let mut command = Command::new("ls");
    /// command.args(["-l", "/tmp"]).current_dir("/");
    /// let args: Vec<_> = command.as_std().get_args().collect();
    /// assert_eq!(args, ["-l", "/tmp"]);
    /// assert_eq!(command.as_std().get_current_dir(), Some(std::path::Path::new("/")));
    /// ```
    pub fn as_std(&self) -> &std::process::Command {
        &self.std
    }

    /// The program this command runs.
    pub fn get_program(&self) -> &OsStr {
        &self.program
    }

    /// Starts the child.
    ///
    /// # Errors
    ///
    /// When the program is empty (`InvalidInput`) or cannot be started (not found, not
    /// executable, a [`current_dir`](Command::current_dir) that does not exist, ...): the
    /// error's kind is the OS's and its message names the program (and the working directory,
    /// when one was set). `InvalidInput` naming the variable for an environment variable the
    /// child could not receive as given: a name that is empty or holds `=` (the child would
    /// see another variable: `env("A=B", "c")` sets `A` to `B=c`), or a NUL byte in its name
    /// or value. `InvalidInput` naming it for a NUL byte in the program name, an argument
    /// (with its position), [`arg0`](Command::arg0) or the working directory (std refuses
    /// those too, with a message that names none of them). `PermissionDenied` (`EPERM`) for a
    /// [`uid`](Command::uid) or [`gid`](Command::gid) the child may not take, or a
    /// [`process_group`](Command::process_group) that is no group of this session; the error
    /// of a [`pre_exec`](Command::pre_exec) closure that failed (see there). Also outside a
    /// ciranda runtime, before anything is started: the child's pipes and its exit are watched
    /// by the current runtime's reactor.
    pub fn spawn(&mut self) -> io::Result<Child> {
        let program = self.program.clone();
        if program.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "cannot spawn a process: the program name is empty (Command::new(\"\"))",
            ));
        }
        check_env(&program, &self.std)?;
        if let Some(what) = &self.nul {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "cannot spawn {program:?}: {what} has a NUL byte (no C string passed to exec can hold one)"
                ),
            ));
        }
        if ciranda_reactor::Reactor::try_current().is_none() {
            return Err(io::Error::other(format!(
                "cannot spawn {program:?}: there is no ciranda runtime on this thread (spawn inside `ciranda::run`, `Runtime::block_on` or a task)"
            )));
        }
        exit::reap_orphans();
        let mut std_child = self.std.spawn().map_err(|e| {
            // A missing working directory also comes back as "No such file or directory",
            // which alone reads as a missing program: name the directory when one was set.
            let message = match self.std.get_current_dir() {
                Some(dir) => format!("cannot spawn {program:?} in directory {dir:?}: {e}"),
                None => format!("cannot spawn {program:?}: {e}"),
            };
            io::Error::new(e.kind(), message)
        })?;
        // Register the pipes; if that fails, the child must not outlive us unreaped.
        let pipes = (|| {
            Ok::<_, io::Error>((
                std_child.stdin.take().map(ChildStdin::new).transpose()?,
                std_child.stdout.take().map(ChildStdout::new).transpose()?,
                std_child.stderr.take().map(ChildStderr::new).transpose()?,
            ))
        })();
        // A socket pair set aside now lets a wait that later finds no descriptor free for its
        // pidfd fall back to `SIGCHLD`, whose listener needs one (see `sigchld::reserve`).
        sigchld::reserve();
        let reaper = Reaper::new(std_child);
        let (stdin, stdout, stderr) = match pipes {
            Ok(pipes) => pipes,
            Err(e) => {
                drop(Child {
                    stdin: None,
                    stdout: None,
                    stderr: None,
                    reaper,
                    kill_on_drop: true,
                });
                return Err(e);
            }
        };
        Ok(Child {
            stdin,
            stdout,
            stderr,
            reaper,
            kill_on_drop: self.kill_on_drop,
        })
    }

    /// Runs the child to completion and collects its output — `stdout` and `stderr` are piped
    /// unless set, `stdin` is `/dev/null` unless set (for this child only: a later
    /// [`spawn`](Command::spawn) still inherits the streams not set). The child is spawned at
    /// once; the future reports any spawn error.
    ///
    /// # Cancel safety
    ///
    /// The child is spawned when `output` is called, not at the first poll. Dropping the future
    /// drops the [`Child`] (and the output read so far): it is killed if
    /// [`kill_on_drop`](Command::kill_on_drop) was set and left running otherwise, and in both
    /// cases reaped by the runtime when it exits.
    pub fn output(&mut self) -> impl Future<Output = io::Result<Output>> + Send + 'static {
        if !self.stdin_set {
            self.std.stdin(Stdio::null());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::piped());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::piped());
        }
        let child = self.spawn();
        // Those defaults were for this child only: std's builder keeps what it is given, so
        // put back what `spawn` uses for a stream not set (inherit).
        if !self.stdin_set {
            self.std.stdin(Stdio::inherit());
        }
        if !self.stdout_set {
            self.std.stdout(Stdio::inherit());
        }
        if !self.stderr_set {
            self.std.stderr(Stdio::inherit());
        }
        async move { child?.wait_with_output().await }
    }

    /// Runs the child to completion (standard streams inherited unless set) and returns its
    /// exit status. The child is spawned at once; the future reports any spawn error.
    ///
    /// Nobody can read or write a pipe asked for here, so each one is closed before the wait:
    /// a child writing to a piped stdout or stderr gets `EPIPE` (or `SIGPIPE`) instead of
    /// blocking on a full pipe forever.
    ///
    /// # Cancel safety
    ///
    /// The child is spawned when `status` is called, not at the first poll. Dropping the future
    /// drops the [`Child`]: it is killed if [`kill_on_drop`](Command::kill_on_drop) was set and
    /// left running otherwise, and in both cases reaped by the runtime when it exits.
    pub fn status(&mut self) -> impl Future<Output = io::Result<ExitStatus>> + Send + 'static {
        let child = self.spawn();
        async move {
            let mut child = child?;
            // Held while waiting, a pipe the child fills would block it, and us, for good.
            child.stdin = None;
            child.stdout = None;
            child.stderr = None;
            child.wait().await
        }
    }
}

/// Refuses an environment variable the child could not receive as given. The environment
/// reaches the child as `NAME=value` entries, which the child splits at the first `=`: a name
/// holding `=`, or an empty one, would arrive as another variable (or one no lookup finds), and
/// std passes both on silently. A NUL byte would end the entry early; std refuses it, but
/// without saying which variable holds it.
fn check_env(program: &OsStr, std: &std::process::Command) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    for (name, value) in std.get_envs() {
        // `None` is a removal (`env_remove`): nothing reaches the child.
        let Some(value) = value else { continue };
        let problem = if name.is_empty() {
            "has an empty name"
        } else if name.as_bytes().contains(&b'=') {
            "has '=' in its name (the child would see the name up to it, the rest in the value)"
        } else if name.as_bytes().contains(&0) {
            "has a NUL byte in its name"
        } else if value.as_bytes().contains(&0) {
            "has a NUL byte in its value"
        } else {
            continue;
        };
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("cannot spawn {program:?}: the environment variable {name:?} {problem}"),
        ));
    }
    Ok(())
}

/// A running (or finished, not yet awaited) child process.
///
/// Dropping it does not wait for it: it runs on (or is killed with
/// [`Command::kill_on_drop`]) and is reaped when it exits, by a task of the current runtime —
/// see the [module docs](self).
///
/// # Examples
///
/// ```
/// use ciranda::process::Command;
/// use std::os::unix::process::ExitStatusExt;
///
/// ciranda::run(async {
///     let mut child = Command::new("sleep").arg("30").spawn()?;
///     assert!(child.try_wait()?.is_none());
///     child.kill()?;
///     let status = child.wait().await?;
///     assert_eq!(status.signal(), Some(libc::SIGKILL));
///     std::io::Result::Ok(())
/// })?;
/// # std::io::Result::Ok(())
/// ```
pub struct Child {
    /// The child's standard input, if it was [`Stdio::piped`].
    pub stdin: Option<ChildStdin>,
    /// The child's standard output, if it was [`Stdio::piped`].
    pub stdout: Option<ChildStdout>,
    /// The child's standard error, if it was [`Stdio::piped`].
    pub stderr: Option<ChildStderr>,
    reaper: Reaper,
    kill_on_drop: bool,
}

impl fmt::Debug for Child {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Child")
            .field("pid", &self.id())
            .field("stdin", &self.stdin)
            .field("stdout", &self.stdout)
            .field("stderr", &self.stderr)
            .finish_non_exhaustive()
    }
}

impl Child {
    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.reaper.id()
    }

    /// Waits for the child to exit and reaps it. Closes [`stdin`](Child::stdin) first (so a
    /// child reading it sees end-of-file instead of both sides waiting for each other).
    ///
    /// The exit is watched through the reactor of the runtime that polls the wait: a wait
    /// given up in one runtime and taken up in another watches from the new one, whether the
    /// first still runs, sits idle or has shut down (unlike the pipes, which stay registered
    /// with the runtime that spawned the child). On the `SIGCHLD` fallback, see the
    /// [module docs](self) for the one exception.
    ///
    /// # Errors
    ///
    /// When polled outside a ciranda runtime, or the runtime shut down for good (on the
    /// `SIGCHLD` fallback, also in a `Handle::block_on` of a runtime that has shut down, when
    /// the listener's task has to be started: no task of it can run). When the child was
    /// reaped by someone else (a `waitpid(-1, ...)` or `SIGCHLD` set to `SIG_IGN` elsewhere in
    /// the process): the OS's `ECHILD`, as from `std::process::Child::wait`.
    ///
    /// # Cancel safety
    ///
    /// Cancel-safe: the exit status is never lost; the child is reaped once and a later `wait` or
    /// [`try_wait`](Child::try_wait) returns its status. [`stdin`](Child::stdin) stays closed.
    pub async fn wait(&mut self) -> io::Result<ExitStatus> {
        self.stdin = None;
        std::future::poll_fn(|cx| self.reaper.poll_wait(cx)).await
    }

    /// The exit status if the child has exited (reaping it), without waiting.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.reaper.try_wait()
    }

    /// Sends `SIGKILL` and returns at once; [`wait`](Child::wait) reaps the child. `Ok` if it
    /// had already been reaped.
    pub fn kill(&mut self) -> io::Result<()> {
        self.reaper.kill()
    }

    /// Closes stdin, reads stdout and stderr to their end (concurrently, so a child filling
    /// one pipe while we read the other cannot deadlock) and waits for the exit.
    ///
    /// # Cancel safety
    ///
    /// This consumes the `Child`: dropping the future drops it and the output read so far. The
    /// child is killed if [`kill_on_drop`](Command::kill_on_drop) was set and left running
    /// otherwise, and in both cases reaped by the runtime when it exits.
    pub async fn wait_with_output(mut self) -> io::Result<Output> {
        async fn read_all<R: futures_io::AsyncRead + Unpin>(
            pipe: Option<R>,
        ) -> io::Result<Vec<u8>> {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                pipe.read_to_end(&mut bytes).await?;
            }
            Ok(bytes)
        }
        self.stdin = None;
        let (stdout, stderr) = (self.stdout.take(), self.stderr.take());
        let (status, stdout, stderr) =
            futures_util::join!(self.wait(), read_all(stdout), read_all(stderr));
        Ok(Output {
            status: status?,
            stdout: stdout?,
            stderr: stderr?,
        })
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if self.reaper.is_reaped() {
            return;
        }
        if self.kill_on_drop {
            let _ = self.reaper.kill();
        }
        // Inside a runtime, a task waits for the exit (through the reactor, like `wait`) and
        // reaps it. Otherwise, or if that task is cancelled by a shutdown, the reaper's own
        // drop hands the child to the orphan list.
        if let Some(handle) = crate::Handle::try_current() {
            let mut reaper = std::mem::replace(&mut self.reaper, Reaper::empty());
            drop(handle.spawn(async move {
                let _ = std::future::poll_fn(|cx| reaper.poll_wait(cx)).await;
            }));
        }
    }
}
