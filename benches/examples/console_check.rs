//! Checks that tokio-console sees ciranda's tasks: runs the real `console-subscriber` over
//! ciranda's `tracing` feature, then asks its gRPC server (on loopback) for the task list,
//! as the `tokio-console` UI does, and checks that three named ciranda tasks are there with
//! their names and poll counts. Exits 0 and prints `console check passed` on success.
//!
//! ```text
//! CARGO_TARGET_DIR=target/console RUSTFLAGS="--cfg console_without_tokio_unstable" \
//!     cargo run -p ciranda-benches --features console --example console_check
//! ```
//!
//! (console-subscriber refuses to start unless it is built with that cfg; a target directory
//! of its own keeps the flag from rebuilding the main one.)

use console_api::instrument::InstrumentRequest;
use console_api::instrument::instrument_client::InstrumentClient;
use console_api::{field, tasks};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::time::{Duration, Instant};

const NAMES: [&str; 3] = ["console-check-a", "console-check-b", "console-check-c"];
const YIELDS: u64 = 10;

fn main() {
    let addr: SocketAddr = {
        // A free loopback port (released just before the server binds it).
        let probe = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a probe");
        probe.local_addr().unwrap()
    };
    console_subscriber::ConsoleLayer::builder()
        .server_addr(addr)
        .publish_interval(Duration::from_millis(100))
        .init();

    let rt = ciranda::Runtime::builder()
        .worker_threads(2)
        .build()
        .expect("start ciranda");
    let tasks: Vec<_> = NAMES
        .iter()
        .map(|name| {
            ciranda::task::Builder::new().name(name).spawn_on(
                async {
                    for _ in 0..YIELDS {
                        ciranda::task::yield_now().await;
                    }
                    std::future::pending::<()>().await
                },
                &rt.handle(),
            )
        })
        .collect();

    let client = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let seen = client.block_on(watch(addr));
    for task in &tasks {
        task.abort();
    }
    for name in NAMES {
        let polls = seen.get(name).copied().unwrap_or(0);
        println!("{name}: {polls} polls");
        assert!(
            polls > YIELDS,
            "console lists {name} with {polls} polls; expected more than {YIELDS}"
        );
    }
    println!("console check passed");
}

/// Watches the console's updates until every task of `NAMES` was seen with more than
/// `YIELDS` polls (or 60 s pass); returns the poll count seen per name.
async fn watch(addr: SocketAddr) -> HashMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let url = format!("http://{addr}");
    let mut client = loop {
        match InstrumentClient::connect(url.clone()).await {
            Ok(client) => break client,
            Err(error) => {
                assert!(
                    Instant::now() < deadline,
                    "cannot connect to {url}: {error}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    let mut updates = client
        .watch_updates(InstrumentRequest {})
        .await
        .expect("watch_updates")
        .into_inner();
    let mut names: HashMap<u64, String> = HashMap::new(); // span id -> task name
    let mut polls: HashMap<String, u64> = HashMap::new();
    while Instant::now() < deadline {
        let update = tokio::time::timeout(Duration::from_secs(5), updates.message())
            .await
            .expect("an update within 5 s")
            .expect("the update stream")
            .expect("the stream stays open");
        let Some(task_update) = update.task_update else {
            continue;
        };
        if std::env::var_os("CONSOLE_CHECK_DEBUG").is_some() {
            eprintln!("update: {task_update:?}");
        }
        for task in &task_update.new_tasks {
            if let (Some(id), Some(name)) = (&task.id, task_name(task)) {
                names.insert(id.id, name);
            }
        }
        for (id, stats) in &task_update.stats_update {
            if let (Some(name), Some(poll)) = (names.get(id), &stats.poll_stats) {
                polls.insert(name.clone(), poll.polls);
            }
        }
        if NAMES
            .iter()
            .all(|n| polls.get(*n).is_some_and(|&p| p > YIELDS))
        {
            break;
        }
    }
    polls
}

/// The `task.name` field of a task, as console-subscriber sends it.
fn task_name(task: &tasks::Task) -> Option<String> {
    task.fields.iter().find_map(|f| {
        let is_name = matches!(&f.name, Some(field::Name::StrName(n)) if n == "task.name");
        match (&f.value, is_name) {
            (Some(field::Value::StrVal(v)), true) => Some(v.clone()),
            (Some(field::Value::DebugVal(v)), true) => Some(v.trim_matches('"').to_string()),
            _ => None,
        }
    })
}
