//! The expansion of `#[ciranda::main]` and `#[ciranda::test]`, on `proc_macro2` token streams so
//! that it can be unit-tested.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::parse::{Parse, ParseStream};
use syn::{Attribute, ReturnType, Signature, Type, Visibility, braced};

use crate::options::{self, Options};

/// Which attribute is being expanded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `#[ciranda::main]`.
    Main,
    /// `#[ciranda::test]`.
    Test,
}

impl Kind {
    /// The attribute as the user writes it, for messages.
    pub(crate) fn attr(self) -> &'static str {
        match self {
            Self::Main => "#[ciranda::main]",
            Self::Test => "#[ciranda::test]",
        }
    }
}

/// Every error found while expanding, so that the user sees all of them at once.
#[derive(Debug, Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn to_compile_error(&self) -> TokenStream {
        self.0
            .as_ref()
            .map(syn::Error::to_compile_error)
            .unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.0.is_none()
    }
}

/// The function the attribute is placed on.
///
/// Like `syn::ItemFn`, except that the body is kept as tokens, not parsed into statements: the
/// body is only moved into an `async` block, and keeping it unparsed means a body rustc accepts
/// is never rejected here (rustc reports the body's own errors, with their real spans).
struct EntryFn {
    attrs: Vec<Attribute>,
    vis: Visibility,
    sig: Signature,
    /// `#![..]` attributes at the start of the body; they stay at the start of the generated body.
    inner_attrs: Vec<Attribute>,
    /// The statements of the body, and the span of its braces.
    body: TokenStream,
    body_span: Span,
}

impl Parse for EntryFn {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let attrs = input.call(Attribute::parse_outer)?;
        let vis = input.parse()?;
        let sig = input.parse()?;
        let content;
        let brace = braced!(content in input);
        let inner_attrs = content.call(Attribute::parse_inner)?;
        let body = content.parse()?;
        Ok(Self {
            attrs,
            vis,
            sig,
            inner_attrs,
            body,
            body_span: brace.span.join(),
        })
    }
}

/// Expands `#[ciranda::main(args)]` / `#[ciranda::test(args)]` on `item`.
///
/// Always returns code: on an error, the compile errors plus either the expansion without the
/// faulty options (when only the options or a duplicate test attribute are wrong), or the
/// original function (when the function itself cannot be expanded; an `async fn main` is nested
/// in a placeholder `fn main`), so that one mistake does not turn into a cascade of unrelated
/// errors ("`main` function not found", "`main` function is not allowed to be `async`", lost IDE
/// completion in the body, ...).
pub(crate) fn expand(kind: Kind, args: TokenStream, item: TokenStream) -> TokenStream {
    let mut errors = Errors::default();
    let options = options::parse(kind, args, &mut errors);

    let mut function = match syn::parse2::<EntryFn>(item.clone()) {
        Ok(function) => function,
        Err(e) => {
            errors.push(not_a_function(kind, &item, e));
            return with_original(errors, item);
        }
    };

    remove_const(kind, &mut function.sig, &mut errors);
    if check_signature(kind, &function.sig, &mut errors).is_err() {
        let sig = &function.sig;
        if kind == Kind::Main && sig.ident == "main" && sig.asyncness.is_some() {
            return with_original_nested_in_main(errors, item);
        }
        return with_original(errors, item);
    }
    remove_second_entry_attributes(kind, &mut function.attrs, &mut errors);

    let mut out = errors.to_compile_error();
    out.extend(generate(kind, &options, function));
    out
}

/// The error for an item that is not a function with a body.
fn not_a_function(kind: Kind, item: &TokenStream, parse_error: syn::Error) -> syn::Error {
    match syn::parse2::<syn::Item>(item.clone()) {
        // A function after all (an unusual one syn could not split): syn's error is the precise one.
        Ok(syn::Item::Fn(_) | syn::Item::Verbatim(_)) | Err(_) => parse_error,
        Ok(other) => syn::Error::new_spanned(
            other,
            format!("`{}` can only be placed on an `async fn`", kind.attr()),
        ),
    }
}

/// The errors followed by the user's item, untouched but for `#[allow(dead_code)]` (the item is
/// not called from anywhere once the attribute is gone).
fn with_original(errors: Errors, item: TokenStream) -> TokenStream {
    debug_assert!(!errors.is_empty());
    let mut out = errors.to_compile_error();
    out.extend(quote! { #[allow(dead_code)] });
    out.extend(item);
    out
}

/// Like [`with_original`], for an `async fn main` that cannot be expanded: the original is
/// nested inside a placeholder `fn main() {}`, so that rustc reports neither "`main` function is
/// not allowed to be `async`" nor "`main` function not found" on top of the real error, while the
/// original body is still type-checked.
fn with_original_nested_in_main(errors: Errors, item: TokenStream) -> TokenStream {
    debug_assert!(!errors.is_empty());
    let mut out = errors.to_compile_error();
    out.extend(quote! {
        #[allow(dead_code)]
        fn main() {
            #[allow(dead_code)]
            #item
        }
    });
    out
}

/// How the messages name the function: "the main function", "a `#[ciranda::main]` function"
/// or "test functions".
fn subject(kind: Kind, sig: &Signature) -> &'static str {
    match kind {
        Kind::Main if sig.ident == "main" => "the main function",
        Kind::Main => "a `#[ciranda::main]` function",
        Kind::Test => "test functions",
    }
}

/// Reports and removes `const`: rustc rejects `const async fn`, and the expansion (it builds a
/// runtime and blocks on it) cannot be `const` either, so keeping the keyword turned one
/// mistake into a list of "cannot call non-const ..." errors at the attribute. Without it the
/// function expands as usual and this error is the only one.
fn remove_const(kind: Kind, sig: &mut Signature, errors: &mut Errors) {
    if let Some(constness) = sig.constness.take() {
        errors.push(syn::Error::new_spanned(
            constness,
            format!(
                "{} cannot be `const` (`{}` builds a runtime and blocks on it when the \
                 function is called); remove `const`",
                subject(kind, sig),
                kind.attr()
            ),
        ));
    }
}

/// Checks what makes the function impossible to expand. Every problem is recorded; `Err` means
/// at least one was found.
fn check_signature(kind: Kind, sig: &Signature, errors: &mut Errors) -> Result<(), ()> {
    let mut ok = true;
    if sig.asyncness.is_none() {
        errors.push(syn::Error::new_spanned(
            sig.fn_token,
            format!(
                "the `async` keyword is missing from the function declaration \
                 (`{}` runs an `async fn` on a fresh runtime: write `async fn {}`)",
                kind.attr(),
                sig.ident
            ),
        ));
        ok = false;
    }
    let subject = subject(kind, sig);
    if !sig.inputs.is_empty() || sig.variadic.is_some() {
        let mut message = format!("{subject} cannot take arguments");
        if kind == Kind::Main {
            message.push_str(" (`#[ciranda::main]` calls it with none; use `std::env::args()`)");
        }
        let error = if sig.inputs.is_empty() {
            syn::Error::new_spanned(&sig.variadic, message)
        } else {
            syn::Error::new_spanned(&sig.inputs, message)
        };
        errors.push(error);
        ok = false;
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let message = format!("{subject} cannot be generic");
        let error = if sig.generics.params.is_empty() {
            syn::Error::new_spanned(&sig.generics.where_clause, message)
        } else {
            syn::Error::new_spanned(&sig.generics, message)
        };
        errors.push(error);
        ok = false;
    }
    if ok { Ok(()) } else { Err(()) }
}

/// Does `attr` name the attribute `name` by its last segment: `#[test]`,
/// `#[core::prelude::v1::test]`, `#[ciranda::test]`, `#[tokio::test]` for `test`;
/// `#[ciranda::main]`, `#[tokio::main]`, `#[main]` for `main`?
fn is_entry_attribute(attr: &Attribute, name: &str) -> bool {
    attr.path()
        .segments
        .last()
        .is_some_and(|segment| segment.ident == name)
}

/// Reports and removes a second entry attribute of `kind`'s sort, so that it causes no
/// further errors. `#[ciranda::test]` adds `#[test]` itself: a second test attribute would
/// register the function twice (or, for another runtime's attribute, run it on two
/// runtimes). `#[ciranda::main]` already turns the `async fn` into one that runs on a
/// runtime: a second main attribute would see the generated function, which is no longer
/// `async`, and report the `async` keyword as missing when the user wrote it.
fn remove_second_entry_attributes(kind: Kind, attrs: &mut Vec<Attribute>, errors: &mut Errors) {
    let (name, message) = match kind {
        Kind::Test => (
            "test",
            "a second test attribute is supplied: `#[ciranda::test]` already marks the \
             function as a test; remove this attribute",
        ),
        Kind::Main => (
            "main",
            "a second main attribute is supplied: `#[ciranda::main]` already runs the \
             function on a runtime; remove this attribute",
        ),
    };
    attrs.retain(|attr| {
        if is_entry_attribute(attr, name) {
            errors.push(syn::Error::new_spanned(attr, message));
            false
        } else {
            true
        }
    });
}

/// The type the body's `async` block is annotated with, so that the body is checked against the
/// declared return type exactly like the body of an `async fn` (`?` conversions, coercions, and
/// "mismatched types" errors pointing inside the body). `None` when the type cannot be written in
/// a `let` (`impl Trait`, `!`); the block's type is then inferred from the function's return.
fn body_output_type(output: &ReturnType) -> Option<TokenStream> {
    match output {
        ReturnType::Default => Some(quote! { () }),
        ReturnType::Type(_, ty) => match &**ty {
            Type::Never(_) => None,
            ty if mentions_impl(ty.to_token_stream()) => None,
            ty => Some(ty.to_token_stream()),
        },
    }
}

fn mentions_impl(tokens: TokenStream) -> bool {
    tokens.into_iter().any(|token| match token {
        TokenTree::Ident(ident) => ident == "impl",
        TokenTree::Group(group) => mentions_impl(group.stream()),
        TokenTree::Punct(_) | TokenTree::Literal(_) => false,
    })
}

/// The builder chain: `::ciranda::Runtime::builder().flavor(F).worker_threads(N).start_paused(B)`.
/// Without a written flavor, `F` comes from the `CIRANDA_FLAVOR` environment variable at run
/// time (multi-thread when it is unset).
fn builder(options: &Options) -> TokenStream {
    let mut chain = quote! { ::ciranda::Runtime::builder() };
    match options.flavor {
        Some((flavor, span)) => {
            let variant = syn::Ident::new(flavor.variant(), span);
            chain.extend(quote_spanned! {span=> .flavor(::ciranda::Flavor::#variant) });
        }
        None => chain.extend(quote! { .flavor(::ciranda::__private::flavor_from_env()) }),
    }
    if let Some((n, span)) = options.worker_threads {
        let mut n = proc_macro2::Literal::usize_unsuffixed(n);
        n.set_span(span);
        chain.extend(quote_spanned! {span=> .worker_threads(#n) });
    }
    if let Some((paused, span)) = options.start_paused {
        let paused = syn::LitBool::new(paused, span);
        chain.extend(quote_spanned! {span=> .start_paused(#paused) });
    }
    if let Some((seed, span)) = options.run_order_seed {
        let mut seed = proc_macro2::Literal::u64_unsuffixed(seed);
        seed.set_span(span);
        chain.extend(quote_spanned! {span=> .run_order_seed(#seed) });
    }
    if let Some((shutdown, span)) = options.unhandled_panic {
        let policy = if shutdown {
            quote_spanned! {span=> ShutdownRuntime }
        } else {
            quote_spanned! {span=> Ignore }
        };
        chain.extend(quote_spanned! {span=> .unhandled_panic(::ciranda::UnhandledPanic::#policy) });
    }
    chain
}

/// For `worker_threads = N`: a constant assertion that `N` is at most the scheduler's
/// `MAX_WORKERS`, so that a count no runtime can have is a compile error at the literal
/// rather than a panic when the program starts. (The limit lives in the scheduler, which this
/// crate cannot depend on; the facade re-exports it for the expansion.)
fn worker_threads_limit(options: &Options) -> TokenStream {
    let Some((n, span)) = options.worker_threads else {
        return TokenStream::new();
    };
    let mut n = proc_macro2::Literal::usize_unsuffixed(n);
    n.set_span(span);
    quote_spanned! {span=>
        const _: () = ::core::assert!(
            #n <= ::ciranda::__private::MAX_WORKERS,
            "`worker_threads` is larger than a ciranda runtime can be \
             (at most `ciranda_scheduler::MAX_WORKERS` worker threads)"
        );
    }
}

/// The expansion of a well-formed function.
fn generate(kind: Kind, options: &Options, function: EntryFn) -> TokenStream {
    let EntryFn {
        attrs,
        vis,
        mut sig,
        inner_attrs,
        body,
        body_span,
    } = function;
    sig.asyncness = None;

    let test_attr = match kind {
        Kind::Main => TokenStream::new(),
        Kind::Test => quote! { #[::core::prelude::v1::test] },
    };

    // Local names with mixed-site hygiene: the user's body cannot see or shadow them.
    let body_var = syn::Ident::new("body", Span::mixed_site());
    let output_var = syn::Ident::new("output", Span::mixed_site());
    let runtime_var = syn::Ident::new("runtime", Span::mixed_site());
    let error_var = syn::Ident::new("error", Span::mixed_site());

    let mut user_body = Group::new(Delimiter::Brace, body);
    user_body.set_span(body_span);
    let future = match body_output_type(&sig.output) {
        Some(output_type) => quote! {
            async move {
                // The body is a sub-expression here; a body that ends in `return` or `panic!` is
                // fine in an `async fn`, so it must not be reported as a diverging sub-expression.
                #[allow(clippy::diverging_sub_expression)]
                let #output_var: #output_type = #user_body;
                #[allow(unreachable_code, clippy::needless_return)]
                return #output_var;
            }
        },
        None => quote! { async move #user_body },
    };

    let builder = builder(options);
    let limits = worker_threads_limit(options);
    quote! {
        #test_attr
        #(#attrs)*
        #vis #sig {
            #(#inner_attrs)*
            #limits
            let #body_var = #future;
            let #runtime_var = match #builder.build() {
                ::core::result::Result::Ok(#runtime_var) => #runtime_var,
                ::core::result::Result::Err(#error_var) => ::core::panic!(
                    "ciranda: failed to start the runtime: {}",
                    #error_var
                ),
            };
            #runtime_var.block_on(#body_var)
        }
    }
}
