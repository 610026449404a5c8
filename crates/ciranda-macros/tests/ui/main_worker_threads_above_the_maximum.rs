#[ciranda::main(worker_threads = 100000)]
async fn main() {}
