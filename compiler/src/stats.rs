//! Model statistics: parameters, multiply-accumulates per layer, weight bytes, node counts and
//! the fusions the passes applied (what `mobilenetc stats` prints).

use std::collections::BTreeMap;

use crate::Frontend;
use crate::error::Result;
use crate::ir::{DType, Graph, NodeId, Op};
use crate::passes::total_fusions;

/// One Conv or Gemm layer of the optimised graph.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Layer {
    /// The ONNX node name.
    pub name: String,
    /// The IR op (with fusions, e.g. `Conv+relu6`).
    pub op: String,
    /// Output shape.
    pub output: Vec<usize>,
    /// Multiply-accumulates.
    pub macs: u64,
    /// Weights.
    pub params: u64,
}

#[derive(Clone, Debug, serde::Serialize)]
/// What `mobilenetc stats` prints: size, cost, fusions, memory.
pub struct Stats {
    /// Weights the compiled model carries, after folding (f32 values).
    pub params: u64,
    /// Multiply-accumulates of one inference at the compiled batch size.
    pub macs: u64,
    /// Bytes of those weights, as the model stores them (f32 and int32: 4, int8 and uint8: 1).
    pub weights_bytes: u64,
    /// The same, by element type (`f32`, `i32`, `i8`, `u8`, ...).
    pub weights_bytes_by_type: BTreeMap<String, u64>,
    /// Operations (not counting inputs and constants) as imported.
    pub nodes_imported: usize,
    /// Operations after optimisation.
    pub nodes_optimized: usize,
    /// Bytes of the planned arena (intermediate activations: f32, or one byte per element of
    /// an 8-bit tensor), when the model lowers to
    /// code; `None` with `lowering_error` otherwise.
    pub arena_bytes: Option<u64>,
    /// What one buffer per intermediate tensor would take.
    pub naive_arena_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    /// Why the model does not lower to code, when it does not.
    pub lowering_error: Option<String>,
    /// Fusions applied, by kind.
    pub fusions: BTreeMap<String, usize>,
    /// Operations left after optimisation, by op.
    pub ops_optimized: BTreeMap<String, usize>,
    /// Every Conv and Gemm layer, in order.
    pub layers: Vec<Layer>,
}

fn macs_of(g: &Graph, n: NodeId) -> Result<u64> {
    let out: u64 = g.ty(n)?.elements() as u64;
    Ok(match g.op(n) {
        Op::Conv(c) => {
            let w = g.shape(g.operand(n, 1).unwrap_or(n))?;
            out * (w[1] * c.window.kernel[0] * c.window.kernel[1]) as u64
        }
        Op::Gemm(gm) => {
            let a = g.shape(g.operand(n, 0).unwrap_or(n))?;
            out * if gm.trans_a { a[0] } else { a[1] } as u64
        }
        Op::MatMul => {
            let a = g.shape(g.operand(n, 0).unwrap_or(n))?;
            out * *a.last().unwrap_or(&1) as u64
        }
        Op::QConv(c) => {
            let w = g.shape(g.operand(n, 1).unwrap_or(n))?;
            out * (w[1] * c.window.kernel[0] * c.window.kernel[1]) as u64
        }
        Op::QGemm(q) => {
            let a = g.shape(g.operand(n, 0).unwrap_or(n))?;
            out * if q.trans_a { a[0] } else { a[1] } as u64
        }
        _ => 0,
    })
}

/// Statistics of an optimised model.
pub fn compute(fe: &Frontend) -> Result<Stats> {
    let g = &fe.optimized;
    let planned = crate::lower::lower(g, 1).and_then(|mut p| crate::plan::plan(&mut p));
    let (arena_bytes, naive_arena_bytes, lowering_error) = match planned {
        Ok(plan) => (Some(plan.arena_bytes() as u64), Some(plan.naive_bytes() as u64), None),
        Err(e) => (None, None, Some(e.to_string())),
    };
    let mut params = 0u64;
    let mut weights_bytes_by_type = BTreeMap::<String, u64>::new();
    for n in g.dag.node_indices() {
        if let Some(t) = g.constant(n) {
            params += t.len() as u64;
            let size = match t.dtype {
                DType::I8 | DType::U8 | DType::Bool => 1,
                DType::I16 | DType::U16 => 2,
                DType::I64 | DType::U64 => 8,
                _ => 4,
            };
            *weights_bytes_by_type.entry(t.dtype.name().to_string()).or_default() += size * t.len() as u64;
        }
    }
    let weights_bytes = weights_bytes_by_type.values().sum();
    let mut layers = Vec::new();
    let mut macs = 0;
    let mut ops_optimized = BTreeMap::new();
    for n in g.topo_order()? {
        let op = g.op(n);
        if matches!(op, Op::Input { .. } | Op::Constant(_)) {
            continue;
        }
        *ops_optimized.entry(op.name().to_string()).or_default() += 1;
        let m = macs_of(g, n)?;
        if matches!(op, Op::Conv(_) | Op::Gemm(_) | Op::MatMul | Op::QConv(_) | Op::QGemm(_)) {
            let p: u64 = g.operands(n).iter().filter_map(|&o| g.constant(o)).map(|t| t.len() as u64).sum();
            let node = g.node(n);
            layers.push(Layer {
                name: node.origin.first().cloned().unwrap_or_else(|| node.name.clone()),
                op: op.to_string(),
                output: g.shape(n)?.to_vec(),
                macs: m,
                params: p,
            });
        }
        macs += m;
    }
    Ok(Stats {
        arena_bytes,
        naive_arena_bytes,
        lowering_error,
        params,
        macs,
        weights_bytes,
        weights_bytes_by_type,
        nodes_imported: fe.imported.op_count(),
        nodes_optimized: g.op_count(),
        fusions: total_fusions(&fe.reports),
        ops_optimized,
        layers,
    })
}

/// Human-readable rendering.
pub fn to_text(s: &Stats) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(out, "params          {:>14}", group_digits(s.params));
    let _ = writeln!(out, "weights_bytes   {:>14}", group_digits(s.weights_bytes));
    if s.weights_bytes_by_type.len() > 1 {
        for (t, b) in &s.weights_bytes_by_type {
            let _ = writeln!(out, "  {t:<13} {:>14}", group_digits(*b));
        }
    }
    let _ = writeln!(out, "macs            {:>14}", group_digits(s.macs));
    match (s.arena_bytes, s.naive_arena_bytes) {
        (Some(a), Some(n)) => {
            let _ = writeln!(out, "arena_bytes     {:>14}", group_digits(a));
            let _ = writeln!(out, "naive_arena_bytes {:>12}", group_digits(n));
        }
        _ => {
            let _ = writeln!(
                out,
                "arena_bytes     {:>14}  ({})",
                "-",
                s.lowering_error.as_deref().unwrap_or("not lowered")
            );
        }
    }
    let _ = writeln!(out, "nodes_imported  {:>14}", s.nodes_imported);
    let _ = writeln!(out, "nodes_optimized {:>14}", s.nodes_optimized);
    let _ = writeln!(out, "\nfusions:");
    for (k, v) in &s.fusions {
        let _ = writeln!(out, "  {k:<32} {v:>5}");
    }
    let _ = writeln!(out, "\nops after optimisation:");
    for (k, v) in &s.ops_optimized {
        let _ = writeln!(out, "  {k:<32} {v:>5}");
    }
    let _ = writeln!(out, "\nlayers:");
    let _ = writeln!(out, "  {:>4}  {:>12}  {:>10}  {:<20}  op / onnx node", "#", "macs", "params", "output");
    for (i, l) in s.layers.iter().enumerate() {
        let shape: Vec<String> = l.output.iter().map(|d| d.to_string()).collect();
        let _ = writeln!(
            out,
            "  {i:>4}  {:>12}  {:>10}  {:<20}  {} / {}",
            group_digits(l.macs),
            group_digits(l.params),
            shape.join("x"),
            l.op,
            l.name
        );
    }
    out
}

fn group_digits(v: u64) -> String {
    let s = v.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}
