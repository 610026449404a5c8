#[ciranda::test(runtime = "current_thread")]
async fn unknown_option() {}

fn main() {}
