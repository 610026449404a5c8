#[ciranda::test(threads = 2, start_paused = "yes")]
fn everything_wrong<T>(_value: T) {}

fn main() {}
