//! SOCKS5 proxies (RFC 1928, with RFC 1929's username and password): the handshake that turns
//! a TCP connection to the proxy into a tunnel to the target. Requests then go through the
//! tunnel as they would go to the target directly (TLS included), never in absolute form.
//!
//! | step                | client sends                               | proxy answers            |
//! |---------------------|--------------------------------------------|--------------------------|
//! | greeting            | `5`, the methods: none, or username/password | `5`, the method chosen |
//! | username/password   | `1`, the username, the password (RFC 1929) | `1`, `0` for accepted    |
//! | connect             | `5 1 0`, the target's address, its port    | `5`, `0` for done, …     |
//!
//! `socks5://` resolves the target's name here and sends an address (curl's meaning);
//! `socks5h://` sends the name for the proxy to resolve.

use crate::connect::ConnectError;
use crate::error::Kind;
use ciranda::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use std::io;
use std::net::{IpAddr, SocketAddr};

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
/// The version of RFC 1929's username/password subnegotiation, which its reply repeats.
const USER_PASS_VERSION: u8 = 1;
const CONNECT: u8 = 1;
const IPV4: u8 = 1;
const DOMAIN: u8 = 3;
const IPV6: u8 = 4;

/// The target as the proxy is told it: an address, or a name it resolves itself.
pub(crate) enum SocksTarget<'a> {
    Address(SocketAddr),
    Name(&'a str, u16),
}

/// Asks the SOCKS5 proxy at the other end of `stream` for a connection to `target`,
/// authenticating with `auth` if it asks for a username and password; on `Ok` the stream
/// carries the target's bytes.
pub(crate) async fn socks5_connect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    target: SocksTarget<'_>,
    auth: Option<(&str, &str)>,
) -> Result<(), ConnectError> {
    let shown = match &target {
        SocksTarget::Address(addr) => addr.to_string(),
        SocksTarget::Name(host, port) => format!("{host}:{port}"),
    };
    let failed = |what: &str, e: io::Error| {
        ConnectError::new(
            Kind::Connect,
            format!("{what} (SOCKS5 tunnel to {shown})"),
            Some(e),
        )
    };
    let refused = |why: String| {
        ConnectError::new(
            Kind::Connect,
            format!("the SOCKS5 proxy {why} (tunnel to {shown})"),
            None,
        )
    };

    // The request is checked before anything is sent: fields are one length byte each.
    let connect = connect_request(&target).map_err(refused)?;
    let credentials = auth.map(credentials_request).transpose().map_err(refused)?;

    let greeting: &[u8] = if auth.is_some() {
        &[VERSION, 2, NO_AUTH, USER_PASS]
    } else {
        &[VERSION, 1, NO_AUTH]
    };
    let mut chosen = [0u8; 2];
    exchange(stream, greeting, &mut chosen)
        .await
        .map_err(|e| failed("the SOCKS5 greeting failed", e))?;
    check_version(chosen[0]).map_err(refused)?;
    match (chosen[1], credentials) {
        (NO_AUTH, _) => {}
        (USER_PASS, Some(credentials)) => {
            let mut status = [0u8; 2];
            exchange(stream, &credentials, &mut status)
                .await
                .map_err(|e| failed("sending the SOCKS5 credentials failed", e))?;
            // A reply of another version is not RFC 1929's: its status byte cannot be taken
            // to mean "accepted".
            if status[0] != USER_PASS_VERSION {
                return Err(refused(format!(
                    "answered the username and password as subnegotiation version {}, not \
                     {USER_PASS_VERSION} (RFC 1929)",
                    status[0]
                )));
            }
            if status[1] != 0 {
                return Err(refused("rejected the username and password".to_owned()));
            }
        }
        (USER_PASS, None) => {
            return Err(refused(
                "asks for a username and password, and the proxy URL has none".to_owned(),
            ));
        }
        (NO_ACCEPTABLE, _) => {
            return Err(refused(
                "accepts none of the authentication methods offered".to_owned(),
            ));
        }
        (other, _) => {
            return Err(refused(format!(
                "chose authentication method {other:#04x}, which was not offered"
            )));
        }
    }

    let mut head = [0u8; 4];
    exchange(stream, &connect, &mut head)
        .await
        .map_err(|e| failed("the SOCKS5 connect request failed", e))?;
    check_version(head[0]).map_err(refused)?;
    if head[1] != 0 {
        return Err(refused(format!("refused: {}", reply_meaning(head[1]))));
    }
    // The address the proxy bound, then its port: read to the end and dropped, so the
    // target's first byte is the next one.
    let bound = match head[3] {
        IPV4 => 4,
        IPV6 => 16,
        DOMAIN => {
            let mut len = [0u8; 1];
            stream
                .read_exact(&mut len)
                .await
                .map_err(|e| failed("reading the SOCKS5 proxy's answer failed", e))?;
            usize::from(len[0])
        }
        other => {
            return Err(refused(format!(
                "answered with an unknown address type {other}"
            )));
        }
    };
    let mut rest = vec![0u8; bound + 2];
    stream
        .read_exact(&mut rest)
        .await
        .map_err(|e| failed("reading the SOCKS5 proxy's answer failed", e))?;
    Ok(())
}

/// Sends `request`, then reads the proxy's answer to it, of `reply`'s length.
async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    request: &[u8],
    reply: &mut [u8],
) -> io::Result<()> {
    stream.write_all(request).await?;
    // A proxy reached over TLS may hold the request in the session's buffer until a flush.
    stream.flush().await?;
    stream.read_exact(reply).await
}

/// An answer's first byte, the protocol version, must be SOCKS5's.
fn check_version(version: u8) -> Result<(), String> {
    if version == VERSION {
        Ok(())
    } else {
        Err(format!("answered as version {version}, not SOCKS5"))
    }
}

/// The connect request for `target`.
fn connect_request(target: &SocksTarget<'_>) -> Result<Vec<u8>, String> {
    let mut request = vec![VERSION, CONNECT, 0];
    let port = match *target {
        SocksTarget::Address(addr) => {
            match addr.ip() {
                IpAddr::V4(ip) => {
                    request.push(IPV4);
                    request.extend_from_slice(&ip.octets());
                }
                IpAddr::V6(ip) => {
                    request.push(IPV6);
                    request.extend_from_slice(&ip.octets());
                }
            }
            addr.port()
        }
        SocksTarget::Name(host, port) => {
            let len = u8::try_from(host.len())
                .map_err(|_| format!("cannot be sent a host name of {} bytes", host.len()))?;
            request.push(DOMAIN);
            request.push(len);
            request.extend_from_slice(host.as_bytes());
            port
        }
    };
    request.extend_from_slice(&port.to_be_bytes());
    Ok(request)
}

/// RFC 1929's sub-negotiation for `(user, password)`.
fn credentials_request((user, password): (&str, &str)) -> Result<Vec<u8>, String> {
    let field = |what: &str, value: &str| {
        u8::try_from(value.len())
            .map_err(|_| format!("cannot be sent a {what} of {} bytes", value.len()))
    };
    let (user_len, password_len) = (field("username", user)?, field("password", password)?);
    let mut request = vec![USER_PASS_VERSION, user_len];
    request.extend_from_slice(user.as_bytes());
    request.push(password_len);
    request.extend_from_slice(password.as_bytes());
    Ok(request)
}

/// RFC 1928's reply codes.
fn reply_meaning(code: u8) -> String {
    match code {
        1 => "general failure".to_owned(),
        2 => "connection not allowed by its rules".to_owned(),
        3 => "network unreachable".to_owned(),
        4 => "host unreachable".to_owned(),
        5 => "connection refused by the target".to_owned(),
        6 => "TTL expired".to_owned(),
        7 => "command not supported".to_owned(),
        8 => "address type not supported".to_owned(),
        other => format!("reply code {other:#04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_laid_out_as_rfc_1928_and_1929_say() {
        let v4 = SocksTarget::Address("10.1.2.3:8080".parse().unwrap());
        assert_eq!(
            connect_request(&v4).unwrap(),
            [5, 1, 0, 1, 10, 1, 2, 3, 0x1f, 0x90]
        );
        let v6 = SocksTarget::Address("[::1]:443".parse().unwrap());
        let mut expected = vec![5, 1, 0, 4];
        expected.extend_from_slice(&[0; 15]);
        expected.extend_from_slice(&[1, 0x01, 0xbb]);
        assert_eq!(connect_request(&v6).unwrap(), expected);
        let name = SocksTarget::Name("example.org", 80);
        let mut expected = vec![5, 1, 0, 3, 11];
        expected.extend_from_slice(b"example.org");
        expected.extend_from_slice(&[0, 80]);
        assert_eq!(connect_request(&name).unwrap(), expected);
        assert_eq!(
            credentials_request(("ab", "xyz")).unwrap(),
            [1, 2, b'a', b'b', 3, b'x', b'y', b'z']
        );
    }

    #[test]
    fn fields_over_255_bytes_are_refused_before_sending() {
        let long = "a".repeat(256);
        let err = connect_request(&SocksTarget::Name(&long, 80)).unwrap_err();
        assert!(err.contains("256 bytes"), "{err}");
        assert!(credentials_request((&long, "")).is_err());
        assert!(credentials_request(("", &long)).is_err());
        assert!(connect_request(&SocksTarget::Name(&long[..255], 80)).is_ok());
    }
}
