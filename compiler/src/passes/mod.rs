//! Graph -> graph rewrites, each in its own module, each returning a report of what it changed.
//!
//! `optimize` runs the pipeline and, in debug builds or when asked, verifies the graph after
//! every pass. An observer sees the graph after each pass; the tests use it to run the reference
//! interpreter and check that no pass changes the model's output.

mod activation_fusion;
mod affine_fold;
mod batchnorm_fold;
mod block_grouping;
mod constant_folding;
mod dead_code;
mod identity_removal;
mod pad_fold;
mod quant_fusion;
mod residual_fusion;
pub mod shape_inference;
mod simplify;
mod transpose_cancel;

use std::collections::BTreeMap;

use crate::error::{Error, Result};
use crate::ir::{DType, Graph, NodeId, Op, Tensor, verify};
use crate::options::Options;

/// What one pass did. `fusions` count ops merged into a consumer or producer (reported by
/// `mobilenetc stats`); `changes` count other rewrites.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PassReport {
    /// The pass name.
    pub pass: &'static str,
    /// Fusions, by kind.
    pub fusions: BTreeMap<String, usize>,
    /// Other rewrites, by kind.
    pub changes: BTreeMap<String, usize>,
}

impl PassReport {
    /// An empty report for `pass`.
    pub fn new(pass: &'static str) -> Self {
        PassReport { pass, ..Default::default() }
    }
    /// Counts one fusion of `kind`.
    pub fn fused(&mut self, kind: impl Into<String>) {
        *self.fusions.entry(kind.into()).or_default() += 1;
    }
    /// Counts `n` rewrites of `kind`.
    pub fn changed(&mut self, kind: impl Into<String>, n: usize) {
        if n > 0 {
            *self.changes.entry(kind.into()).or_default() += n;
        }
    }
    /// Whether the pass changed nothing.
    pub fn is_empty(&self) -> bool {
        self.fusions.is_empty() && self.changes.is_empty()
    }
}

impl std::fmt::Display for PassReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:", self.pass)?;
        if self.is_empty() {
            return write!(f, " no change");
        }
        for (k, v) in self.fusions.iter().chain(&self.changes) {
            write!(f, " {k}={v}")?;
        }
        Ok(())
    }
}

/// A pass: rewrites the graph in place and reports what it did.
pub type PassFn = fn(&mut Graph, &Options) -> Result<PassReport>;

/// The optimisation pipeline, in order. Shape inference comes first: every later pass (and the
/// interpreter) relies on static types.
pub const PIPELINE: &[PassFn] = &[
    shape_inference::run,
    constant_folding::run,
    simplify::run,
    identity_removal::run,
    dead_code::run,
    quant_fusion::run,
    transpose_cancel::run,
    batchnorm_fold::run,
    affine_fold::run,
    activation_fusion::run,
    pad_fold::run,
    residual_fusion::run,
    // Again, for activations that follow a residual Add (act(conv + residual)).
    activation_fusion::run,
    dead_code::run,
    block_grouping::run,
];

/// Runs every pass. `observer` sees the graph after each one (and may fail the run).
pub fn optimize(
    g: &mut Graph,
    options: &Options,
    verify_each: bool,
    observer: &mut dyn FnMut(&Graph, &PassReport) -> Result<()>,
) -> Result<Vec<PassReport>> {
    let mut reports = Vec::with_capacity(PIPELINE.len());
    for pass in PIPELINE {
        let report = pass(g, options)?;
        if verify_each || cfg!(debug_assertions) {
            verify::verify(g, true)
                .map_err(|e| Error::internal(format!("the IR is invalid after pass '{}': {e}", report.pass)))?;
        }
        observer(g, &report)?;
        reports.push(report);
    }
    Ok(reports)
}

/// Sum of the fusions of several reports, by kind.
pub fn total_fusions(reports: &[PassReport]) -> BTreeMap<String, usize> {
    let mut total = BTreeMap::new();
    for r in reports {
        for (k, v) in &r.fusions {
            *total.entry(k.clone()).or_default() += v;
        }
    }
    total
}

// ---- helpers shared by the rewrites ----

/// The constant at `slot` of `user`, made private to `user` first when other nodes share it,
/// so that a rewrite can change it in place.
pub(crate) fn private_constant(g: &mut Graph, user: NodeId, slot: usize) -> Result<&mut Tensor> {
    let c = g
        .operand(user, slot)
        .filter(|&c| g.constant(c).is_some())
        .ok_or_else(|| Error::internal(format!("operand {slot} is not a constant")).at_node(&g.context(user)))?;
    let c = if g.has_single_use(c) {
        c
    } else {
        let node = g.node(c).clone();
        let copy = g.add(node.op, node.name, node.origin, &[]);
        g.node_mut(copy).ty = node.ty;
        let mut operands = g.operands(user);
        operands[slot] = copy;
        g.set_operands(user, &operands);
        copy
    };
    match &mut g.node_mut(c).op {
        Op::Constant(t) => Ok(t),
        _ => unreachable!("checked to be a constant above"),
    }
}

/// Replaces `node` by `replacement` for all its users, then removes it. The replacement
/// inherits the ONNX origin names of the removed node.
pub(crate) fn bypass(g: &mut Graph, node: NodeId, replacement: NodeId) {
    let origin = g.node(node).origin.clone();
    g.replace_uses(node, replacement);
    g.node_mut(replacement).origin.extend(origin);
    g.remove(node);
}

/// The per-channel values of a constant that broadcasts along axis 1 of a rank-4 (or rank-2)
/// tensor with `channels` channels: shapes [], [1], [C,1,1], [1,C,1,1], [1,C], ...
pub(crate) fn per_channel(t: &Tensor, channels: usize, rank: usize) -> Option<Vec<f32>> {
    let v = t.as_f32()?;
    if t.shape.len() > rank {
        return None;
    }
    let padded: Vec<usize> = std::iter::repeat_n(1, rank - t.shape.len()).chain(t.shape.iter().copied()).collect();
    let ok = padded.iter().enumerate().all(|(a, &d)| d == 1 || (a == 1 && d == channels));
    if !ok {
        return None;
    }
    Some(if v.len() == 1 { vec![v[0]; channels] } else { v.to_vec() })
}

/// The single value of a scalar-like constant operand.
pub(crate) fn scalar_operand(g: &Graph, n: NodeId) -> Option<f32> {
    g.constant(n).filter(|t| t.dtype == DType::F32).and_then(Tensor::scalar_value)
}
