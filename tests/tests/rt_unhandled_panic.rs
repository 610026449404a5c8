//! `unhandled_panic = "shutdown"` on `#[ciranda::test]`: a test fails when a task it detached
//! panics, and does not when the panic is awaited.

use std::time::Duration;

#[ciranda::test(unhandled_panic = "shutdown")]
#[should_panic(expected = "expected detached panic")]
async fn a_detached_panic_fails_the_test() {
    drop(ciranda::spawn(async { panic!("expected detached panic") }));
    ciranda::time::sleep(Duration::from_secs(30)).await;
}

#[ciranda::test(unhandled_panic = "shutdown")]
async fn an_awaited_panic_does_not() {
    let held = ciranda::spawn(async { panic!("expected awaited panic") });
    assert!(held.await.unwrap_err().is_panic());
    ciranda::time::sleep(Duration::from_millis(10)).await;
}

#[test]
fn run_style_runtime_panics_with_the_message() {
    let rt = ciranda::Runtime::builder()
        .worker_threads(1)
        .unhandled_panic(ciranda::UnhandledPanic::ShutdownRuntime)
        .build()
        .unwrap();
    let caught = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        rt.block_on(async {
            ciranda::task::Builder::new()
                .name("bg")
                .spawn(async { panic!("expected named panic") });
            std::future::pending::<()>().await
        })
    }));
    let message = *caught.unwrap_err().downcast::<String>().unwrap();
    assert!(message.contains("expected named panic"), "{message}");
    assert!(message.contains("\"bg\""), "{message}");
}
