//! The escape hatch for crates built for Tokio (docs/asyncio.md, "Using crates built for
//! Tokio"): reqwest panics when awaited on ciranda directly, and works through
//! `async_compat::Compat`.

mod common;

use async_compat::Compat;
use common::*;

#[ciranda::test]
async fn reqwest_works_through_compat() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
    let url = format!("http://{addr}/");
    for _ in 0..3 {
        let body = Compat::new(async { reqwest::get(&url).await?.text().await })
            .await
            .unwrap();
        assert_eq!(body, "Hello, world!");
    }
    // A client made once and used from many ciranda tasks.
    let client = reqwest::Client::new();
    let bodies = ciranda::gather((0..20).map(|_| {
        let (client, url) = (client.clone(), url.clone());
        Compat::new(async move { client.get(&url).send().await?.text().await })
    }))
    .await;
    assert!(bodies.into_iter().all(|b| b.unwrap() == "Hello, world!"));
    stop.set();
    server.await.unwrap().unwrap();
}

#[ciranda::test]
async fn reqwest_without_compat_panics_with_tokios_message() {
    let (addr, stop, server) = spawn_ciranda_server(Routes::new(1)).await;
    let url = format!("http://{addr}/");
    let err = ciranda::spawn(async move { reqwest::get(&url).await.map(|_| ()) })
        .await
        .unwrap_err();
    assert!(err.is_panic());
    let payload = err.into_panic();
    let msg = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("");
    assert!(msg.contains("no reactor running"), "{msg}");
    stop.set();
    server.await.unwrap().unwrap();
}
