#[ciranda::main]
#[ciranda::main]
async fn main() {}
