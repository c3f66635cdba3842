//! # mobilenet-compiler
//!
//! An ahead-of-time compiler from MobileNet ONNX files (V1, V2, V3; exported by torch.onnx,
//! tf2onnx or Paddle2ONNX) to specialised Rust source.
//!
//! The pipeline runs in one direction, one module per stage:
//!
//! ```text
//! onnx (prost decode, external data) -> import (one function per ONNX op) -> ir (petgraph)
//!   -> passes (shape inference, folding, fusion, grouping; verified after each)
//!   -> interp (reference interpreter, the oracle every later stage is checked against)
//! ```
//!
//! The front half in one call:
//!
//! ```no_run
//! use mobilenet_compiler::{Options, frontend};
//! let fe = frontend("mobilenetv2.onnx".as_ref(), &Options::default())?;
//! println!("{} ops after optimisation", fe.optimized.op_count());
//! # Ok::<(), mobilenet_compiler::Error>(())
//! ```

#![warn(missing_docs)]

pub mod codegen;
pub mod compile;
pub mod error;
pub mod exec;
pub mod files;
pub mod import;
pub mod interp;
pub mod ir;
pub mod lower;
#[cfg(feature = "npy")]
pub mod npy;
pub mod onnx;
pub mod options;
pub mod passes;
pub mod plan;
pub mod stats;

use std::path::Path;

pub use compile::{Compiled, Compiler};
pub use error::{Error, ErrorKind, NodeContext, Result};
pub use ir::Graph;
pub use options::{InputShape, Limits, Options, ShapeOptions};
pub use passes::PassReport;

/// The front half's result: the graph as imported (typed, otherwise as in the file), the
/// optimised graph, and what each pass did.
#[derive(Clone, Debug)]
pub struct Frontend {
    /// The graph as imported and typed.
    pub imported: Graph,
    /// The graph after every pass.
    pub optimized: Graph,
    /// What each pass did, in order.
    pub reports: Vec<PassReport>,
}

/// Reads, decodes and imports an ONNX file (no passes run yet).
pub fn import_file(path: &Path, options: &Options) -> Result<Graph> {
    let model = onnx::read_model(path, &options.limits)?;
    import::import(&model, Some(path), options)
}

/// Runs the optimisation pipeline on an imported graph.
pub fn optimize(mut graph: Graph, options: &Options) -> Result<(Graph, Vec<PassReport>)> {
    let reports = passes::optimize(&mut graph, options, false, &mut |_, _| Ok(()))?;
    Ok((graph, reports))
}

/// Import and optimise a file. The decoded file is dropped once imported, before the passes.
pub fn frontend(path: &Path, options: &Options) -> Result<Frontend> {
    let imported = import_file(path, options)?;
    optimize_imported(imported, options).map_err(|e| e.in_file(path))
}

/// Import and optimise a decoded model; `path` (the .onnx file, if any) anchors external data.
pub fn frontend_from_model(model: &onnx::ModelProto, path: Option<&Path>, options: &Options) -> Result<Frontend> {
    let in_file = |e: Error| match path {
        Some(p) => e.in_file(p),
        None => e,
    };
    let imported = import::import(model, path, options)?;
    optimize_imported(imported, options).map_err(in_file)
}

fn optimize_imported(mut imported: Graph, options: &Options) -> Result<Frontend> {
    passes::shape_inference::run(&mut imported, options)?;
    let (optimized, reports) = optimize(imported.clone(), options)?;
    Ok(Frontend { imported, optimized, reports })
}
