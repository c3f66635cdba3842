//! The whole pipeline behind one builder, for build scripts, the proc-macro and the CLI:
//!
//! ```no_run
//! // build.rs
//! mobilenet_compiler::Compiler::new("models/mobilenetv2.onnx").struct_name("MobileNetV2").write_to_out_dir()?;
//! // src/lib.rs: include!(concat!(env!("OUT_DIR"), "/mobilenetv2.rs"));
//! # Ok::<(), mobilenet_compiler::Error>(())
//! ```

use std::path::{Path, PathBuf};

use proc_macro2::TokenStream;
use quote::quote;

use crate::codegen::{self, Weights};
use crate::error::{Error, Result};
use crate::lower::{self, Program};
use crate::options::{InputShape, Limits, Options};
use crate::plan::{self, Plan};
use crate::{Frontend, frontend};

/// Compiles one ONNX file to Rust.
#[derive(Clone, Debug)]
pub struct Compiler {
    path: PathBuf,
    options: Options,
    struct_name: Option<String>,
    visibility: String,
    file_name: Option<String>,
    threads: usize,
}

/// Everything the pipeline produced for one model.
#[derive(Clone, Debug)]
pub struct Compiled {
    /// The imported and the optimised graph, with what each pass did.
    pub frontend: Frontend,
    /// The lowered program: kernel calls over regions.
    pub program: Program,
    /// The program's arena placement.
    pub plan: Plan,
    /// Name of the struct to generate.
    pub struct_name: String,
    /// Its visibility as Rust source (`pub`, `pub(crate)`, or empty).
    pub visibility: String,
}

impl Compiler {
    /// A compiler for the ONNX file at `path` (relative paths are taken from the current
    /// directory, which in a build script is the package root).
    pub fn new(path: impl AsRef<Path>) -> Self {
        Compiler {
            path: path.as_ref().to_path_buf(),
            options: Options::default(),
            struct_name: None,
            visibility: "pub".into(),
            file_name: None,
            threads: 1,
        }
    }

    /// Most threads the model may run with (`set_threads`); default 1. Each thread beyond the
    /// first adds scratch memory for the fused blocks to the arena.
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads;
        self
    }

    /// Name of the generated struct (default: the file stem in CamelCase).
    pub fn struct_name(mut self, name: impl Into<String>) -> Self {
        self.struct_name = Some(name.into());
        self
    }

    /// Visibility of the struct (`pub` by default; `pub(crate)`, or `""` for private).
    pub fn visibility(mut self, vis: impl Into<String>) -> Self {
        self.visibility = vis.into();
        self
    }

    /// Batch size, for models with a symbolic batch dimension.
    pub fn batch(mut self, batch: usize) -> Self {
        self.options.shapes.batch = Some(batch);
        self
    }

    /// The full input shape, for models with other symbolic dimensions.
    pub fn input_shape(mut self, dims: &[usize]) -> Self {
        self.options.shapes.input_shapes.push(InputShape { name: None, dims: dims.to_vec() });
        self
    }

    /// Bounds on what the file may ask for (size, nodes, weights); see [`Limits`].
    pub fn limits(mut self, limits: Limits) -> Self {
        self.options.limits = limits;
        self
    }

    /// Replaces every front-end option at once (shapes and limits).
    pub fn options(mut self, options: Options) -> Self {
        self.options = options;
        self
    }

    /// File name (without extension) of what `write_to` writes (default: the ONNX file stem).
    pub fn file_name(mut self, name: impl Into<String>) -> Self {
        self.file_name = Some(name.into());
        self
    }

    /// The ONNX file this compiler reads.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn stem(&self) -> String {
        let name = self.path.file_name().map(|s| s.to_string_lossy().into_owned()).unwrap_or_else(|| "model".into());
        name.strip_suffix(".onnx").unwrap_or(&name).to_string()
    }

    /// Runs the pipeline: import, optimise, lower, plan.
    pub fn compile(&self) -> Result<Compiled> {
        let fe = frontend(&self.path, &self.options)?;
        let mut program =
            lower::lower_with(&fe.optimized, self.threads, Some(lower::image_loop::CACHE_BYTES), &self.options.limits)
                .map_err(|e| e.in_file(&self.path))?;
        let plan = plan::plan(&mut program).map_err(|e| e.in_file(&self.path))?;
        let max = self.options.limits.max_arena_bytes;
        if plan.arena_bytes() as u64 > max {
            return Err(Error::limit(format!(
                "the generated code would need an arena of {} bytes, more than the limit of {max} (Limits::max_arena_bytes)",
                plan.arena_bytes()
            ))
            .in_file(&self.path));
        }
        let struct_name = self.struct_name.clone().unwrap_or_else(|| camel_case(&self.stem()));
        codegen::struct_ident(&struct_name)?;
        let visibility = self.visibility.clone();
        syn::parse_str::<syn::Visibility>(&visibility)
            .map_err(|_| Error::usage(format!("'{visibility}' is not a Rust visibility")))?;
        Ok(Compiled { frontend: fe, program, plan, struct_name, visibility })
    }

    /// Writes `<dir>/<name>.rs` and `<dir>/<name>.weights.bin` (the source includes the blob by
    /// a path relative to itself) and returns the source path.
    pub fn write_to(&self, dir: &Path) -> Result<PathBuf> {
        let name = self.file_name.clone().unwrap_or_else(|| self.stem());
        let compiled = self.compile()?;
        let blob = format!("{name}.weights.bin");
        let source = compiled.source(Weights::IncludeBytes(quote!(#blob)))?;
        write_pair(dir, &name, &source, &codegen::weight_bytes(&compiled.program))
    }

    /// For build scripts: writes into `OUT_DIR` (the source includes the blob from there) and
    /// prints `cargo:rerun-if-changed` for the model and its external data.
    pub fn write_to_out_dir(&self) -> Result<PathBuf> {
        let out_dir = std::env::var_os("OUT_DIR")
            .map(PathBuf::from)
            .ok_or_else(|| Error::usage("OUT_DIR is not set: write_to_out_dir is meant for build scripts"))?;
        let name = self.file_name.clone().unwrap_or_else(|| self.stem());
        println!("cargo:rerun-if-changed={}", self.path.display());
        let compiled = self.compile()?;
        for f in &compiled.frontend.optimized.source.files {
            println!("cargo:rerun-if-changed={}", f.display());
        }
        let blob = format!("/{name}.weights.bin");
        let source = compiled.source(Weights::IncludeBytes(quote!(concat!(env!("OUT_DIR"), #blob))))?;
        write_pair(&out_dir, &name, &source, &codegen::weight_bytes(&compiled.program))
    }
}

/// Writes `<dir>/<name>.rs` and `<dir>/<name>.weights.bin`, both or neither.
fn write_pair(dir: &Path, name: &str, source: &str, weights: &[u8]) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, &e))?;
    let src = dir.join(format!("{name}.rs"));
    let bin = dir.join(format!("{name}.weights.bin"));
    crate::files::write_all_or_nothing(&[(&bin, weights), (&src, source.as_bytes())])?;
    Ok(src)
}

impl Compiled {
    /// Code-generation options for this model: where the weights go, whether layers get
    /// comments, which files the generated code should make the user's crate rebuild on.
    pub fn codegen_options(
        &self,
        weights: Weights,
        comments: bool,
        track_files: Vec<String>,
    ) -> Result<codegen::Options> {
        let visibility: TokenStream = self.visibility.parse().map_err(|_| Error::usage("bad visibility"))?;
        let g = &self.frontend.optimized;
        let file = g
            .source
            .path
            .as_ref()
            .and_then(|p| p.file_name())
            .map(|f| codegen::text::path_text(Path::new(f)))
            .unwrap_or_default();
        Ok(codegen::Options {
            struct_name: self.struct_name.clone(),
            visibility,
            weights,
            comments,
            track_files,
            description: format!(
                "MobileNet compiled from `{file}` ({}, opset {}) by mobilenet-compiler.",
                g.source.producer, g.source.opset
            ),
        })
    }

    /// The formatted source, with a comment above every layer.
    pub fn source(&self, weights: Weights) -> Result<String> {
        let opts = self.codegen_options(weights, true, Vec::new())?;

        let g = &self.frontend.optimized;
        let header = vec![
            format!(
                "Generated by mobilenet-compiler {} from {}. Do not edit.",
                env!("CARGO_PKG_VERSION"),
                g.source.path.as_deref().map(codegen::text::path_text).unwrap_or_default()
            ),
            format!(
                "{} kernel calls; arena {} bytes (one buffer per tensor: {}); weights {} bytes.",
                self.program.schedule().count(),
                self.plan.arena_bytes(),
                self.plan.naive_bytes(),
                self.program.weights.len() * 4
            ),
        ];
        codegen::source(&self.program, &self.plan, &opts, &header)
    }
}

/// Every stage from an ONNX file's bytes to formatted source (weights inline, no external data,
/// code for 2 threads): the path the fuzz target drives, and that its replay test runs again.
/// Source is generated only for programs of at most `max_weights` f32 weights (formatting a large
/// blob inline is slow); `Ok(None)` otherwise.
#[doc(hidden)]
pub fn source_from_bytes(bytes: &[u8], options: &Options, max_weights: usize) -> Result<Option<String>> {
    let model = crate::onnx::decode_model(bytes, &options.limits)?;
    let fe = crate::frontend_from_model(&model, None, options)?;
    let mut program = lower::lower(&fe.optimized, 2)?;
    let plan = plan::plan(&mut program)?;
    if program.weights.len() > max_weights {
        return Ok(None);
    }
    let opts = codegen::Options {
        struct_name: "Fuzzed".into(),
        visibility: Default::default(),
        weights: Weights::Inline,
        comments: true,
        track_files: Vec::new(),
        description: String::new(),
    };
    codegen::source(&program, &plan, &opts, &[]).map(Some)
}

/// `mobilenet_v2.tv.legacy` -> `MobilenetV2TvLegacy`.
pub fn camel_case(stem: &str) -> String {
    let mut out = String::new();
    for part in stem.split(|c: char| !c.is_ascii_alphanumeric()).filter(|p| !p.is_empty()) {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out.is_empty() || out.starts_with(|c: char| c.is_ascii_digit()) {
        out.insert_str(0, "Model");
    }
    out
}
