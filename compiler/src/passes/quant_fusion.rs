//! QDQ models to integer operations. A quantised model in QDQ form spells every integer
//! operation as float arithmetic between DequantizeLinear and QuantizeLinear nodes:
//! `Q(act(Conv(DQ(x), DQ(w), DQ(b))))`. This pass turns each such group into the integer op it
//! stands for (the same groups, with the same integer semantics, as ONNX Runtime's QDQ
//! transformer forms), reading the quantised tensors directly:
//!
//! | pattern (each float node read only inside the group) | becomes |
//! |---|---|
//! | `Q(act?(Conv(DQ x, DQ w, DQ b?)))` | `QConv`, the Relu or Clip as an integer clamp |
//! | `Q(act?(Gemm(DQ a, DQ b, DQ c?)))`, `Q(act?(MatMul(DQ a, DQ b)))` | `QGemm` |
//! | `Q(act?(Add(DQ a, DQ b)))`, `Q(act?(Mul(DQ a, DQ b)))` | `QBinary` |
//! | `Q(GlobalAveragePool(DQ x))`, `Q(AveragePool(DQ x))` | `QPool` |
//! | `Q(f(...(DQ x)))`, elementwise activations only | `QLookup`: a table of 256 results |
//! | `Q(view(DQ x))`, the same parameters on both sides | the view on the integers |
//! | `Q(DQ x)` | `x`, or a table when the parameters differ |
//!
//! What matches no pattern stays float, with its DequantizeLinear and QuantizeLinear as
//! conversions; DequantizeLinear of constants left over is folded into float constants.

use super::PassReport;
use crate::error::Result;
use crate::ir::quant::{QBinary, QBinaryKind, QConv, QGemm, QLookup, QPool, Quant, clamp_of};
use crate::ir::{Activation, BinaryOp, DType, Graph, NodeId, Op, PoolKind, Tensor};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("quant_fusion");
    for q in g.topo_order()? {
        let Op::Quantize(yq) = g.op(q) else { continue };
        if yq.single().is_none() {
            continue;
        }
        let yq = yq.clone();
        let Some(src) = g.operand(q, 0) else { continue };
        if let Some((op, mut operands, kind, consumed, bias)) = fuse(g, src, &yq)? {
            if let Some((slot, t)) = bias {
                let name = format!("{}_bias", g.node(q).name);
                operands[slot] = g.add_constant(t, name, vec![]);
            }
            let mut origin = g.node(q).origin.clone();
            for &c in consumed.iter().rev() {
                origin.splice(0..0, g.node(c).origin.iter().cloned());
            }
            origin.dedup();
            let node = g.node_mut(q);
            node.op = op;
            node.origin = origin;
            g.set_operands(q, &operands);
            report.fused(kind);
        }
    }
    report.changed("removed", g.remove_dead());
    report.changed("dequantized_constants", fold_dequantized_constants(g)?);
    Ok(report)
}

/// `n`'s value is read by one node only (and is no graph output).
fn private(g: &Graph, n: NodeId) -> bool {
    g.has_single_use(n) && !g.is_output(n)
}

/// A DequantizeLinear with per-tensor u8/i8 parameters: its input and parameters.
fn dq(g: &Graph, n: NodeId) -> Option<(NodeId, Quant)> {
    match g.op(n) {
        Op::Dequantize(p) if matches!(p.dtype, DType::U8 | DType::I8) && p.single().is_some() => {
            Some((g.operand(n, 0)?, Quant { axis: None, ..p.clone() }))
        }
        _ => None,
    }
}

/// A DequantizeLinear of a constant: the constant and its parameters (per tensor or per axis).
fn dq_constant(g: &Graph, n: NodeId) -> Option<(NodeId, Quant)> {
    match g.op(n) {
        Op::Dequantize(p) => {
            let c = g.operand(n, 0)?;
            g.constant(c)?;
            Some((c, p.clone()))
        }
        _ => None,
    }
}

/// A float clamp that a quantised result can take as integer bounds.
fn clamp_act(a: &Activation) -> Option<(f32, f32)> {
    match *a {
        Activation::Relu => Some((0.0, f32::INFINITY)),
        Activation::Clip { min, max } if !min.is_nan() && !max.is_nan() => Some((min, max)),
        _ => None,
    }
}

/// What a group rooted at the QuantizeLinear's operand `src` becomes: the op, its operands, the
/// fusion's name for the report, and the float nodes it consumed (for the origin).
/// A bias that had to be restated in the product's units replaces the operand at its slot.
type Fused = (Op, Vec<NodeId>, &'static str, Vec<NodeId>, Option<(usize, Tensor)>);

fn fuse(g: &Graph, src: NodeId, yq: &Quant) -> Result<Option<Fused>> {
    // An optional Relu or Clip, read by the QuantizeLinear alone.
    let (core, clamp, act_node) = match g.op(src) {
        Op::Activation(a) if private(g, src) => match (clamp_act(a), g.operand(src, 0)) {
            (Some((lo, hi)), Some(core)) => (core, clamp_of(lo, hi, yq), Some(src)),
            _ => (src, yq.range(), None),
        },
        _ => (src, yq.range(), None),
    };
    let consumed = |more: &[NodeId]| -> Vec<NodeId> {
        let mut v: Vec<NodeId> = more.to_vec();
        v.extend(act_node);
        v
    };
    if private(g, core) {
        match g.op(core) {
            Op::Conv(c) if !c.has_residual && c.act.is_none() => {
                let ops = g.operands(core);
                let (Some((x, xq)), Some((w, wq))) = (dq(g, ops[0]), dq_constant(g, ops[1])) else {
                    return Ok(None);
                };
                if !matches!(wq.dtype, DType::U8 | DType::I8) {
                    return Ok(None);
                }
                let mut operands = vec![x, w];
                let mut restated = None;
                if let Some(slot) = c.bias_slot() {
                    let Some((b, bq)) = dq_constant(g, ops[slot]) else { return Ok(None) };
                    let m = g.shape(w)?[0];
                    match bias_in_units(g, b, &bq, &xq, &wq, m) {
                        Bias::Matches => {}
                        Bias::Restated(t) => restated = Some((2, t)),
                        Bias::Unusable => return Ok(None),
                    }
                    operands.push(b);
                }
                let op = QConv {
                    window: c.window,
                    group: c.group,
                    has_bias: c.has_bias,
                    x: xq,
                    w: wq,
                    y: yq.clone(),
                    clamp,
                };
                return Ok(Some((Op::QConv(op), operands, "conv", consumed(&[core]), restated)));
            }
            Op::Gemm(gm) if gm.alpha == 1.0 && (!gm.has_c || gm.beta == 1.0) && gm.act.is_none() => {
                let ops = g.operands(core);
                let (Some((a, aq)), Some((b, bq))) = (dq(g, ops[0]), dq_constant(g, ops[1])) else {
                    return Ok(None);
                };
                if !matches!(bq.dtype, DType::U8 | DType::I8) || !columns(&bq, g.shape(b)?, gm.trans_b) {
                    return Ok(None);
                }
                let mut operands = vec![a, b];
                let mut restated = None;
                if gm.has_c {
                    let Some((c, cq)) = dq_constant(g, ops[2]) else { return Ok(None) };
                    let n = g.shape(b)?[if gm.trans_b { 0 } else { 1 }];
                    if g.shape(c)? != [n] {
                        return Ok(None);
                    }
                    match bias_in_units(g, c, &cq, &aq, &bq, n) {
                        Bias::Matches => {}
                        Bias::Restated(t) => restated = Some((2, t)),
                        Bias::Unusable => return Ok(None),
                    }
                    operands.push(c);
                }
                let op = QGemm {
                    trans_a: gm.trans_a,
                    trans_b: gm.trans_b,
                    has_c: gm.has_c,
                    a: aq,
                    b: bq,
                    y: yq.clone(),
                    clamp,
                };
                return Ok(Some((Op::QGemm(op), operands, "gemm", consumed(&[core]), restated)));
            }
            Op::MatMul => {
                let ops = g.operands(core);
                let (Some((a, aq)), Some((b, bq))) = (dq(g, ops[0]), dq_constant(g, ops[1])) else {
                    return Ok(None);
                };
                if g.shape(a)?.len() != 2 || g.shape(b)?.len() != 2 || !columns(&bq, g.shape(b)?, false) {
                    return Ok(None);
                }
                if !matches!(bq.dtype, DType::U8 | DType::I8) {
                    return Ok(None);
                }
                let op = QGemm { trans_a: false, trans_b: false, has_c: false, a: aq, b: bq, y: yq.clone(), clamp };
                return Ok(Some((Op::QGemm(op), vec![a, b], "matmul", consumed(&[core]), None)));
            }
            Op::Binary(kind @ (BinaryOp::Add | BinaryOp::Mul)) => {
                let ops = g.operands(core);
                let (Some((a, aq)), Some((b, bq))) = (dq(g, ops[0]), dq(g, ops[1])) else { return Ok(None) };
                let kind = if *kind == BinaryOp::Add { QBinaryKind::Add } else { QBinaryKind::Mul };
                let op = QBinary { kind, a: aq, b: bq, y: yq.clone(), clamp };
                let name = if kind == QBinaryKind::Add { "add" } else { "mul" };
                return Ok(Some((Op::QBinary(op), vec![a, b], name, consumed(&[core]), None)));
            }
            _ => {}
        }
    }
    if act_node.is_some() {
        // Only the ops above take a clamp; otherwise the activation belongs to a table.
        return lookup_chain(g, src, yq);
    }
    if !private(g, core) {
        return Ok(None);
    }
    match g.op(core) {
        Op::GlobalAveragePool | Op::Pool(_) => {
            let pool = match g.op(core) {
                Op::Pool(p) if p.kind == PoolKind::Average => Some(p.clone()),
                Op::Pool(_) => return Ok(None),
                _ => None,
            };
            let Some((x, xq)) = g.operand(core, 0).and_then(|o| dq(g, o)) else { return Ok(None) };
            if g.shape(x)?.len() != 4 {
                return Ok(None);
            }
            let op = QPool { pool, x: xq, y: yq.clone() };
            Ok(Some((Op::QPool(op), vec![x], "average_pool", vec![core], None)))
        }
        Op::View { .. }
        | Op::Transpose { .. }
        | Op::Flatten { .. }
        | Op::Squeeze { .. }
        | Op::Unsqueeze { .. }
        | Op::Identity { .. } => {
            let Some((x, xq)) = g.operand(core, 0).and_then(|o| dq(g, o)) else { return Ok(None) };
            if xq != *yq {
                return Ok(None);
            }
            Ok(Some((g.op(core).clone(), vec![x], "layout", vec![core], None)))
        }
        Op::Activation(_) => lookup_chain(g, src, yq),
        Op::Dequantize(_) => {
            let Some((x, xq)) = dq(g, core) else { return Ok(None) };
            if xq == *yq {
                return Ok(Some((Op::Identity { dropout: false }, vec![x], "requantize", vec![core], None)));
            }
            let table = QLookup::of("Requantize", &xq, yq, |v| v);
            Ok(Some((Op::QLookup(table), vec![x], "requantize", vec![core], None)))
        }
        _ => Ok(None),
    }
}

/// `Q(f_n(...f_1(DQ x)))` with elementwise activations `f_i`, each read by the next alone: a
/// table of `Q(f_n(...f_1(dequantize(q))))` for every `q`.
fn lookup_chain(g: &Graph, src: NodeId, yq: &Quant) -> Result<Option<Fused>> {
    let mut chain = Vec::new();
    let mut n = src;
    while let Op::Activation(a) = g.op(n) {
        if !private(g, n) {
            return Ok(None);
        }
        chain.push(*a);
        match g.operand(n, 0) {
            Some(o) => n = o,
            None => return Ok(None),
        }
    }
    let Some((x, xq)) = dq(g, n) else { return Ok(None) };
    if chain.is_empty() {
        return Ok(None);
    }
    chain.reverse();
    let name: Vec<&str> = chain.iter().map(|a| g_op_name(a)).collect();
    let table = QLookup::of(name.join("+"), &xq, yq, |v| chain.iter().fold(v, |v, a| a.apply(v)));
    let mut consumed = Vec::new();
    let mut m = src;
    while let Op::Activation(_) = g.op(m) {
        consumed.push(m);
        m = g.operand(m, 0).unwrap_or(m);
    }
    Ok(Some((Op::QLookup(table), vec![x], "lookup", consumed, None)))
}

fn g_op_name(a: &Activation) -> &'static str {
    Op::Activation(*a).name()
}

/// Per-column (or per-tensor) parameters of a matrix whose columns are the product's outputs.
fn columns(q: &Quant, shape: &[usize], trans_b: bool) -> bool {
    match q.axis {
        None => true,
        Some(axis) => {
            let col = if trans_b { 0 } else { 1 };
            (axis == col as i64 || axis == col as i64 - 2) && q.scale.len() == shape[col]
        }
    }
}

enum Bias {
    /// In the product's units already.
    Matches,
    /// Restated in the product's units.
    Restated(Tensor),
    /// Not an int32 bias the integer product can add.
    Unusable,
}

/// The integer product adds an int32 bias in units of `x_scale * w_scale[m]`. Quantisers write
/// it so; a bias shared with another layer (torch exports equal biases once) is on that
/// layer's scale and is restated here, rounded to the nearest unit.
fn bias_in_units(g: &Graph, b: NodeId, bq: &Quant, xq: &Quant, wq: &Quant, m: usize) -> Bias {
    let Some(values) = g.constant(b).and_then(Tensor::as_i64) else { return Bias::Unusable };
    if bq.dtype != DType::I32 || bq.zero_point.iter().any(|&z| z != 0) || values.len() != m {
        return Bias::Unusable;
    }
    let unit = |i: usize| xq.scale[0] * wq.scale_at(i);
    if (0..m).all(|i| (bq.scale_at(i) - unit(i)).abs() <= 1e-6 * unit(i)) {
        return Bias::Matches;
    }
    let restated: Option<Vec<i64>> = (0..m)
        .map(|i| {
            let v = (values[i] as f64 * bq.scale_at(i) as f64 / unit(i) as f64).round_ties_even();
            (v.abs() <= (1u64 << 30) as f64).then_some(v as i64)
        })
        .collect();
    match restated {
        Some(v) => Bias::Restated(Tensor::int(DType::I32, vec![m], v)),
        None => Bias::Unusable,
    }
}

/// DequantizeLinear of constants that fed no integer op become float constants.
fn fold_dequantized_constants(g: &mut Graph) -> Result<usize> {
    let mut folded = 0;
    for n in g.topo_order()? {
        let Op::Dequantize(p) = g.op(n) else { continue };
        let Some(c) = g.operand(n, 0) else { continue };
        let Some(t) = g.constant(c) else { continue };
        let ty = g.ty(n)?.clone();
        let value = crate::interp::quant::dequantize(p, t, &ty).map_err(|e| e.at_node(&g.context(n)))?;
        g.node_mut(n).op = Op::Constant(value);
        g.set_operands(n, &[]);
        if g.users(c).is_empty() && !g.is_output(c) {
            g.remove(c);
        }
        folded += 1;
    }
    Ok(folded)
}
