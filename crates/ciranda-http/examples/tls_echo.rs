//! `tls_echo`: asyncio's `start_server(..., ssl=ctx)` / `open_connection(..., ssl=ctx)` — a
//! TLS echo server and client over ciranda `TcpStream`s, with `futures-rustls` and a
//! certificate made at start-up by `rcgen`.
//!
//! ```sh
//! cargo run --release -p ciranda-http --example tls_echo
//! ```
//!
//! The server echoes each line back; the client (trusting only that certificate) sends three
//! lines, prints what comes back, and closes.

use ciranda::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use ciranda::net::{TcpListener, TcpStream};
use futures_rustls::{TlsAcceptor, TlsConnector};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use std::sync::Arc;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// One client's session: echo lines until it closes.
async fn echo(acceptor: TlsAcceptor, tcp: TcpStream) -> Result<(), BoxError> {
    let tls = acceptor.accept(tcp).await?; // the handshake (ssl= on start_server)
    let mut lines = BufReader::new(tls);
    let mut line = String::new();
    while lines.read_line(&mut line).await? != 0 {
        lines.get_mut().write_all(line.as_bytes()).await?;
        line.clear();
    }
    Ok(())
}

#[ciranda::main]
async fn main() -> Result<(), BoxError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());

    // A self-signed certificate for "localhost", made now.
    let certified = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()])?;
    let cert: CertificateDer<'static> = certified.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(certified.key_pair.serialize_der().into());

    // Server: ssl.create_default_context(Purpose.CLIENT_AUTH) + load_cert_chain.
    let server_config = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)?;
    let acceptor = TlsAcceptor::from(Arc::new(server_config));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    println!("TLS echo server on {addr}");
    ciranda::spawn(async move {
        loop {
            let Ok((tcp, peer)) = listener.accept().await else {
                continue;
            };
            let acceptor = acceptor.clone();
            ciranda::spawn(async move {
                if let Err(e) = echo(acceptor, tcp).await {
                    eprintln!("{peer}: {e}");
                }
            });
        }
    });

    // Client: ssl.create_default_context(cafile=...) trusting only our certificate.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert)?;
    let client_config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let connector = TlsConnector::from(Arc::new(client_config));
    let tcp = TcpStream::connect(addr).await?;
    let tls = connector
        .connect(ServerName::try_from("localhost")?, tcp)
        .await?;
    let mut stream = BufReader::new(tls);
    for text in ["hello", "over", "TLS"] {
        stream
            .get_mut()
            .write_all(format!("{text}\n").as_bytes())
            .await?;
        let mut back = String::new();
        stream.read_line(&mut back).await?;
        println!("echoed: {}", back.trim_end());
    }
    stream.get_mut().close().await?; // TLS close_notify, then FIN
    Ok(())
}
