//! Unit tests of the expansion: the output is parsed back with syn and checked structurally.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Item, ItemFn, LitStr, Stmt};

use crate::entry::{Kind, expand};

/// The expansion, split into its compile errors and its functions.
struct Expansion {
    /// `(message, source text of the first token, source text of the last token)` of each
    /// `compile_error!`.
    errors: Vec<(String, String, String)>,
    functions: Vec<ItemFn>,
}

impl Expansion {
    fn function(&self) -> &ItemFn {
        assert_eq!(self.functions.len(), 1, "expected exactly one function");
        &self.functions[0]
    }

    /// The function, without any whitespace, for substring checks on the generated code.
    fn code(&self) -> String {
        squash(self.function())
    }

    fn messages(&self) -> Vec<&str> {
        self.errors
            .iter()
            .map(|(message, _, _)| message.as_str())
            .collect()
    }

    fn single_error(&self) -> (&str, &str, &str) {
        assert_eq!(
            self.errors.len(),
            1,
            "expected exactly one error: {:?}",
            self.errors
        );
        let (message, first, last) = &self.errors[0];
        (message, first, last)
    }

    fn assert_no_errors(&self) {
        assert!(
            self.errors.is_empty(),
            "unexpected errors: {:?}",
            self.errors
        );
    }
}

fn squash(tokens: &impl ToTokens) -> String {
    tokens
        .to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

fn run(kind: Kind, args: &str, item: &str) -> Expansion {
    let args: TokenStream = syn::parse_str(args).expect("args tokenize");
    let item: TokenStream = syn::parse_str(item).expect("item tokenizes");
    let output = expand(kind, args, item);
    let file: syn::File = syn::parse2(output.clone())
        .unwrap_or_else(|e| panic!("the expansion is not valid Rust ({e}): {output}"));

    let mut errors = Vec::new();
    let mut functions = Vec::new();
    for item in file.items {
        match item {
            Item::Macro(m)
                if m.mac.path.is_ident("compile_error")
                    || squash(&m.mac.path) == "::core::compile_error" =>
            {
                let message: LitStr = syn::parse2(m.mac.tokens.clone()).expect("a string message");
                let first = m.mac.path.segments[0]
                    .ident
                    .span()
                    .source_text()
                    .unwrap_or_default();
                let last = message.span().source_text().unwrap_or_default();
                errors.push((message.value(), first, last));
            }
            Item::Fn(f) => functions.push(f),
            other => panic!(
                "unexpected item in the expansion: {}",
                other.to_token_stream()
            ),
        }
    }
    Expansion { errors, functions }
}

fn main_attr(args: &str, item: &str) -> Expansion {
    run(Kind::Main, args, item)
}

fn test_attr(args: &str, item: &str) -> Expansion {
    run(Kind::Test, args, item)
}

fn attr_paths(f: &ItemFn) -> Vec<String> {
    f.attrs.iter().map(|a| squash(a.path())).collect()
}

/// The `panic!` when the runtime cannot start, squashed like [`Expansion::code`].
const RUNTIME_ERROR: &str = "::core::panic!(\"ciranda:failedtostarttheruntime:{}\",error)";

// ---------------------------------------------------------------------------------------------
// #[ciranda::main]

#[test]
fn main_becomes_a_sync_fn_that_blocks_on_the_body() {
    let e = main_attr("", "async fn main() { println!(\"hi\"); }");
    e.assert_no_errors();
    let f = e.function();
    assert!(f.sig.asyncness.is_none());
    assert_eq!(f.sig.ident, "main");
    assert!(f.sig.inputs.is_empty());
    assert!(matches!(f.sig.output, syn::ReturnType::Default));
    assert!(f.attrs.is_empty(), "no #[test] on main");

    // let body = async move { let output: () = { <user body> }; return output; };
    let Stmt::Local(body) = &f.block.stmts[0] else {
        panic!("first statement is `let body`")
    };
    let init = squash(&body.init.as_ref().unwrap().expr);
    assert_eq!(
        init,
        "asyncmove{#[allow(clippy::diverging_sub_expression)]letoutput:()={println!(\"hi\");};#[allow(unreachable_code,clippy::needless_return)]returnoutput;}"
    );

    let code = e.code();
    assert!(
        code.contains("match::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).build(){"),
        "{code}"
    );
    assert!(code.contains(RUNTIME_ERROR), "{code}");
    let message = "\"ciranda: failed to start the runtime: {}\"";
    assert!(f.to_token_stream().to_string().contains(message));
    assert!(code.ends_with("runtime.block_on(body)}"), "{code}");
    assert_eq!(f.block.stmts.len(), 3, "let body; let runtime; block_on");
}

#[test]
fn main_keeps_the_return_type_attributes_and_visibility() {
    let e = main_attr(
        "",
        "/// Docs.\n#[allow(unused_variables)]\n#[inline(never)]\npub async fn main() -> Result<(), Box<dyn std::error::Error>> { let x = 1; Ok(()) }",
    );
    e.assert_no_errors();
    let f = e.function();
    assert_eq!(attr_paths(f), ["doc", "allow", "inline"]);
    assert!(matches!(f.vis, syn::Visibility::Public(_)));
    assert_eq!(
        squash(&f.sig.output),
        "->Result<(),Box<dyndynstd::error::Error>>".replace("dyndyn", "dyn")
    );
    // The body is checked against the declared type, as in an `async fn`.
    assert!(
        e.code()
            .contains("letoutput:Result<(),Box<dynstd::error::Error>>={letx=1;Ok(())};"),
        "{}",
        e.code()
    );
}

#[test]
fn main_worker_threads() {
    let e = main_attr("worker_threads = 4", "async fn main() {}");
    e.assert_no_errors();
    assert!(
        e.code()
            .contains("::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).worker_threads(4).build()"),
        "{}",
        e.code()
    );
    assert!(!e.code().contains("start_paused"));

    // Suffixes are accepted and dropped (the builder takes a usize); a trailing comma is fine.
    let e = main_attr("worker_threads = 2usize,", "async fn main() {}");
    e.assert_no_errors();
    assert!(
        e.code().contains(".worker_threads(2).build()"),
        "{}",
        e.code()
    );
}

#[test]
fn worker_threads_above_the_scheduler_maximum_is_a_compile_error() {
    // A constant assertion against the scheduler's limit: a count no runtime can have fails
    // the build at the literal (UI case `main_worker_threads_above_the_maximum`) instead of
    // panicking when the program or test starts. It is inside the function, so it also holds
    // for `#[ciranda::test]`s (compiled only under `cargo test`).
    for e in [
        main_attr("worker_threads = 100000", "async fn main() {}"),
        test_attr("worker_threads = 100000", "async fn t() {}"),
    ] {
        e.assert_no_errors();
        assert!(
            e.code()
                .contains("{const_:()=::core::assert!(100000<=::ciranda::__private::MAX_WORKERS,"),
            "{}",
            e.code()
        );
    }
}

#[test]
fn main_without_options_keeps_the_builder_defaults() {
    let code = main_attr("", "async fn main() {}").code();
    assert!(!code.contains("worker_threads"));
    assert!(!code.contains("start_paused"));
}

#[test]
fn main_may_be_placed_on_a_function_with_another_name() {
    let e = main_attr("", "pub(crate) async fn run_blocking() -> u32 { 42 }");
    e.assert_no_errors();
    let f = e.function();
    assert_eq!(f.sig.ident, "run_blocking");
    assert!(matches!(f.vis, syn::Visibility::Restricted(_)));
    assert!(e.code().contains("letoutput:u32={42};"));
}

#[test]
fn inner_attributes_stay_at_the_start_of_the_body() {
    let e = main_attr("", "async fn main() { #![allow(unused)] let x = 1; }");
    e.assert_no_errors();
    let f = e.function();
    assert_eq!(f.attrs.len(), 1);
    assert!(matches!(f.attrs[0].style, syn::AttrStyle::Inner(_)));
    assert!(f.attrs[0].path().is_ident("allow"));
    assert!(e.code().contains("letoutput:()={letx=1;};"), "{}", e.code());
}

#[test]
fn unnameable_return_types_are_left_to_inference() {
    // `impl Trait` and `!` cannot annotate a `let`: the body becomes a plain `async move` block.
    for output in [
        "-> impl std::process::Termination",
        "-> Result<(), impl std::fmt::Debug>",
        "-> !",
    ] {
        let e = main_attr("", &format!("async fn main() {output} {{ loop {{}} }}"));
        e.assert_no_errors();
        assert!(
            e.code().contains("letbody=asyncmove{loop{}};"),
            "{}",
            e.code()
        );
        assert!(!e.code().contains("letoutput"), "{}", e.code());
    }
}

#[test]
fn other_qualifiers_are_kept_for_rustc_to_judge() {
    // `unsafe` is not the macro's business: it is kept, and rustc reports it if it is wrong.
    let e = main_attr("", "async unsafe fn helper() {}");
    e.assert_no_errors();
    let f = e.function();
    assert!(f.sig.asyncness.is_none());
    assert!(f.sig.unsafety.is_some());
}

// ---------------------------------------------------------------------------------------------
// #[ciranda::test]

#[test]
fn test_becomes_a_test_fn_with_a_fresh_runtime() {
    let e = test_attr("", "async fn adds() { assert_eq!(1 + 1, 2); }");
    e.assert_no_errors();
    let f = e.function();
    assert_eq!(attr_paths(f), ["::core::prelude::v1::test"]);
    assert!(f.sig.asyncness.is_none());
    assert_eq!(f.sig.ident, "adds");
    let code = e.code();
    // The runtime is built inside the test function itself: one per test.
    assert!(
        code.contains("letruntime=match::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).build(){"),
        "{code}"
    );
    assert!(code.contains(RUNTIME_ERROR), "{code}");
    assert!(
        code.contains("letoutput:()={assert_eq!(1+1,2);};"),
        "{code}"
    );
    assert!(code.ends_with("runtime.block_on(body)}"), "{code}");
}

#[test]
fn test_keeps_other_attributes_after_the_test_attribute() {
    let e = test_attr(
        "",
        "#[should_panic(expected = \"boom\")]\n#[ignore]\n#[cfg_attr(miri, ignore)]\nasync fn boom() { panic!(\"boom\") }",
    );
    e.assert_no_errors();
    assert_eq!(
        attr_paths(e.function()),
        [
            "::core::prelude::v1::test",
            "should_panic",
            "ignore",
            "cfg_attr"
        ]
    );
}

#[test]
fn test_may_return_a_result() {
    let e = test_attr("", "async fn fallible() -> std::io::Result<()> { Ok(()) }");
    e.assert_no_errors();
    let f = e.function();
    assert_eq!(squash(&f.sig.output), "->std::io::Result<()>");
    assert!(
        e.code().contains("letoutput:std::io::Result<()>={Ok(())};"),
        "{}",
        e.code()
    );
}

#[test]
fn test_start_paused() {
    let e = test_attr("start_paused = true", "async fn paused() {}");
    e.assert_no_errors();
    assert!(
        e.code()
            .contains("::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).start_paused(true).build()"),
        "{}",
        e.code()
    );

    let e = test_attr("start_paused = false", "async fn real_clock() {}");
    e.assert_no_errors();
    assert!(
        e.code()
            .contains("::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).start_paused(false).build()"),
        "{}",
        e.code()
    );
}

#[test]
fn test_with_both_options_in_any_order() {
    for args in [
        "worker_threads = 1, start_paused = true",
        "start_paused = true, worker_threads = 1",
    ] {
        let e = test_attr(args, "async fn both() {}");
        e.assert_no_errors();
        assert!(
            e.code().contains(
                "::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).worker_threads(1).start_paused(true).build()"
            ),
            "{}",
            e.code()
        );
    }
}

#[test]
fn options_inside_invisible_groups_are_accepted() {
    // What `macro_rules!` produces for `#[ciranda::test(worker_threads = $n)]` with `$n:expr`.
    let n = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote::quote!(3));
    let flag = proc_macro2::Group::new(proc_macro2::Delimiter::None, quote::quote!(true));
    let args = quote::quote!(worker_threads = #n, start_paused = #flag);
    let output = expand(
        Kind::Test,
        args,
        quote::quote!(
            async fn grouped() {}
        ),
    );
    let code: String = output
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    assert!(!code.contains("compile_error"), "{code}");
    assert!(
        code.contains(".worker_threads(3).start_paused(true).build()"),
        "{code}"
    );
}

// ---------------------------------------------------------------------------------------------
// Errors in the function: reported, and the original function is emitted unchanged.

fn assert_original_kept(e: &Expansion, original: &str) {
    let f = e.function();
    assert_eq!(
        attr_paths(f)[0],
        "allow",
        "#[allow(dead_code)] on the original"
    );
    let mut without_allow = f.clone();
    without_allow.attrs.remove(0);
    let original: ItemFn = syn::parse_str(original).unwrap();
    assert_eq!(squash(&without_allow), squash(&original));
}

/// An `async fn main` that cannot be expanded is kept nested inside a placeholder `fn main() {}`.
fn assert_original_nested_in_main(e: &Expansion, original: &str) {
    let placeholder = e.function();
    assert_eq!(placeholder.sig.ident, "main");
    assert!(placeholder.sig.asyncness.is_none() && placeholder.sig.inputs.is_empty());
    assert_eq!(placeholder.block.stmts.len(), 1);
    let Stmt::Item(Item::Fn(nested)) = &placeholder.block.stmts[0] else {
        panic!("the original is nested in the placeholder")
    };
    let mut without_allow = nested.clone();
    assert_eq!(
        squash(&without_allow.attrs.remove(0)),
        "#[allow(dead_code)]"
    );
    let original: ItemFn = syn::parse_str(original).unwrap();
    assert_eq!(squash(&without_allow), squash(&original));
}

#[test]
fn missing_async_is_reported_at_fn() {
    for (kind, name) in [(Kind::Main, "main"), (Kind::Test, "my_test")] {
        let item = format!("fn {name}() {{}}");
        let e = run(kind, "", &item);
        let (message, first, last) = e.single_error();
        assert!(
            message.starts_with("the `async` keyword is missing from the function declaration"),
            "{message}"
        );
        assert!(
            message.contains(&format!("write `async fn {name}`")),
            "{message}"
        );
        assert_eq!((first, last), ("fn", "fn"));
        assert_original_kept(&e, &item);
    }
}

#[test]
fn arguments_are_reported_at_the_arguments() {
    let item = "async fn main(args: Vec<String>, n: u32) {}";
    let e = main_attr("", item);
    let (message, first, last) = e.single_error();
    assert!(
        message.starts_with("the main function cannot take arguments"),
        "{message}"
    );
    assert_eq!((first, last), ("args", "u32"));
    assert_original_nested_in_main(&e, item);

    // Under another name, the original stays where it was.
    let item = "async fn helper(n: u32) {}";
    let e = main_attr("", item);
    assert!(
        e.single_error()
            .0
            .starts_with("a `#[ciranda::main]` function cannot take arguments (")
    );
    assert_original_kept(&e, item);

    let item = "async fn my_test(x: u8) {}";
    let e = test_attr("", item);
    let (message, first, last) = e.single_error();
    assert_eq!(message, "test functions cannot take arguments");
    assert_eq!((first, last), ("x", "u8"));
    assert_original_kept(&e, item);
}

#[test]
fn generics_are_reported() {
    let item = "async fn main<T: Default>() {}";
    let e = main_attr("", item);
    let (message, first, last) = e.single_error();
    assert_eq!(message, "the main function cannot be generic");
    assert_eq!((first, last), ("<", ">"));
    assert_original_nested_in_main(&e, item);

    let e = test_attr("", "async fn lifetimes<'a>() {}");
    assert_eq!(e.single_error().0, "test functions cannot be generic");

    let e = test_attr("", "async fn bounded() where u8: Copy {}");
    let (message, first, _) = e.single_error();
    assert_eq!(message, "test functions cannot be generic");
    assert_eq!(first, "where");
}

#[test]
fn const_is_reported_at_const() {
    // `const async fn` is not a function rustc accepts, and the expansion (a runtime built and
    // blocked on) cannot be `const`: without this error the user got a list of "cannot call
    // non-const ..." errors pointing at the attribute.
    let e = main_attr("", "const async fn main() {}");
    let (message, first, last) = e.single_error();
    assert!(
        message.starts_with("the main function cannot be `const`"),
        "{message}"
    );
    assert_eq!((first, last), ("const", "const"));
    assert!(e.function().sig.constness.is_none(), "{}", e.code());

    let e = test_attr("worker_threads = 2", "pub const async fn t() {}");
    let (message, first, _) = e.single_error();
    assert!(
        message.starts_with("test functions cannot be `const`"),
        "{message}"
    );
    assert_eq!(first, "const");
    let f = e.function();
    assert!(f.sig.constness.is_none() && f.sig.asyncness.is_none());
    assert!(e.code().contains(".worker_threads(2)"), "{}", e.code());
}

#[test]
fn every_problem_is_reported_at_once() {
    let e = test_attr(
        "runtime = \"current_thread\", start_paused = 1",
        "fn bad<T>(x: T) {}",
    );
    let messages = e.messages();
    assert_eq!(messages.len(), 5, "{messages:?}");
    assert!(messages[0].starts_with("unknown option `runtime`"));
    assert_eq!(messages[1], "`start_paused` expects `true` or `false`");
    assert!(messages[2].starts_with("the `async` keyword is missing"));
    assert_eq!(messages[3], "test functions cannot take arguments");
    assert_eq!(messages[4], "test functions cannot be generic");
    assert_original_kept(&e, "fn bad<T>(x: T) {}");
}

#[test]
fn not_a_function() {
    let item = "struct Config { threads: usize }";
    let output = expand(
        Kind::Test,
        TokenStream::new(),
        syn::parse_str(item).unwrap(),
    );
    let file: syn::File = syn::parse2(output).unwrap();
    assert_eq!(file.items.len(), 2);
    let Item::Macro(error) = &file.items[0] else {
        panic!("the error comes first")
    };
    let message: LitStr = syn::parse2(error.mac.tokens.clone()).unwrap();
    assert_eq!(
        message.value(),
        "`#[ciranda::test]` can only be placed on an `async fn`"
    );
    let Item::Struct(original) = &file.items[1] else {
        panic!("the struct is kept")
    };
    assert_eq!(original.ident, "Config");
}

// ---------------------------------------------------------------------------------------------
// Errors in the options: reported, and the function is still expanded without the bad option.

/// Asserts one error whose message starts with `message` and spans `first..=last`, and that the
/// function was expanded anyway with the builder's defaults.
fn assert_option_error(e: &Expansion, message: &str, first: &str, last: &str) {
    let (actual, actual_first, actual_last) = e.single_error();
    assert!(
        actual.starts_with(message),
        "{actual:?} does not start with {message:?}"
    );
    assert_eq!(
        (actual_first, actual_last),
        (first, last),
        "span of {actual:?}"
    );
    assert!(
        e.function().sig.asyncness.is_none(),
        "the function is still expanded"
    );
    assert!(e.code().contains("block_on(body)"));
}

#[test]
fn unknown_options_list_the_known_ones() {
    let e = main_attr("runtime = \"multi_thread\"", "async fn main() {}");
    assert_option_error(
        &e,
        "unknown option `runtime` for `#[ciranda::main]`",
        "runtime",
        "runtime",
    );
    assert!(e.messages()[0].ends_with(
        "the options are `flavor = \"current_thread\"|\"multi_thread\"`, `worker_threads = N` and `unhandled_panic = \"shutdown\"|\"ignore\"`"
    ));

    let e = test_attr("threads = 2", "async fn t() {}");
    assert_option_error(
        &e,
        "unknown option `threads` for `#[ciranda::test]`",
        "threads",
        "threads",
    );
    assert!(e.messages()[0].ends_with(
        "`worker_threads = N`, `start_paused = true|false`, `unhandled_panic = \"shutdown\"|\"ignore\"` and `run_order_seed = N`"
    ));

    let e = test_attr("ciranda::worker_threads = 2", "async fn t() {}");
    assert_option_error(
        &e,
        "unknown option `ciranda::worker_threads`",
        "ciranda",
        "worker_threads",
    );
}

#[test]
fn test_run_order_seed() {
    let e = test_attr(
        "flavor = \"current_thread\", run_order_seed = 7",
        "async fn seeded() {}",
    );
    e.assert_no_errors();
    assert!(
        e.code().contains(
            "::ciranda::Runtime::builder().flavor(::ciranda::Flavor::CurrentThread).run_order_seed(7).build()"
        ),
        "{}",
        e.code()
    );
    let e = test_attr(
        "run_order_seed = 18446744073709551615, flavor = \"current_thread\"",
        "async fn largest() {}",
    );
    e.assert_no_errors();
    assert!(
        e.code().contains(".run_order_seed(18446744073709551615)"),
        "{}",
        e.code()
    );
}

#[test]
fn run_order_seed_needs_the_current_thread_flavor_written() {
    for args in [
        "run_order_seed = 7",
        "flavor = \"multi_thread\", run_order_seed = 7",
    ] {
        let e = test_attr(args, "async fn t() {}");
        assert_eq!(e.messages().len(), 1, "{args}: {:?}", e.messages());
        assert!(
            e.messages()[0].starts_with("`run_order_seed` needs `flavor = \"current_thread\"`"),
            "{args}: {:?}",
            e.messages()
        );
        assert!(!e.code().contains("run_order_seed"), "{args}");
    }
}

#[test]
fn run_order_seed_takes_a_non_negative_integer_literal() {
    for value in ["\"7\"", "-1", "1.5", "true", "seed"] {
        let args = format!("flavor = \"current_thread\", run_order_seed = {value}");
        let e = test_attr(&args, "async fn t() {}");
        assert_eq!(e.messages().len(), 1, "{value}: {:?}", e.messages());
        assert!(
            e.messages()[0].starts_with("`run_order_seed` expects a non-negative integer literal"),
            "{value}: {:?}",
            e.messages()
        );
    }
    let e = test_attr(
        "flavor = \"current_thread\", run_order_seed = 18446744073709551616",
        "async fn t() {}",
    );
    assert!(
        e.messages()[0].contains("does not fit in a u64"),
        "{:?}",
        e.messages()
    );
}

#[test]
fn run_order_seed_is_for_tests_only() {
    let e = main_attr(
        "flavor = \"current_thread\", run_order_seed = 1",
        "async fn main() {}",
    );
    assert_option_error(
        &e,
        "`run_order_seed` is only available in `#[ciranda::test]`",
        "run_order_seed",
        "run_order_seed",
    );
}

#[test]
fn start_paused_is_for_tests_only() {
    let e = main_attr("start_paused = true", "async fn main() {}");
    assert_option_error(
        &e,
        "`start_paused` is only available in `#[ciranda::test]`",
        "start_paused",
        "start_paused",
    );
    assert!(!e.code().contains("start_paused"));
}

#[test]
fn duplicate_options() {
    let e = test_attr("worker_threads = 2, worker_threads = 3", "async fn t() {}");
    assert_option_error(
        &e,
        "duplicate option `worker_threads`: it may be given only once",
        "worker_threads",
        "worker_threads",
    );
    // The first one wins in the expansion.
    assert!(e.code().contains(".worker_threads(2)"), "{}", e.code());
    assert!(!e.code().contains(".worker_threads(3)"));

    let e = test_attr(
        "start_paused = true, start_paused = true",
        "async fn t() {}",
    );
    assert_eq!(
        e.single_error().0,
        "duplicate option `start_paused`: it may be given only once"
    );
}

#[test]
fn worker_threads_must_be_a_positive_integer_literal() {
    let expects = "`worker_threads` expects an integer literal, at least 1";
    for (args, first, last) in [
        ("worker_threads = \"4\"", "\"4\"", "\"4\""),
        ("worker_threads = 4.0", "4.0", "4.0"),
        ("worker_threads = N", "N", "N"),
        ("worker_threads = 2 * 2", "2", "2"),
        ("worker_threads = true", "true", "true"),
    ] {
        let e = main_attr(args, "async fn main() {}");
        assert_option_error(&e, expects, first, last);
        assert!(
            !e.code().contains("worker_threads"),
            "{args}: the bad option is left out"
        );
    }

    let e = main_attr("worker_threads = 0", "async fn main() {}");
    assert_option_error(&e, "`worker_threads` must be at least 1", "0", "0");
    let e = main_attr("worker_threads = -1", "async fn main() {}");
    assert_option_error(&e, "`worker_threads` must be at least 1", "-1", "-1");

    let e = main_attr(
        "worker_threads = 99999999999999999999999",
        "async fn main() {}",
    );
    assert_option_error(
        &e,
        "`worker_threads = 99999999999999999999999` is too large",
        "99999999999999999999999",
        "99999999999999999999999",
    );
}

#[test]
fn start_paused_must_be_a_bool_literal() {
    for (args, text) in [
        ("start_paused = 1", "1"),
        ("start_paused = \"true\"", "\"true\""),
        ("start_paused = yes", "yes"),
    ] {
        let e = test_attr(args, "async fn t() {}");
        assert_option_error(&e, "`start_paused` expects `true` or `false`", text, text);
    }
}

#[test]
fn options_need_a_value() {
    let e = test_attr("start_paused", "async fn t() {}");
    assert_option_error(
        &e,
        "the `start_paused` option is written `start_paused = true` or `start_paused = false`",
        "start_paused",
        "start_paused",
    );

    let e = main_attr("worker_threads(4)", "async fn main() {}");
    assert_option_error(
        &e,
        "the `worker_threads` option is written `worker_threads = N`",
        "worker_threads",
        "(4)",
    );
}

#[test]
fn unparsable_arguments() {
    let e = main_attr("4", "async fn main() {}");
    let (message, first, _) = e.single_error();
    assert!(
        message.starts_with("invalid arguments for `#[ciranda::main]`: "),
        "{message}"
    );
    assert!(
        message.ends_with("(the options are `flavor = \"current_thread\"|\"multi_thread\"`, `worker_threads = N` and `unhandled_panic = \"shutdown\"|\"ignore\"`)"),
        "{message}"
    );
    assert_eq!(first, "4");
    assert!(e.code().contains(
        "::ciranda::Runtime::builder().flavor(::ciranda::__private::flavor_from_env()).build()"
    ));

    let e = test_attr("worker_threads = 2 start_paused = true", "async fn t() {}");
    let (message, first, _) = e.single_error();
    assert!(
        message.starts_with("invalid arguments for `#[ciranda::test]`: "),
        "{message}"
    );
    assert_eq!(first, "start_paused");
}

#[test]
fn a_second_test_attribute_is_reported_and_dropped() {
    for extra in [
        "#[test]",
        "#[core::prelude::v1::test]",
        "#[ciranda::test]",
        "#[tokio::test]",
    ] {
        let e = test_attr("", &format!("#[ignore]\n{extra}\nasync fn twice() {{}}"));
        let (message, first, last) = e.single_error();
        assert!(
            message.starts_with("a second test attribute is supplied"),
            "{message}"
        );
        let attribute = &extra[1..];
        assert_eq!(
            (first, last),
            ("#", attribute),
            "from `#` to the bracketed group"
        );
        assert_eq!(
            attr_paths(e.function()),
            ["::core::prelude::v1::test", "ignore"],
            "{extra}"
        );
    }
    // `cfg(test)` and friends are not test attributes.
    let e = test_attr(
        "",
        "#[cfg(test)]\n#[cfg_attr(test, allow(unused))]\nasync fn t() {}",
    );
    e.assert_no_errors();
}

#[test]
fn a_second_main_attribute_is_reported_and_dropped() {
    // Left in place, a second main attribute would expand the generated function, which is
    // no longer `async`, and report "the `async` keyword is missing" on an `async fn`.
    for extra in ["#[ciranda::main]", "#[tokio::main]", "#[main]"] {
        let e = main_attr("", &format!("#[inline]\n{extra}\nasync fn main() {{}}"));
        let (message, first, last) = e.single_error();
        assert!(
            message.starts_with("a second main attribute is supplied"),
            "{message}"
        );
        let attribute = &extra[1..];
        assert_eq!(
            (first, last),
            ("#", attribute),
            "from `#` to the bracketed group"
        );
        assert_eq!(attr_paths(e.function()), ["inline"], "{extra}");
    }
}

#[test]
fn unhandled_panic_option() {
    let e = test_attr("unhandled_panic = \"shutdown\"", "async fn t() {}");
    e.assert_no_errors();
    assert!(
        e.code()
            .contains(".unhandled_panic(::ciranda::UnhandledPanic::ShutdownRuntime).build()"),
        "{}",
        e.code()
    );
    let e = main_attr(
        "worker_threads = 2, unhandled_panic = \"ignore\"",
        "async fn main() {}",
    );
    e.assert_no_errors();
    assert!(
        e.code().contains(
            ".worker_threads(2).unhandled_panic(::ciranda::UnhandledPanic::Ignore).build()"
        ),
        "{}",
        e.code()
    );
    let e = test_attr("unhandled_panic = \"abort\"", "async fn t() {}");
    let (message, first, _) = e.single_error();
    assert_eq!(
        message,
        "`unhandled_panic` expects `\"shutdown\"` or `\"ignore\"`"
    );
    assert_eq!(first, "\"abort\"");
    let e = test_attr(
        "unhandled_panic = \"shutdown\", unhandled_panic = \"ignore\"",
        "async fn t() {}",
    );
    assert!(e.messages()[0].starts_with("duplicate option `unhandled_panic`"));
}

#[test]
fn flavor_current_thread_and_multi_thread() {
    for kind in [Kind::Main, Kind::Test] {
        let e = run(kind, "flavor = \"current_thread\"", "async fn f() {}");
        e.assert_no_errors();
        assert!(
            e.code().contains(
                "::ciranda::Runtime::builder().flavor(::ciranda::Flavor::CurrentThread).build()"
            ),
            "{}",
            e.code()
        );
        let e = run(
            kind,
            "worker_threads = 2, flavor = \"multi_thread\"",
            "async fn f() {}",
        );
        e.assert_no_errors();
        assert!(e.code().contains(
            "::ciranda::Runtime::builder().flavor(::ciranda::Flavor::MultiThread).worker_threads(2).build()"
        ));
    }
    let e = test_attr(
        "flavor = \"current_thread\", start_paused = true",
        "async fn f() {}",
    );
    e.assert_no_errors();
    assert!(
        e.code().contains(
            "builder().flavor(::ciranda::Flavor::CurrentThread).start_paused(true).build()"
        )
    );
}

#[test]
fn bad_flavors_are_reported() {
    for value in ["\"single\"", "current_thread", "1", "\"CurrentThread\""] {
        let e = main_attr(&format!("flavor = {value}"), "async fn main() {}");
        let (message, _, _) = e.single_error();
        assert!(
            message.contains("`flavor` expects \"current_thread\" or \"multi_thread\""),
            "{value}: {message}"
        );
    }
    let e = test_attr(
        "flavor = \"current_thread\", worker_threads = 2",
        "async fn f() {}",
    );
    let (message, _, _) = e.single_error();
    assert!(message.contains("cannot be combined with `flavor = \"current_thread\"`"));
    // Expanded without the option that was refused.
    assert!(
        e.code()
            .contains("builder().flavor(::ciranda::Flavor::CurrentThread).build()")
    );
    let e = test_attr(
        "flavor = \"multi_thread\", flavor = \"multi_thread\"",
        "async fn f() {}",
    );
    assert!(e.single_error().0.contains("duplicate option `flavor`"));
}
