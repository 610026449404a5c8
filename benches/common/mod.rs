//! What every bench target shares: configuration from the environment, criterion settings,
//! and one facade module per runtime (`ciranda_rt`, `tokio_rt`, `smol_rt`) exposing the same
//! names, so that a workload is written once and expanded three times by [`each_runtime!`].
//!
//! The facades are thin: each function is the runtime's own idiomatic call (Tokio's and
//! ciranda's ambient `spawn`, smol's `Executor::spawn` on the executor of the current thread),
//! so the workloads measure the runtimes, not an abstraction layer.

// Each bench target is its own crate and uses a different subset of the facades.
#![allow(dead_code)]

use criterion::{BenchmarkGroup, Criterion, SamplingMode, measurement::WallTime};
use std::sync::{Mutex, Once};
use std::time::{Duration, Instant};

/// Expands `$body` three times, with `$rt` naming `ciranda_rt`, `tokio_rt` and `smol_rt` in
/// turn (in that order, so the three runs of a workload follow each other in time).
#[allow(unused_macros)]
macro_rules! each_runtime {
    ($rt:ident => $body:block) => {{
        {
            #[allow(unused_imports)]
            use crate::common::ciranda_rt as $rt;
            let _watch = crate::common::Watch::start($rt::NAME);
            $body
        }
        {
            #[allow(unused_imports)]
            use crate::common::tokio_rt as $rt;
            let _watch = crate::common::Watch::start($rt::NAME);
            $body
        }
        {
            #[allow(unused_imports)]
            use crate::common::smol_rt as $rt;
            let _watch = crate::common::Watch::start($rt::NAME);
            $body
        }
    }};
}

/// Worker threads for every runtime: `CIRANDA_BENCH_WORKERS`, else the available parallelism.
pub fn workers() -> usize {
    std::env::var("CIRANDA_BENCH_WORKERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

/// A probe's summary of its timings: median, 10th and 90th percentiles, in microseconds.
pub fn summary(mut times: Vec<std::time::Duration>) -> String {
    times.sort();
    let at = |q: usize| times[(times.len() - 1) * q / 100].as_secs_f64() * 1e6;
    format!(
        "median {:7.1} µs  p10 {:7.1}  p90 {:7.1}",
        at(50),
        at(10),
        at(90)
    )
}

/// `CIRANDA_BENCH_QUICK=1`: a smoke run (few samples, short measurement).
pub fn quick() -> bool {
    std::env::var("CIRANDA_BENCH_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The criterion configuration every target starts from (command-line flags still apply).
pub fn criterion() -> Criterion {
    let c = Criterion::default().without_plots();
    if quick() {
        c.warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500))
            .sample_size(10)
    } else {
        c.warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(5))
            .sample_size(50)
    }
}

/// A group for a per-operation workload (`iter_custom` over single operations of tens of
/// nanoseconds to microseconds): criterion's default linear sampling.
pub fn group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    *GROUP.lock().unwrap() = name.to_owned();
    c.benchmark_group(name)
}

/// How long one runtime may spend on one workload (setup, warm-up, measurement, teardown)
/// before the watchdog declares it hung: several times what the slowest workload needs.
const HANG_LIMIT: Duration = Duration::from_secs(60);

static GROUP: Mutex<String> = Mutex::new(String::new());
static WATCHED: Mutex<Option<(String, Instant)>> = Mutex::new(None);

/// Watchdog over one runtime's run of the current group: a runtime that loses a wake-up
/// would otherwise hang the suite forever. Past [`HANG_LIMIT`] the process reports which
/// workload hung and exits with status 3 (`cargo bench --no-fail-fast` goes on with the
/// other targets; the results criterion already wrote stay).
pub struct Watch(());

impl Watch {
    pub fn start(runtime: &str) -> Watch {
        static THREAD: Once = Once::new();
        THREAD.call_once(|| {
            std::thread::Builder::new()
                .name("bench-watchdog".into())
                .spawn(|| {
                    loop {
                        std::thread::sleep(Duration::from_secs(1));
                        if let Some((label, since)) = &*WATCHED.lock().unwrap() {
                            if since.elapsed() > HANG_LIMIT {
                                eprintln!(
                                    "\nHANG: {label} did not finish within {} s; exiting. \
                                     This is a bug in that runtime (or in the bench).",
                                    HANG_LIMIT.as_secs()
                                );
                                std::process::exit(3);
                            }
                        }
                    }
                })
                .expect("spawn watchdog");
        });
        let label = format!("{}/{runtime}", GROUP.lock().unwrap());
        *WATCHED.lock().unwrap() = Some((label, Instant::now()));
        Watch(())
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        *WATCHED.lock().unwrap() = None;
    }
}

/// A group for a workload whose iteration is a whole batch (a millisecond to a second):
/// flat sampling, so criterion needs only `sample_size` iterations rather than the
/// `n(n+1)/2` of a linear ramp, which would overrun the measurement time many times over.
pub fn slow_group<'a>(c: &'a mut Criterion, name: &str) -> BenchmarkGroup<'a, WallTime> {
    let quick = quick();
    let mut g = group(c, name);
    g.sampling_mode(SamplingMode::Flat);
    if quick {
        g.sample_size(10)
            .warm_up_time(Duration::from_millis(200))
            .measurement_time(Duration::from_millis(500));
    } else {
        g.sample_size(20)
            .warm_up_time(Duration::from_secs(2))
            .measurement_time(Duration::from_secs(5));
    }
    g
}

/// ciranda: `ciranda::Runtime` with `workers` worker threads.
pub mod ciranda_rt {
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;

    /// Name used as the criterion function id.
    pub const NAME: &str = "ciranda";

    /// The runtime under test.
    pub struct Rt(ciranda::Runtime);

    impl Rt {
        /// A runtime with `workers` worker threads.
        pub fn new(workers: usize) -> Rt {
            Rt(ciranda::Runtime::builder()
                .worker_threads(workers)
                .build()
                .expect("ciranda runtime"))
        }

        /// A current-thread runtime: tasks run only on the thread in `block_on`.
        pub fn current_thread() -> Rt {
            Rt(ciranda::Runtime::builder()
                .flavor(ciranda::Flavor::CurrentThread)
                .build()
                .expect("ciranda runtime"))
        }

        /// Runs `f` on this thread, the runtime being current.
        pub fn block_on<F: Future>(&self, f: F) -> F::Output {
            self.0.block_on(f)
        }

        /// Spawns from outside the runtime.
        pub fn spawn<F>(&self, f: F) -> JoinHandle<F::Output>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            self.0.spawn(f)
        }
    }

    pub type JoinHandle<T> = ciranda::task::JoinHandle<T>;

    #[inline]
    pub fn spawn<F>(f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        ciranda::spawn(f)
    }

    #[inline]
    pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        ciranda::spawn_blocking(f)
    }

    #[inline]
    pub async fn join<T>(h: JoinHandle<T>) -> T {
        h.await.expect("task failed")
    }

    #[inline]
    pub fn detach<T>(h: JoinHandle<T>) {
        drop(h);
    }

    #[inline]
    pub async fn yield_now() {
        ciranda::task::yield_now().await;
    }

    pub type Sleep = ciranda::time::Sleep;

    #[inline]
    pub fn sleep(d: Duration) -> Sleep {
        ciranda::time::sleep(d)
    }

    #[inline]
    pub async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        ciranda::time::timeout(d, f).await.ok()
    }

    pub type Mutex<T> = ciranda::sync::Mutex<T>;

    #[inline]
    pub async fn lock<T>(m: &Mutex<T>) -> ciranda::sync::MutexGuard<'_, T> {
        m.lock().await
    }

    pub type Semaphore = ciranda::sync::Semaphore;

    #[inline]
    pub async fn acquire(s: &Semaphore) -> ciranda::sync::SemaphorePermit<'_> {
        s.acquire().await.expect("semaphore closed")
    }

    pub type Notify = ciranda::sync::Notify;

    pub fn notify_new() -> Notify {
        Notify::new()
    }

    #[inline]
    pub fn notify_one(n: &Notify) {
        n.notify_one();
    }

    #[inline]
    pub fn notify_waiters(n: &Notify) {
        n.notify_waiters();
    }

    #[inline]
    pub async fn notified(n: &Notify) {
        n.notified().await;
    }

    pub type Tx<T> = ciranda::sync::mpsc::Sender<T>;
    pub type Rx<T> = ciranda::sync::mpsc::Receiver<T>;
    pub type UTx<T> = ciranda::sync::mpsc::UnboundedSender<T>;
    pub type URx<T> = ciranda::sync::mpsc::UnboundedReceiver<T>;

    pub fn bounded<T>(cap: usize) -> (Tx<T>, Rx<T>) {
        ciranda::sync::mpsc::channel(cap)
    }

    #[inline]
    pub async fn send<T>(tx: &Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn recv<T>(rx: &mut Rx<T>) -> Option<T> {
        rx.recv().await
    }

    pub fn unbounded<T>() -> (UTx<T>, URx<T>) {
        ciranda::sync::mpsc::unbounded_channel()
    }

    #[inline]
    pub fn usend<T>(tx: &UTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn urecv<T>(rx: &mut URx<T>) -> Option<T> {
        rx.recv().await
    }

    pub type OTx<T> = ciranda::sync::oneshot::Sender<T>;
    pub type ORx<T> = ciranda::sync::oneshot::Receiver<T>;

    pub fn oneshot<T>() -> (OTx<T>, ORx<T>) {
        ciranda::sync::oneshot::channel()
    }

    #[inline]
    pub fn osend<T>(tx: OTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("oneshot receiver dropped");
        }
    }

    #[inline]
    pub async fn orecv<T>(rx: ORx<T>) -> T {
        rx.await.expect("oneshot sender dropped")
    }

    pub type Listener = ciranda::net::TcpListener;
    pub type Stream = ciranda::net::TcpStream;

    pub async fn bind() -> Listener {
        Listener::bind("127.0.0.1:0").await.expect("bind")
    }

    pub fn local_addr(l: &Listener) -> SocketAddr {
        l.local_addr().expect("local_addr")
    }

    #[inline]
    pub async fn accept(l: &Listener) -> Stream {
        let (s, _) = l.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    pub async fn connect(addr: SocketAddr) -> Stream {
        let s = Stream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    #[inline]
    pub async fn read_exact(s: &mut Stream, buf: &mut [u8]) -> io::Result<()> {
        ciranda::io::AsyncReadExt::read_exact(s, buf).await
    }

    #[inline]
    pub async fn write_all(s: &mut Stream, buf: &[u8]) -> io::Result<()> {
        ciranda::io::AsyncWriteExt::write_all(s, buf).await
    }
}

/// Tokio: the multi-thread runtime with every driver enabled, as in Tokio's own benches.
pub mod tokio_rt {
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Name used as the criterion function id.
    pub const NAME: &str = "tokio";

    /// The runtime under test.
    pub struct Rt(tokio::runtime::Runtime);

    impl Rt {
        /// A multi-thread runtime with `workers` worker threads.
        pub fn new(workers: usize) -> Rt {
            Rt(tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .build()
                .expect("tokio runtime"))
        }

        /// Tokio's `current_thread` runtime: tasks run only on the thread in `block_on`.
        pub fn current_thread() -> Rt {
            Rt(tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("tokio runtime"))
        }

        /// Runs `f` on this thread, the runtime being current.
        pub fn block_on<F: Future>(&self, f: F) -> F::Output {
            self.0.block_on(f)
        }

        /// Spawns from outside the runtime.
        pub fn spawn<F>(&self, f: F) -> JoinHandle<F::Output>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            self.0.spawn(f)
        }
    }

    pub type JoinHandle<T> = tokio::task::JoinHandle<T>;

    #[inline]
    pub fn spawn<F>(f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(f)
    }

    #[inline]
    pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        tokio::task::spawn_blocking(f)
    }

    #[inline]
    pub async fn join<T>(h: JoinHandle<T>) -> T {
        h.await.expect("task failed")
    }

    #[inline]
    pub fn detach<T>(h: JoinHandle<T>) {
        drop(h);
    }

    #[inline]
    pub async fn yield_now() {
        tokio::task::yield_now().await;
    }

    pub type Sleep = tokio::time::Sleep;

    #[inline]
    pub fn sleep(d: Duration) -> Sleep {
        tokio::time::sleep(d)
    }

    #[inline]
    pub async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        tokio::time::timeout(d, f).await.ok()
    }

    pub type Mutex<T> = tokio::sync::Mutex<T>;

    #[inline]
    pub async fn lock<T>(m: &Mutex<T>) -> tokio::sync::MutexGuard<'_, T> {
        m.lock().await
    }

    pub type Semaphore = tokio::sync::Semaphore;

    #[inline]
    pub async fn acquire(s: &Semaphore) -> tokio::sync::SemaphorePermit<'_> {
        s.acquire().await.expect("semaphore closed")
    }

    pub type Notify = tokio::sync::Notify;

    pub fn notify_new() -> Notify {
        Notify::new()
    }

    #[inline]
    pub fn notify_one(n: &Notify) {
        n.notify_one();
    }

    #[inline]
    pub fn notify_waiters(n: &Notify) {
        n.notify_waiters();
    }

    #[inline]
    pub async fn notified(n: &Notify) {
        n.notified().await;
    }

    pub type Tx<T> = tokio::sync::mpsc::Sender<T>;
    pub type Rx<T> = tokio::sync::mpsc::Receiver<T>;
    pub type UTx<T> = tokio::sync::mpsc::UnboundedSender<T>;
    pub type URx<T> = tokio::sync::mpsc::UnboundedReceiver<T>;

    pub fn bounded<T>(cap: usize) -> (Tx<T>, Rx<T>) {
        tokio::sync::mpsc::channel(cap)
    }

    #[inline]
    pub async fn send<T>(tx: &Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn recv<T>(rx: &mut Rx<T>) -> Option<T> {
        rx.recv().await
    }

    pub fn unbounded<T>() -> (UTx<T>, URx<T>) {
        tokio::sync::mpsc::unbounded_channel()
    }

    #[inline]
    pub fn usend<T>(tx: &UTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn urecv<T>(rx: &mut URx<T>) -> Option<T> {
        rx.recv().await
    }

    pub type OTx<T> = tokio::sync::oneshot::Sender<T>;
    pub type ORx<T> = tokio::sync::oneshot::Receiver<T>;

    pub fn oneshot<T>() -> (OTx<T>, ORx<T>) {
        tokio::sync::oneshot::channel()
    }

    #[inline]
    pub fn osend<T>(tx: OTx<T>, v: T) {
        if tx.send(v).is_err() {
            panic!("oneshot receiver dropped");
        }
    }

    #[inline]
    pub async fn orecv<T>(rx: ORx<T>) -> T {
        rx.await.expect("oneshot sender dropped")
    }

    pub type Listener = tokio::net::TcpListener;
    pub type Stream = tokio::net::TcpStream;

    pub async fn bind() -> Listener {
        Listener::bind("127.0.0.1:0").await.expect("bind")
    }

    pub fn local_addr(l: &Listener) -> SocketAddr {
        l.local_addr().expect("local_addr")
    }

    #[inline]
    pub async fn accept(l: &Listener) -> Stream {
        let (s, _) = l.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    pub async fn connect(addr: SocketAddr) -> Stream {
        let s = Stream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    #[inline]
    pub async fn read_exact(s: &mut Stream, buf: &mut [u8]) -> io::Result<()> {
        s.read_exact(buf).await.map(drop)
    }

    #[inline]
    pub async fn write_all(s: &mut Stream, buf: &[u8]) -> io::Result<()> {
        s.write_all(buf).await
    }
}

/// smol: an `async_executor::Executor` run by `workers` threads (each in `async_io::block_on`,
/// so idle threads take turns on async-io's reactor), as smol's documentation sets up a
/// multi-threaded executor. Tasks spawned inside the runtime go to the executor of the
/// current thread, which a thread-local names (smol has no ambient spawn of its own).
pub mod smol_rt {
    use smol::Executor;
    use smol::future::FutureExt as _;
    use smol::io::{AsyncReadExt, AsyncWriteExt};
    use std::cell::RefCell;
    use std::future::Future;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::Arc;
    use std::thread;
    use std::time::Duration;

    /// Name used as the criterion function id.
    pub const NAME: &str = "smol";

    thread_local! {
        static CURRENT: RefCell<Option<Arc<Executor<'static>>>> = const { RefCell::new(None) };
    }

    /// Makes `ex` the current executor of this thread until dropped.
    struct Enter(Option<Arc<Executor<'static>>>);

    impl Enter {
        fn new(ex: &Arc<Executor<'static>>) -> Enter {
            Enter(CURRENT.with(|c| c.borrow_mut().replace(ex.clone())))
        }
    }

    impl Drop for Enter {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
        }
    }

    /// The runtime under test.
    pub struct Rt {
        ex: Arc<Executor<'static>>,
        stop: Option<smol::channel::Sender<()>>,
        threads: Vec<thread::JoinHandle<()>>,
        /// No worker threads: `block_on` runs the executor (`Executor::run`) itself.
        drives: bool,
    }

    impl Rt {
        /// An executor with `workers` threads running it.
        pub fn new(workers: usize) -> Rt {
            let ex = Arc::new(Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            let threads = (0..workers)
                .map(|i| {
                    let ex = ex.clone();
                    let stopped = stopped.clone();
                    thread::Builder::new()
                        .name(format!("smol-worker-{i}"))
                        .spawn(move || {
                            let _enter = Enter::new(&ex);
                            smol::block_on(ex.run(async {
                                let _ = stopped.recv().await;
                            }));
                        })
                        .expect("spawn smol worker")
                })
                .collect();
            Rt {
                ex,
                stop: Some(stop),
                threads,
                drives: false,
            }
        }

        /// An executor run by one thread only, the one in `block_on` (smol's single-threaded
        /// setup: `block_on(ex.run(..))`).
        pub fn current_thread() -> Rt {
            Rt {
                ex: Arc::new(Executor::new()),
                stop: None,
                threads: Vec::new(),
                drives: true,
            }
        }

        /// Runs `f` on this thread (async-io's `block_on`), the executor being current; on a
        /// [`current_thread`](Rt::current_thread) executor this thread runs its tasks too.
        pub fn block_on<F: Future>(&self, f: F) -> F::Output {
            let _enter = Enter::new(&self.ex);
            if self.drives {
                smol::block_on(self.ex.run(f))
            } else {
                smol::block_on(f)
            }
        }

        /// Spawns from outside the runtime.
        pub fn spawn<F>(&self, f: F) -> JoinHandle<F::Output>
        where
            F: Future + Send + 'static,
            F::Output: Send + 'static,
        {
            self.ex.spawn(f)
        }
    }

    impl Drop for Rt {
        fn drop(&mut self) {
            drop(self.stop.take());
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }

    pub type JoinHandle<T> = smol::Task<T>;

    #[inline]
    pub fn spawn<F>(f: F) -> JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        CURRENT.with(|c| {
            c.borrow()
                .as_ref()
                .expect("smol_rt::spawn outside the runtime")
                .spawn(f)
        })
    }

    #[inline]
    pub fn spawn_blocking<F, R>(f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        smol::unblock(f)
    }

    #[inline]
    pub async fn join<T>(h: JoinHandle<T>) -> T {
        h.await
    }

    /// Dropping a smol `Task` cancels it; detaching lets it run, as dropping does elsewhere.
    #[inline]
    pub fn detach<T>(h: JoinHandle<T>) {
        h.detach();
    }

    #[inline]
    pub async fn yield_now() {
        smol::future::yield_now().await;
    }

    pub type Sleep = smol::Timer;

    #[inline]
    pub fn sleep(d: Duration) -> Sleep {
        smol::Timer::after(d)
    }

    /// smol has no `timeout`: its idiom is racing the future against a `Timer` (the future
    /// is polled first, as Tokio's and ciranda's `timeout` do). The timer is created up
    /// front, as `timeout(d, f)` fixes its deadline when called; created inside the losing
    /// branch it would never exist when `f` is ready at once.
    #[inline]
    pub async fn timeout<F: Future>(d: Duration, f: F) -> Option<F::Output> {
        let timer = smol::Timer::after(d);
        async { Some(f.await) }
            .or(async move {
                timer.await;
                None
            })
            .await
    }

    pub type Mutex<T> = smol::lock::Mutex<T>;

    #[inline]
    pub async fn lock<T>(m: &Mutex<T>) -> smol::lock::MutexGuard<'_, T> {
        m.lock().await
    }

    pub type Semaphore = smol::lock::Semaphore;

    #[inline]
    pub async fn acquire(s: &Semaphore) -> smol::lock::SemaphoreGuard<'_> {
        s.acquire().await
    }

    /// smol has no `Notify`; `event_listener::Event` (what async-lock is built on) is the
    /// nearest: `notify(1)` wakes one listener, but a notification with no listener is lost
    /// rather than stored.
    pub type Notify = event_listener::Event;

    pub fn notify_new() -> Notify {
        Notify::new()
    }

    #[inline]
    pub fn notify_one(n: &Notify) {
        n.notify(1);
    }

    #[inline]
    pub fn notify_waiters(n: &Notify) {
        n.notify(usize::MAX);
    }

    #[inline]
    pub async fn notified(n: &Notify) {
        n.listen().await;
    }

    pub type Tx<T> = smol::channel::Sender<T>;
    pub type Rx<T> = smol::channel::Receiver<T>;
    pub type UTx<T> = smol::channel::Sender<T>;
    pub type URx<T> = smol::channel::Receiver<T>;

    pub fn bounded<T>(cap: usize) -> (Tx<T>, Rx<T>) {
        smol::channel::bounded(cap)
    }

    #[inline]
    pub async fn send<T>(tx: &Tx<T>, v: T) {
        if tx.send(v).await.is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn recv<T>(rx: &mut Rx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    pub fn unbounded<T>() -> (UTx<T>, URx<T>) {
        smol::channel::unbounded()
    }

    #[inline]
    pub fn usend<T>(tx: &UTx<T>, v: T) {
        if tx.try_send(v).is_err() {
            panic!("receiver dropped");
        }
    }

    #[inline]
    pub async fn urecv<T>(rx: &mut URx<T>) -> Option<T> {
        rx.recv().await.ok()
    }

    /// smol has no oneshot channel; a bounded channel of capacity 1 is its usual stand-in.
    pub type OTx<T> = smol::channel::Sender<T>;
    pub type ORx<T> = smol::channel::Receiver<T>;

    pub fn oneshot<T>() -> (OTx<T>, ORx<T>) {
        smol::channel::bounded(1)
    }

    #[inline]
    pub fn osend<T>(tx: OTx<T>, v: T) {
        if tx.try_send(v).is_err() {
            panic!("oneshot receiver dropped");
        }
    }

    #[inline]
    pub async fn orecv<T>(rx: ORx<T>) -> T {
        rx.recv().await.expect("oneshot sender dropped")
    }

    pub type Listener = smol::net::TcpListener;
    pub type Stream = smol::net::TcpStream;

    pub async fn bind() -> Listener {
        Listener::bind("127.0.0.1:0").await.expect("bind")
    }

    pub fn local_addr(l: &Listener) -> SocketAddr {
        l.local_addr().expect("local_addr")
    }

    #[inline]
    pub async fn accept(l: &Listener) -> Stream {
        let (s, _) = l.accept().await.expect("accept");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    pub async fn connect(addr: SocketAddr) -> Stream {
        let s = Stream::connect(addr).await.expect("connect");
        s.set_nodelay(true).expect("nodelay");
        s
    }

    #[inline]
    pub async fn read_exact(s: &mut Stream, buf: &mut [u8]) -> io::Result<()> {
        s.read_exact(buf).await
    }

    #[inline]
    pub async fn write_all(s: &mut Stream, buf: &[u8]) -> io::Result<()> {
        s.write_all(buf).await
    }
}
