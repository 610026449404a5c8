#[ciranda::test]
const async fn constant() {}

fn main() {}
