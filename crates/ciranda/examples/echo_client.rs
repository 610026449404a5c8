//! Mirrors `asyncio.open_connection(host, port)`: connect to the echo server, send a few
//! lines, print what comes back, close the connection.
//!
//! Start the server first (`cargo run --example echo_server`), then run
//! `cargo run --example echo_client [ADDR] [LINE]...` (default address `127.0.0.1:8888`).

use ciranda::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ciranda::net::TcpStream;
use std::io;

#[ciranda::main]
async fn main() -> io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:8888".to_string());
    let mut lines: Vec<String> = args.collect();
    if lines.is_empty() {
        lines = ["hello", "oi, tudo bem?", "bye"].map(String::from).to_vec();
    }

    // `reader, writer = await asyncio.open_connection(...)`
    let stream = TcpStream::connect(addr.as_str()).await?;
    println!("connected to {}", stream.peer_addr()?);
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);

    let mut echo = String::new();
    for line in &lines {
        writer.write_all(format!("{line}\n").as_bytes()).await?;
        println!("sent: {line}");
        echo.clear();
        if reader.read_line(&mut echo).await? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection",
            ));
        }
        println!("echo: {}", echo.trim_end());
    }

    // `writer.close(); await writer.wait_closed()`
    writer.close().await?;
    println!("closed");
    Ok(())
}
