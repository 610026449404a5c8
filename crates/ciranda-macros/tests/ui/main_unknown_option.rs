#[ciranda::main(runtime = "multi_thread")]
async fn main() {}
