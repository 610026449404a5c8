#[ciranda::main]
fn main() {}
