//! `mobilenet_model!(pub Name, "path/relative/to/CARGO_MANIFEST_DIR.onnx")` compiles the ONNX
//! file into a struct `Name` at build time. Users reach it through `mobilenet_runtime`.
//!
//! Optional settings follow the path:
//!
//! ```ignore
//! mobilenet_model!(pub Classifier, "models/cls.onnx", batch = 4);
//! mobilenet_model!(pub Paddle, "models/ppocr_cls.onnx", input_shape = [1, 3, 48, 192]);
//! mobilenet_model!(pub Fast, "models/mobilenetv2.onnx", threads = 4); // then `net.set_threads(4)`
//! ```
//!
//! The settings are those of `mobilenet_compiler::Compiler` a model needs: `batch` (for a
//! symbolic batch dimension), `input_shape` (for other symbolic dimensions) and `threads` (the
//! most threads `set_threads` will accept; the arena holds scratch memory for each).
//!
//! Any problem (missing file, unsupported op, bad shape, bad setting) becomes a `compile_error!`
//! pointing at the argument it concerns; the macro never panics. The expansion mentions the
//! ONNX file (and its external data) through `include_bytes!`, so editing it rebuilds the crate.

#![warn(missing_docs)]

use std::path::PathBuf;

use mobilenet_compiler::codegen::{self, Weights};
use mobilenet_compiler::{Compiler, Error, ErrorKind};
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::parse::{Parse, ParseStream};
use syn::{Ident, LitInt, LitStr, Token, Visibility, bracketed};

struct Args {
    vis: Visibility,
    name: Ident,
    path: LitStr,
    batch: Option<LitInt>,
    input_shape: Option<(Span, Vec<usize>)>,
    threads: Option<LitInt>,
}

impl Parse for Args {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let vis: Visibility = input.parse()?;
        let name: Ident = input.parse()?;
        input.parse::<Token![,]>()?;
        let path: LitStr = input.parse()?;
        let mut args = Args { vis, name, path, batch: None, input_shape: None, threads: None };
        while input.parse::<Option<Token![,]>>()?.is_some() {
            if input.is_empty() {
                break;
            }
            let key: Ident = input.parse()?;
            input.parse::<Token![=]>()?;
            match key.to_string().as_str() {
                "batch" => {
                    let lit: LitInt = input.parse()?;
                    lit.base10_parse::<usize>()?;
                    args.batch = Some(lit);
                }
                "threads" => {
                    let lit: LitInt = input.parse()?;
                    lit.base10_parse::<usize>()?;
                    args.threads = Some(lit);
                }
                "input_shape" => {
                    let content;
                    let bracket = bracketed!(content in input);
                    let dims = content.parse_terminated(LitInt::parse, Token![,])?;
                    let dims = dims.iter().map(|d| d.base10_parse::<usize>()).collect::<syn::Result<Vec<_>>>()?;
                    args.input_shape = Some((bracket.span.join(), dims));
                }
                other => {
                    return Err(syn::Error::new(
                        key.span(),
                        format!(
                            "unknown setting `{other}`; the settings are `batch = N`, `input_shape = [..]` and `threads = N`"
                        ),
                    ));
                }
            }
        }
        Ok(args)
    }
}

/// Compiles an ONNX MobileNet into a struct. See the crate documentation.
#[proc_macro]
pub fn mobilenet_model(input: proc_macro::TokenStream) -> proc_macro::TokenStream {
    let args = match syn::parse::<Args>(input) {
        Ok(a) => a,
        Err(e) => return e.to_compile_error().into(),
    };
    // The compiler returns errors rather than panicking; this guard turns a compiler bug into a
    // compile error too, instead of a proc-macro crash.
    let span = args.path.span();
    match std::panic::catch_unwind(|| expand(&args)) {
        Ok(Ok(tokens)) => tokens.into(),
        Ok(Err(e)) => e.to_compile_error().into(),
        Err(panic) => {
            let cause = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "no message".into());
            let message = format!("mobilenet_model!: internal compiler error (please report): {cause}");
            syn::Error::new(span, message).to_compile_error().into()
        }
    }
}

fn expand(args: &Args) -> syn::Result<TokenStream> {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_default();
    let path = manifest.join(args.path.value());
    let mut compiler = Compiler::new(&path).struct_name(args.name.to_string());
    if let Some(b) = &args.batch {
        compiler = compiler.batch(b.base10_parse()?);
    }
    if let Some((_, dims)) = &args.input_shape {
        compiler = compiler.input_shape(dims);
    }
    if let Some(t) = &args.threads {
        compiler = compiler.threads(t.base10_parse()?);
    }
    let compiled = compiler.compile().map_err(|e| error_at(args, &e))?;
    let track: Vec<String> = compiled.frontend.optimized.source.files.iter().map(|f| f.display().to_string()).collect();
    let vis = &args.vis;
    let mut opts = compiled.codegen_options(Weights::Inline, false, track).map_err(|e| error_at(args, &e))?;
    opts.visibility = quote!(#vis);
    let generated = codegen::generate(&compiled.program, &compiled.plan, &opts).map_err(|e| error_at(args, &e))?;
    Ok(generated.tokens)
}

/// Points an error at the argument it concerns: shape problems at the settings, everything
/// else at the path.
fn error_at(args: &Args, e: &Error) -> syn::Error {
    let span = match e.kind() {
        ErrorKind::Usage if e.message().starts_with("threads") => {
            args.threads.as_ref().map_or_else(|| args.path.span(), |t| t.span())
        }
        ErrorKind::Usage => args
            .input_shape
            .as_ref()
            .map(|(s, _)| *s)
            .or_else(|| args.batch.as_ref().map(|b| b.span()))
            .unwrap_or_else(|| args.path.span()),
        _ => args.path.span(),
    };
    syn::Error::new(span, format!("mobilenet_model!: {e}"))
}
