//! Per-channel Mul and Add folded into the Conv (or Gemm) that produces their input, as Keras
//! exports leave BatchNormalization (Conv -> Mul -> Add) and Paddle leaves biases
//! (Conv -> Add(Reshape(bias)), MatMul -> Add).

use super::batchnorm_fold::{add_to_bias, fold_stays_finite, foldable_conv, scale_conv};
use super::{PassReport, bypass, per_channel, private_constant};

use crate::error::Result;
use crate::ir::{BinaryOp, DType, Graph, NodeId, Op, Tensor};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("affine_fold");
    for n in g.topo_order()? {
        let Op::Binary(op @ (BinaryOp::Mul | BinaryOp::Add)) = *g.op(n) else { continue };
        let operands = g.operands(n);
        // The constant may be either operand.
        let (x, c) =
            if g.constant(operands[1]).is_some() { (operands[0], operands[1]) } else { (operands[1], operands[0]) };
        let Some(constant) = g.constant(c).filter(|t| t.dtype == DType::F32).cloned() else { continue };
        // The result must keep the producer's shape (the constant only broadcasts into it).
        if g.ty(n)? != g.ty(x)? {
            continue;
        }
        if foldable_conv(g, x) {
            let channels = g.shape(x)?[1];
            let Some(v) = per_channel(&constant, channels, 4) else { continue };
            let zeros = vec![0.0; channels];
            let (scale, shift) = if op == BinaryOp::Mul { (&v, &zeros) } else { (&vec![1.0; channels], &v) };
            if !fold_stays_finite(g, x, scale, shift) {
                continue;
            }
            match op {
                BinaryOp::Mul => scale_conv(g, x, &v, &vec![0.0; channels])?,
                _ => add_to_bias(g, x, |m, b| b + v[m], channels)?,
            }
            bypass(g, n, x);
            report.fused(if op == BinaryOp::Mul { "mul->conv" } else { "add->conv" });
        } else if op == BinaryOp::Add && foldable_gemm(g, x) {
            let cols = g.shape(x)?[1];
            let Some(v) = column_values(&constant, cols) else { continue };
            if !add_gemm_bias(g, x, v)? {
                continue;
            }
            bypass(g, n, x);
            report.fused("add->gemm");
        }
    }
    report.changed("removed", g.remove_dead());
    Ok(report)
}

/// A constant broadcasting along the columns of an [m, n] result: [], [1], [n], [1, n].
fn column_values(t: &Tensor, cols: usize) -> Option<Vec<f32>> {
    let v = t.as_f32()?;
    let fits = t.shape.len() <= 2
        && t.shape.iter().rev().skip(1).all(|&d| d == 1)
        && (v.len() == 1 || t.shape.last() == Some(&cols));
    match fits {
        false => None,
        true if v.len() == 1 => Some(vec![v[0]; cols]),
        true => Some(v.to_vec()),
    }
}

fn foldable_gemm(g: &Graph, x: NodeId) -> bool {
    let Op::Gemm(gm) = g.op(x) else { return false };
    gm.act.is_none()
        && g.has_single_use(x)
        && (!gm.has_c || gm.beta != 0.0)
        && (!gm.has_c
            || g.operand(x, 2).is_some_and(|c| g.constant(c).is_some_and(|t| t.shape.len() <= 1 || t.shape[0] == 1)))
}

/// Adds `v` (one value per column) to the Gemm's C, creating C = v when it has none; false
/// (and nothing changed) when that would not be finite.
fn add_gemm_bias(g: &mut Graph, gemm: NodeId, v: Vec<f32>) -> Result<bool> {
    let Op::Gemm(gm) = g.op(gemm).clone() else { return Ok(false) };
    if !v.iter().all(|x| x.is_finite()) {
        return Ok(false);
    }
    if !gm.has_c {
        let name = format!("{}_bias", g.node(gemm).name);
        let c = g.add_constant(Tensor::f32(vec![v.len()], v), name, vec![]);
        let mut operands = g.operands(gemm);
        operands.push(c);
        g.set_operands(gemm, &operands);
        if let Op::Gemm(gm) = &mut g.node_mut(gemm).op {
            gm.has_c = true;
            gm.beta = 1.0;
        }
        return Ok(true);
    }
    // y = alpha*AB + beta*C + v  ==  alpha*AB + beta*(C + v/beta); C is [n], [1, n] or scalar.
    let cols = v.len();
    let Some(old) = g.operand(gemm, 2).and_then(|c| g.constant(c)).and_then(|t| t.as_f32()) else { return Ok(false) };
    let merged: Vec<f32> = (0..cols).map(|j| old[if old.len() == 1 { 0 } else { j }] + v[j] / gm.beta).collect();
    if !merged.iter().all(|m| (m * gm.beta).is_finite()) {
        return Ok(false);
    }
    let c = private_constant(g, gemm, 2)?;
    *c = Tensor::f32(vec![cols], merged);
    let ty = c.type_of();
    if let Some(cn) = g.operand(gemm, 2) {
        g.node_mut(cn).ty = Some(ty);
    }
    Ok(true)
}
