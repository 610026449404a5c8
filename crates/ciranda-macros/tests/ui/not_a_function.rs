#[ciranda::main]
struct Config {
    threads: usize,
}

fn main() {}
