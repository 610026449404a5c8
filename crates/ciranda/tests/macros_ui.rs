//! Misuse of `#[ciranda::main]` and `#[ciranda::test]` fails to compile with a message
//! that points at the user's code. The cases live in `crates/ciranda-macros/tests/ui`.

#[test]
fn macro_misuse_is_a_clear_compile_error() {
    let cases = trybuild::TestCases::new();
    cases.compile_fail("../ciranda-macros/tests/ui/*.rs");
}
