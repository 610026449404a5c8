#[ciranda::test(run_order_seed = 7)]
async fn seed_without_the_flavor() {}

fn main() {}
