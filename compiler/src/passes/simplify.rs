//! Canonical forms, so that later passes match one spelling of each thing:
//! - Reshape/Flatten/Squeeze/Unsqueeze (and Transposes that only move size-1 axes) become View,
//!   and a View of a View reads the original tensor;
//! - Sub by a constant becomes Add, and Div by a constant whose reciprocal is exact a Mul;
//! - Max/Min with a scalar constant become Clip (Relu when the bounds are [0, inf));
//! - MatMul of a 2-D input by a constant 2-D matrix becomes Gemm.

use super::{PassReport, scalar_operand};
use crate::error::Result;
use crate::ir::{Activation, BinaryOp, DType, Data, Gemm, Graph, NodeId, Op, Tensor};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("simplify");
    for n in g.topo_order()? {
        let operands = g.operands(n);
        let shape = g.ty(n)?.shape.clone();
        let new_op = match g.op(n) {
            Op::Reshape { .. } | Op::Flatten { .. } | Op::Squeeze { .. } | Op::Unsqueeze { .. } => {
                report.changed("view", 1);
                g.set_operands(n, &operands[..1]);
                Op::View { shape }
            }
            Op::Transpose { perm } if moves_only_unit_axes(perm, g.shape(operands[0])?) => {
                report.changed("view", 1);
                Op::View { shape }
            }
            Op::Binary(op @ (BinaryOp::Sub | BinaryOp::Div)) => {
                let op = *op;
                let Some(c) = g.constant(operands[1]).filter(|t| t.dtype == DType::F32) else { continue };
                // x / c is x * (1/c) bit for bit only when 1/c is exact (c a power of two, 0,
                // inf or NaN); otherwise the division stays (x / 1e-40 is finite, x * inf not).
                if op == BinaryOp::Div && !c.as_f32().unwrap_or_default().iter().all(|&v| exact_reciprocal(v)) {
                    continue;
                }
                let inverted = invert(c, op);
                let name =
                    format!("{}_{}", g.node(operands[1]).name, if op == BinaryOp::Sub { "neg" } else { "recip" });
                let k = g.add_constant(inverted, name, vec![]);
                g.set_operands(n, &[operands[0], k]);
                report.changed(if op == BinaryOp::Sub { "sub->add" } else { "div->mul" }, 1);
                Op::Binary(if op == BinaryOp::Sub { BinaryOp::Add } else { BinaryOp::Mul })
            }
            Op::Binary(op @ (BinaryOp::Max | BinaryOp::Min)) => {
                let op = *op;
                let (x, bound) = match (scalar_operand(g, operands[0]), scalar_operand(g, operands[1])) {
                    (_, Some(b)) => (operands[0], b),
                    (Some(b), None) => (operands[1], b),
                    _ => continue,
                };
                // Only when the result keeps the shape of x (no broadcast by the constant), and
                // for a number: Max(x, NaN) is NaN, where a NaN Clip bound is no bound.
                if g.shape(x)? != shape.as_slice() || bound.is_nan() {
                    continue;
                }
                g.set_operands(n, &[x]);
                report.changed("max/min->clip", 1);
                let act = if op == BinaryOp::Max {
                    Activation::Clip { min: bound, max: f32::INFINITY }
                } else {
                    Activation::Clip { min: f32::NEG_INFINITY, max: bound }
                };
                Op::Activation(canonical_clip(act))
            }
            Op::Activation(a @ Activation::Clip { .. }) if canonical_clip(*a) != *a => {
                report.changed("clip->relu", 1);
                Op::Activation(canonical_clip(*a))
            }
            Op::MatMul => {
                let (a, b) = (operands[0], operands[1]);
                if g.shape(a)?.len() != 2 || g.constant(b).is_none_or(|t| t.shape.len() != 2) {
                    continue;
                }
                report.changed("matmul->gemm", 1);
                Op::Gemm(Gemm { alpha: 1.0, beta: 1.0, trans_a: false, trans_b: false, has_c: false, act: None })
            }
            _ => continue,
        };
        set_op(g, n, new_op);
        // A view of a view reads the original tensor directly.
        if let (Op::View { .. }, Some(src)) = (g.op(n), g.operand(n, 0))
            && let (Op::View { .. }, Some(base)) = (g.op(src), g.operand(src, 0))
        {
            g.set_operands(n, &[base]);
            report.changed("view+view", 1);
        }
    }
    report.changed("removed", g.remove_dead());
    Ok(report)
}

fn set_op(g: &mut Graph, n: NodeId, op: Op) {
    g.node_mut(n).op = op;
}

/// Clip to [0, inf) is Relu.
pub(crate) fn canonical_clip(a: Activation) -> Activation {
    match a {
        Activation::Clip { min, max } if min == 0.0 && max == f32::INFINITY => Activation::Relu,
        other => other,
    }
}

/// `1/c` is exact, so that `x * (1/c)` rounds as `x / c` does for every x.
fn exact_reciprocal(c: f32) -> bool {
    let r = 1.0 / c;
    c.is_nan() || c == 0.0 || c.is_infinite() || r as f64 == 1.0 / c as f64
}

/// -c for Sub, 1/c for Div.
fn invert(c: &Tensor, op: BinaryOp) -> Tensor {
    let v = c.as_f32().unwrap_or_default();
    let data: Vec<f32> = v.iter().map(|&x| if op == BinaryOp::Sub { -x } else { 1.0 / x }).collect();
    Tensor { dtype: c.dtype, shape: c.shape.clone(), data: Data::F32(data.into()) }
}

/// True when `perm` keeps the relative order of every axis larger than 1.
fn moves_only_unit_axes(perm: &[usize], shape: &[usize]) -> bool {
    let big: Vec<usize> = perm.iter().copied().filter(|&p| shape[p] != 1).collect();
    big.windows(2).all(|w| w[0] < w[1])
}
