#![cfg(not(loom))]
//! `net::lookup_host`: numeric addresses without a lookup, `localhost` through the system
//! resolver on the blocking pool, malformed arguments as `InvalidInput` errors that say why,
//! and the error outside a runtime.

use ciranda_reactor::net::lookup_host;
use std::io;
use std::net::{Ipv4Addr, SocketAddr};

#[test]
fn numeric_addresses_come_back_as_given() {
    ciranda::run(async {
        let v4: Vec<_> = lookup_host("192.0.2.7:80").await?.collect();
        assert_eq!(v4, ["192.0.2.7:80".parse::<SocketAddr>().unwrap()]);
        let v6: Vec<_> = lookup_host("[2001:db8::1]:443").await?.collect();
        assert_eq!(v6, ["[2001:db8::1]:443".parse::<SocketAddr>().unwrap()]);
        let tuple: Vec<_> = lookup_host((Ipv4Addr::new(10, 1, 2, 3), 53))
            .await?
            .collect();
        assert_eq!(tuple, [SocketAddr::from(([10, 1, 2, 3], 53))]);
        let named_tuple: Vec<_> = lookup_host(("198.51.100.9", 8)).await?.collect();
        assert_eq!(named_tuple, [SocketAddr::from(([198, 51, 100, 9], 8))]);
        io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn localhost_resolves_to_loopback_addresses_with_the_port() {
    for flavor in [ciranda::Flavor::MultiThread, ciranda::Flavor::CurrentThread] {
        let rt = ciranda::Runtime::builder().flavor(flavor).build().unwrap();
        let addrs: Vec<_> = rt
            .block_on(async { lookup_host("localhost:4321").await })
            .unwrap()
            .collect();
        assert!(!addrs.is_empty());
        for a in &addrs {
            assert!(a.ip().is_loopback(), "{a} is not a loopback address");
            assert_eq!(a.port(), 4321);
        }
        let by_tuple: Vec<_> = rt
            .block_on(async { lookup_host(("localhost", 4321)).await })
            .unwrap()
            .collect();
        assert_eq!(by_tuple, addrs, "the two spellings resolve alike");
    }
}

#[test]
fn malformed_arguments_are_invalid_input_errors_that_say_why() {
    ciranda::run(async {
        for (bad, says) in [
            ("no-port-here", "expected \"host:port\""),
            ("localhost:http", "invalid port"),
            ("localhost:70000", "invalid port"),
            (":80", "expected \"host:port\""),
            ("[not-an-ip]:80", "[ipv6]"),
        ] {
            let err = lookup_host(bad).await.unwrap_err();
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "{bad}: {err}");
            assert!(err.to_string().contains(says), "{bad}: {err}");
        }
    });
}

#[test]
fn outside_a_runtime_it_is_an_error_that_says_where_to_make_one() {
    let err = futures_util::FutureExt::now_or_never(lookup_host("127.0.0.1:1"))
        .expect("fails at once")
        .unwrap_err();
    assert!(err.to_string().contains("runtime"), "{err}");
}
