#[ciranda::test]
async fn with_arguments(n: u32) {
    assert_eq!(n, 1);
}

fn main() {}
