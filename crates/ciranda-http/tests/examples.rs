//! The examples as users run them: `hello_server` against real clients no one here wrote
//! (`curl`, `wrk`, `h2load`) and Ctrl+C; `fetch_many` against a server with a flaky path, and
//! offline on its own.
//!
//! The example binaries are the ones `cargo test` builds next to this test. A missing tool
//! (`curl`, `wrk`, `h2load`) skips its check with a message saying so; `.ci/run` installs
//! them.

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::Ordering;

fn example(name: &str) -> PathBuf {
    // target/<profile>/deps/examples-<hash> -> target/<profile>/examples/<name>
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join(name);
    assert!(
        path.exists(),
        "{} not built (cargo test builds the examples)",
        path.display()
    );
    path
}

fn have(tool: &str) -> bool {
    let found = Command::new(tool)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok();
    if !found {
        eprintln!(
            "SKIPPED: `{tool}` is not installed (apt-get install -y curl wrk nghttp2-client)"
        );
    }
    found
}

/// `hello_server 127.0.0.1:0`, its URL read from its first line.
struct HelloServer {
    child: Child,
    url: String,
}

impl HelloServer {
    fn start() -> HelloServer {
        let mut child = Command::new(example("hello_server"))
            .arg("127.0.0.1:0")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut first = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut first)
            .unwrap();
        let url = first
            .trim_end()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        assert!(url.starts_with("http://127.0.0.1:"), "{url}");
        HelloServer { child, url }
    }

    /// Ctrl+C; the server must exit on its own, successfully.
    fn interrupt(mut self) {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-INT", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "hello_server exited with {status}");
        std::mem::forget(self);
    }
}

impl Drop for HelloServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &mut Command) -> Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn curl_against_hello_server() {
    if !have("curl") {
        return;
    }
    let server = HelloServer::start();
    let url = &server.url;

    let h1 = text(&run(Command::new("curl").args([
        "-sS",
        "-i",
        &format!("{url}/"),
    ])));
    assert!(h1.starts_with("HTTP/1.1 200"), "{h1}");
    assert!(h1.ends_with("\r\n\r\nHello, world!"), "{h1}");

    let h2 = text(&run(Command::new("curl").args([
        "-sS",
        "-i",
        "--http2-prior-knowledge",
        &format!("{url}/"),
    ])));
    assert!(h2.starts_with("HTTP/2 200"), "{h2}");
    assert!(h2.ends_with("Hello, world!"), "{h2}");

    let missing = text(&run(Command::new("curl").args([
        "-sS",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("{url}/nope"),
    ])));
    assert_eq!(missing, "404");

    // 1 MiB posted from a file comes back unchanged, over both protocols.
    let dir = std::env::temp_dir().join(format!("ciranda-http-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("upload.bin");
    let payload: Vec<u8> = (0..1 << 20).map(pattern).collect();
    std::fs::File::create(&file)
        .unwrap()
        .write_all(&payload)
        .unwrap();
    for extra in [&[][..], &["--http2-prior-knowledge"][..]] {
        let out = run(Command::new("curl")
            .args(["-sS", "--data-binary"])
            .arg(format!("@{}", file.display()))
            .args(extra)
            .arg(format!("{url}/echo")));
        assert!(
            out.stdout == payload,
            "echo differs ({extra:?}): {} bytes",
            out.stdout.len()
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
    server.interrupt();
}

#[test]
fn curl_https_with_cacert() {
    if !have("curl") {
        return;
    }
    let rt = ciranda::Runtime::new().unwrap();
    let cert = make_cert();
    let addr = rt.block_on(spawn_tls_server(
        Routes::new(1),
        &cert,
        &[b"h2", b"http/1.1"],
    ));
    let dir = std::env::temp_dir().join(format!("ciranda-http-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, &cert.cert_pem).unwrap();
    let url = format!("https://localhost:{}/", addr.port());
    let out = text(&run(Command::new("curl")
        .args(["-sS", "--cacert"])
        .arg(&ca)
        .args(["-w", " %{http_version}", &url])));
    // ALPN chose HTTP/2 if this curl speaks it, HTTP/1.1 otherwise.
    assert!(
        out == "Hello, world! 2" || out == "Hello, world! 1.1",
        "{out}"
    );
    // Without the CA, curl refuses the certificate.
    let untrusted = Command::new("curl").args(["-sS", &url]).output().unwrap();
    assert!(!untrusted.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The number after `label` in `text` (`"... 0 failed, ..."` style), if present.
fn count_before(text: &str, label: &str) -> Option<u64> {
    let at = text.find(label)?;
    text[..at]
        .split_whitespace()
        .last()?
        .trim_end_matches(',')
        .parse()
        .ok()
}

#[test]
fn wrk_and_h2load_against_hello_server_have_no_failures() {
    let server = HelloServer::start();
    let url = format!("{}/", server.url);
    if have("wrk") {
        let out = text(&run(Command::new("wrk").args(["-t2", "-c64", "-d2s", &url])));
        eprintln!("{out}");
        let requests = count_before(&out, "requests in").expect("wrk printed no request count");
        assert!(requests > 0, "{out}");
        assert!(!out.contains("Non-2xx"), "failed requests:\n{out}");
        assert!(!out.contains("Socket errors"), "socket errors:\n{out}");
    }
    if have("h2load") {
        let out = text(&run(
            Command::new("h2load").args(["-n", "5000", "-c", "16", "-m", "10", &url])
        ));
        eprintln!("{out}");
        assert!(out.contains("Application protocol: h2c"), "{out}");
        assert_eq!(count_before(&out, "succeeded"), Some(5000), "{out}");
        assert_eq!(count_before(&out, "failed"), Some(0), "{out}");
        assert_eq!(count_before(&out, "errored"), Some(0), "{out}");
    }
    server.interrupt();
}

#[test]
fn hello_server_finishes_a_request_in_flight_on_ctrl_c() {
    // A slow upload is in flight when Ctrl+C arrives: the server waits for it, answers it,
    // then exits 0 (and refuses new connections meanwhile).
    let server = HelloServer::start();
    let addr = server.url.trim_start_matches("http://").to_owned();
    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    stream
        .write_all(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    // Wait until the first half comes back: the request is in flight for certain.
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while !answer.ends_with(b"hello") {
        let n = std::io::Read::read(&mut stream, &mut buf).unwrap();
        assert!(
            n > 0,
            "closed early: {:?}",
            String::from_utf8_lossy(&answer)
        );
        answer.extend_from_slice(&buf[..n]);
    }
    let pid = server.child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap()
            .success()
    );
    // New connections are refused once the listener is closed.
    let refused = (0..3000).any(|_| {
        std::thread::sleep(std::time::Duration::from_millis(10));
        std::net::TcpStream::connect(&addr).is_err()
    });
    assert!(refused, "hello_server still accepts after Ctrl+C");
    stream.write_all(b"world").unwrap();
    std::io::Read::read_to_end(&mut stream, &mut answer).unwrap();
    let answer = String::from_utf8(answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("helloworld"), "{answer}");
    server.interrupt_sent();
}

impl HelloServer {
    /// Waits for an exit that a signal sent elsewhere started.
    fn interrupt_sent(mut self) {
        let status = self.child.wait().unwrap();
        assert!(status.success(), "hello_server exited with {status}");
        std::mem::forget(self);
    }
}

#[test]
fn fetch_many_retries_and_reports_in_input_order() {
    let rt = ciranda::Runtime::new().unwrap();
    let routes = Routes::new(1);
    let flaky = routes.flaky.clone();
    let (addr, stop, server) = rt.block_on(spawn_ciranda_server(routes));
    let refused = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/", l.local_addr().unwrap())
    };
    let base = format!("http://{addr}");
    let urls = [
        format!("{base}/flaky"),
        format!("{base}/"),
        refused.clone(),
        format!("{base}/missing"),
        "ftp://example.com/".to_owned(),
    ];
    let started = std::time::Instant::now();
    let out = run(Command::new(example("fetch_many")).args(&urls));
    let lines: Vec<String> = text(&out).lines().map(str::to_owned).collect();
    assert_eq!(
        lines[..2],
        [format!("{base}/flaky 200 7"), format!("{base}/ 200 13")],
        "{lines:#?}"
    );
    assert!(
        lines[2].starts_with(&format!("{refused} error: ")),
        "{lines:#?}"
    );
    assert!(lines[2].contains("refused"), "{lines:#?}");
    assert_eq!(lines[3], format!("{base}/missing 404 9"));
    assert!(
        lines[4].starts_with("ftp://example.com/ error: invalid URL"),
        "{lines:#?}"
    );
    assert_eq!(lines.len(), 5);
    // /flaky answered 503, 503, 200: three tries, a second apart.
    assert_eq!(flaky.load(Ordering::SeqCst), 3);
    assert!(started.elapsed() >= std::time::Duration::from_secs(2));
    stop.set();
    rt.block_on(server).unwrap().unwrap();
}

#[test]
fn fetch_many_runs_offline_without_urls() {
    let out = run(&mut Command::new(example("fetch_many")));
    let out = text(&out);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].ends_with("/ 200 13"), "{out}");
    assert!(lines[1].ends_with("/flaky 200 7"), "{out}");
    assert!(lines[2].ends_with("/missing 404 9"), "{out}");
    assert!(
        lines[3].contains(" error: ") && lines[3].contains("refused"),
        "{out}"
    );
}

#[test]
fn the_reqwest_compat_example_prints_status_and_body() {
    let out = run(&mut Command::new(example("reqwest_compat")));
    assert_eq!(text(&out), "200 Hello, world!\n");
}

#[test]
fn tls_echo_round_trips_over_tls() {
    let out = text(&run(&mut Command::new(example("tls_echo"))));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].starts_with("TLS echo server on 127.0.0.1:"),
        "{out}"
    );
    assert_eq!(
        lines[1..],
        ["echoed: hello", "echoed: over", "echoed: TLS"],
        "{out}"
    );
}
