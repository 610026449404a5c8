#[ciranda::test(flavor = "current_thread")]
async fn unknown_option() {}

fn main() {}
