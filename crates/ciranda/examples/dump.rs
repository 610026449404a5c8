//! "What is my program doing right now?": a small TCP server that prints its task tree —
//! like asyncio 3.14's `python -m asyncio pstree PID` — whenever it receives SIGUSR1.
//!
//! Run it with `cargo run --example dump [ADDR]` (default `127.0.0.1:8889`; port 0 picks a
//! free one — the address is printed), connect a few clients (`nc 127.0.0.1 8889`), then
//! `kill -USR1 <pid>`: the tree shows the accept loop, one `conn` task per client under it
//! and, under each, its `heartbeat` task, with its spawn line, poll count, time in poll and
//! time since its last poll. It stops on Ctrl+C.

use ciranda::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ciranda::net::{TcpListener, TcpStream};
use ciranda::signal::unix::{SignalKind, signal};
use ciranda::task::Builder;
use std::io;
use std::time::Duration;

/// One client: echo lines, with a heartbeat task beside it that a dump shows as its child.
async fn client(stream: TcpStream) -> io::Result<()> {
    let heartbeat = Builder::new().name("heartbeat").spawn(async {
        loop {
            ciranda::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    while reader.read_line(&mut line).await? != 0 {
        writer.write_all(line.as_bytes()).await?;
        line.clear();
    }
    heartbeat.abort();
    Ok(())
}

async fn accept_loop(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                Builder::new()
                    .name(&format!("conn {peer}"))
                    .spawn(async move {
                        if let Err(error) = client(stream).await {
                            eprintln!("client {peer} failed: {error}");
                        }
                    });
            }
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
}

fn main() -> io::Result<()> {
    // Task timing adds each task's time in poll and time since its last poll to the tree.
    let rt = ciranda::Runtime::builder().task_timing(true).build()?;
    rt.block_on(serve())
}

async fn serve() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8889".to_string());
    // Listeners first, so a signal sent as soon as the address is printed is not missed.
    let mut usr1 = signal(SignalKind::user_defined1())?;
    let interrupted = ciranda::signal::ctrl_c();
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!(
        "serving on {} (pid {})",
        listener.local_addr()?,
        std::process::id()
    );
    let server = Builder::new()
        .name("accept loop")
        .spawn(accept_loop(listener));
    let dumper = Builder::new().name("dumper").spawn(async move {
        while usr1.recv().await.is_some() {
            let dump = ciranda::Handle::current().dump();
            println!("--- {} tasks ---", dump.tasks().len());
            print!("{dump}");
            println!("--- end ---");
        }
    });
    interrupted.await?;
    println!("Ctrl+C received, shutting down");
    server.abort();
    dumper.abort();
    Ok(())
}
