#[ciranda::test(start_paused = 1)]
async fn start_paused_not_a_bool() {}

fn main() {}
