//! Parsing of the attribute's arguments: `#[ciranda::test(worker_threads = 2, start_paused = true)]`.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::parse::Parser;
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, Lit, Meta, Token};

use crate::entry::{Errors, Kind};

/// The options given to `#[ciranda::main(..)]` or `#[ciranda::test(..)]`, already validated.
///
/// Every field is `None` when the option was not written (or was written wrongly, in which case an
/// error was recorded): the generated code then keeps the builder's default.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    /// `worker_threads = N`: the literal, re-emitted unsuffixed with the user's span.
    pub(crate) worker_threads: Option<(usize, Span)>,
    /// `start_paused = true|false` (tests only).
    pub(crate) start_paused: Option<(bool, Span)>,
    /// `unhandled_panic = "shutdown"|"ignore"`: `true` for `"shutdown"`.
    pub(crate) unhandled_panic: Option<(bool, Span)>,
    /// `flavor = "current_thread" | "multi_thread"`.
    pub(crate) flavor: Option<(Flavor, Span)>,
    /// `run_order_seed = N` (tests on the current-thread flavor only).
    pub(crate) run_order_seed: Option<(u64, Span)>,
}

/// The runtime flavor written in the attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

impl Flavor {
    /// The variant of `ciranda::Flavor`.
    pub(crate) fn variant(self) -> &'static str {
        match self {
            Self::CurrentThread => "CurrentThread",
            Self::MultiThread => "MultiThread",
        }
    }
}

/// An option name, as understood by [`parse`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    WorkerThreads,
    StartPaused,
    UnhandledPanic,
    Flavor,
    RunOrderSeed,
}

impl Name {
    fn from_ident(ident: &str) -> Option<Self> {
        match ident {
            "worker_threads" => Some(Self::WorkerThreads),
            "start_paused" => Some(Self::StartPaused),
            "unhandled_panic" => Some(Self::UnhandledPanic),
            "flavor" => Some(Self::Flavor),
            "run_order_seed" => Some(Self::RunOrderSeed),
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::WorkerThreads => "worker_threads",
            Self::StartPaused => "start_paused",
            Self::UnhandledPanic => "unhandled_panic",
            Self::Flavor => "flavor",
            Self::RunOrderSeed => "run_order_seed",
        }
    }

    /// How the option is written, for error messages.
    fn usage(self) -> &'static str {
        match self {
            Self::WorkerThreads => "`worker_threads = N` (an integer literal, at least 1)",
            Self::StartPaused => "`start_paused = true` or `start_paused = false`",
            Self::UnhandledPanic => {
                "`unhandled_panic = \"shutdown\"` or `unhandled_panic = \"ignore\"`"
            }
            Self::Flavor => "`flavor = \"current_thread\"` or `flavor = \"multi_thread\"`",
            Self::RunOrderSeed => "`run_order_seed = N` (an integer literal)",
        }
    }
}

/// The options `kind` accepts, for the "unknown option" message.
fn known_options(kind: Kind) -> &'static str {
    match kind {
        Kind::Main => {
            "the options are `flavor = \"current_thread\"|\"multi_thread\"`, `worker_threads = N` \
             and `unhandled_panic = \"shutdown\"|\"ignore\"`"
        }
        Kind::Test => {
            "the options are `flavor = \"current_thread\"|\"multi_thread\"`, `worker_threads = N`, \
             `start_paused = true|false`, `unhandled_panic = \"shutdown\"|\"ignore\"` and \
             `run_order_seed = N`"
        }
    }
}

/// Parses and validates the attribute arguments.
///
/// Never fails as a whole: every problem is recorded in `errors` (all of them, not only the first)
/// and the offending option is left out, so the caller can still expand the function with the
/// options that are valid.
pub(crate) fn parse(kind: Kind, args: TokenStream, errors: &mut Errors) -> Options {
    let mut options = Options::default();
    if args.is_empty() {
        return options;
    }

    let metas = match Punctuated::<Meta, Token![,]>::parse_terminated.parse2(args) {
        Ok(metas) => metas,
        Err(e) => {
            errors.push(syn::Error::new(
                e.span(),
                format!(
                    "invalid arguments for `{}`: {e}; expected `name = value` pairs \
                     separated by commas ({})",
                    kind.attr(),
                    known_options(kind),
                ),
            ));
            return options;
        }
    };

    for meta in metas {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .and_then(|s| Name::from_ident(&s));
        let Some(name) = name else {
            let written = path.to_token_stream().to_string().replace(' ', "");
            errors.push(syn::Error::new_spanned(
                path,
                format!(
                    "unknown option `{written}` for `{}`; {}",
                    kind.attr(),
                    known_options(kind)
                ),
            ));
            continue;
        };

        if name == Name::RunOrderSeed && kind == Kind::Main {
            errors.push(syn::Error::new_spanned(
                path,
                "`run_order_seed` is only available in `#[ciranda::test]` (a seeded run order is \
                 for exploring interleavings in tests; a program can call \
                 `Builder::run_order_seed`)",
            ));
            continue;
        }

        if name == Name::StartPaused && kind == Kind::Main {
            errors.push(syn::Error::new_spanned(
                path,
                "`start_paused` is only available in `#[ciranda::test]` (the virtual clock is \
                 meant for tests); the options of `#[ciranda::main]` are `flavor = \"..\"`, \
                 `worker_threads = N` and `unhandled_panic = \"shutdown\"|\"ignore\"`",
            ));
            continue;
        }

        let value = match &meta {
            Meta::NameValue(nv) => &nv.value,
            Meta::Path(_) | Meta::List(_) => {
                errors.push(syn::Error::new_spanned(
                    &meta,
                    format!("the `{}` option is written {}", name.as_str(), name.usage()),
                ));
                continue;
            }
        };

        let already_set = match name {
            Name::WorkerThreads => options.worker_threads.is_some(),
            Name::StartPaused => options.start_paused.is_some(),
            Name::UnhandledPanic => options.unhandled_panic.is_some(),
            Name::Flavor => options.flavor.is_some(),
            Name::RunOrderSeed => options.run_order_seed.is_some(),
        };
        if already_set {
            errors.push(syn::Error::new_spanned(
                path,
                format!(
                    "duplicate option `{}`: it may be given only once",
                    name.as_str()
                ),
            ));
            continue;
        }

        match name {
            Name::WorkerThreads => match worker_threads(value) {
                Ok(n) => options.worker_threads = Some((n, value.span())),
                Err(e) => errors.push(e),
            },
            Name::StartPaused => match bool_literal(value) {
                Some(b) => options.start_paused = Some((b, value.span())),
                None => errors.push(syn::Error::new_spanned(
                    value,
                    "`start_paused` expects `true` or `false`",
                )),
            },
            Name::UnhandledPanic => match literal(value) {
                Some(Lit::Str(s)) if s.value() == "shutdown" => {
                    options.unhandled_panic = Some((true, value.span()));
                }
                Some(Lit::Str(s)) if s.value() == "ignore" => {
                    options.unhandled_panic = Some((false, value.span()));
                }
                _ => errors.push(syn::Error::new_spanned(
                    value,
                    "`unhandled_panic` expects `\"shutdown\"` or `\"ignore\"`",
                )),
            },
            Name::Flavor => match flavor(value) {
                Ok(f) => options.flavor = Some((f, value.span())),
                Err(e) => errors.push(e),
            },
            Name::RunOrderSeed => match literal(value) {
                Some(Lit::Int(int)) if !int.base10_digits().starts_with('-') => {
                    match int.base10_parse::<u64>() {
                        Ok(seed) => options.run_order_seed = Some((seed, value.span())),
                        Err(_) => errors.push(syn::Error::new_spanned(
                            int,
                            format!(
                                "`run_order_seed = {}` does not fit in a u64",
                                int.base10_digits()
                            ),
                        )),
                    }
                }
                _ => errors.push(syn::Error::new_spanned(
                    value,
                    "`run_order_seed` expects a non-negative integer literal (e.g. \
                     `run_order_seed = 7`)",
                )),
            },
        }
    }
    if let Some((_, span)) = options.run_order_seed {
        if !matches!(options.flavor, Some((Flavor::CurrentThread, _))) {
            errors.push(syn::Error::new(
                span,
                "`run_order_seed` needs `flavor = \"current_thread\"` written in the same \
                 attribute: with worker threads the order is the threads', not the scheduler's",
            ));
            options.run_order_seed = None;
        }
    }
    if let (Some((Flavor::CurrentThread, _)), Some((_, span))) =
        (options.flavor, options.worker_threads)
    {
        errors.push(syn::Error::new(
            span,
            "`worker_threads` cannot be combined with `flavor = \"current_thread\"`: that \
             runtime has no worker threads (every task runs on the calling thread)",
        ));
        options.worker_threads = None;
    }
    options
}

fn flavor(expr: &Expr) -> syn::Result<Flavor> {
    match literal(expr) {
        Some(Lit::Str(s)) if s.value() == "current_thread" => Ok(Flavor::CurrentThread),
        Some(Lit::Str(s)) if s.value() == "multi_thread" => Ok(Flavor::MultiThread),
        _ => Err(syn::Error::new_spanned(
            expr,
            "`flavor` expects \"current_thread\" or \"multi_thread\" (a string literal)",
        )),
    }
}

/// A literal as written, looking through the invisible groups `macro_rules!` wraps around
/// `$x:expr` / `$x:literal` fragments.
fn literal(expr: &Expr) -> Option<&Lit> {
    match expr {
        Expr::Lit(lit) if lit.attrs.is_empty() => Some(&lit.lit),
        Expr::Group(group) if group.attrs.is_empty() => literal(&group.expr),
        _ => None,
    }
}

fn bool_literal(expr: &Expr) -> Option<bool> {
    match literal(expr) {
        Some(Lit::Bool(b)) => Some(b.value),
        _ => None,
    }
}

fn worker_threads(expr: &Expr) -> syn::Result<usize> {
    let Some(Lit::Int(int)) = literal(expr) else {
        return Err(syn::Error::new_spanned(
            expr,
            "`worker_threads` expects an integer literal, at least 1 (e.g. `worker_threads = 4`)",
        ));
    };
    if int.base10_digits().starts_with('-') {
        return Err(syn::Error::new_spanned(
            int,
            "`worker_threads` must be at least 1 (the runtime needs a worker thread)",
        ));
    }
    let n: usize = int.base10_parse().map_err(|_| {
        syn::Error::new_spanned(
            int,
            format!(
                "`worker_threads = {}` is too large for a thread count",
                int.base10_digits()
            ),
        )
    })?;
    if n == 0 {
        return Err(syn::Error::new_spanned(
            int,
            "`worker_threads` must be at least 1 (the runtime needs a worker thread)",
        ));
    }
    Ok(n)
}
