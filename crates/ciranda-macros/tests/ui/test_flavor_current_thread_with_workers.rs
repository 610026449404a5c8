// A current-thread runtime has no worker threads: `worker_threads` with it is an error.
#[ciranda::test(flavor = "current_thread", worker_threads = 2)]
async fn one_thread() {}

#[ciranda::main(flavor = "single")]
async fn main() {}
