//! Mirrors `asyncio.start_server(handle_client, host, port)` + `serve_forever()`: a TCP echo
//! server that sends every line back, one task per client, until Ctrl+C.
//!
//! Run it with `cargo run --example echo_server [ADDR]` (default `127.0.0.1:8888`; use port 0
//! for any free port — the address is printed), then in another terminal
//! `cargo run --example echo_client [ADDR]`. Stop the server with Ctrl+C.

use ciranda::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ciranda::net::{TcpListener, TcpStream};
use std::io;
use std::net::SocketAddr;

/// `async def handle_client(reader, writer)`: echo lines until the client closes.
async fn handle_client(stream: TcpStream, peer: SocketAddr) -> io::Result<usize> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    let mut line = String::new();
    let mut lines = 0;
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            break; // end of stream: the client closed its side
        }
        writer.write_all(line.as_bytes()).await?; // `writer.write(..)` + `await writer.drain()`
        lines += 1;
    }
    writer.close().await?;
    println!("client {peer} disconnected after {lines} line(s)");
    Ok(lines)
}

/// `serve_forever()`: accept clients and run one task per client. The client tasks are
/// detached (their handles are dropped): they run on their own, and the runtime cancels any
/// that are still running when `main` returns.
async fn serve(listener: TcpListener) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                println!("client {peer} connected");
                ciranda::spawn(async move {
                    if let Err(error) = handle_client(stream, peer).await {
                        eprintln!("client {peer} failed: {error}");
                    }
                });
            }
            Err(error) => eprintln!("accept failed: {error}"),
        }
    }
}

#[ciranda::main]
async fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8888".to_string());
    // Register the Ctrl+C handler before announcing the address, so a signal sent as soon as
    // the server is up is never missed.
    let interrupted = ciranda::signal::ctrl_c();
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("serving on {}", listener.local_addr()?);

    let server = ciranda::spawn(serve(listener));
    interrupted.await?;
    println!("Ctrl+C received, shutting down");
    // Stop accepting: cancelling the task drops the `serve` future, and the listener with it.
    server.abort();
    let stopped = server.await;
    println!(
        "server task cancelled: {}",
        stopped.is_err_and(|e| e.is_cancelled())
    );
    Ok(())
}
