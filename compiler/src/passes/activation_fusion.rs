//! Activation fusion, in two steps.
//!
//! 1. Recognise the spelled-out forms and replace them by one activation node:
//!    - HardSwish: `x * HardSigmoid(x)` with alpha 1/6, beta 1/2 (torch), and
//!      `x * Clip(x + 3, 0, 6) / 6` (Paddle), with the `/ 6` a division or a `* (1/6)`, applied
//!      to the product or to the Clip;
//!    - Clip after Clip (Relu6 written as Max then Min) merges into one Clip.
//! 2. Fuse an activation into the epilogue of the Conv or Gemm that produces its input, when
//!    nothing else reads the producer's output.

use super::simplify::canonical_clip;
use super::{PassReport, bypass, scalar_operand};
use crate::error::Result;
use crate::ir::{Activation, BinaryOp, Graph, NodeId, Op};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("activation_fusion");
    for n in g.topo_order()? {
        if !g.contains(n) {
            continue;
        }
        if let Some((x, kind)) = hard_swish_pattern(g, n) {
            let origin: Vec<String> =
                spelled_nodes(g, n, x).into_iter().flat_map(|m| g.node(m).origin.clone()).collect();
            g.node_mut(n).op = Op::Activation(Activation::HardSwish);
            g.node_mut(n).origin = origin;
            g.set_operands(n, &[x]);
            report.changed(kind, 1);
        }
    }
    report.changed("removed", g.remove_dead());

    for n in g.topo_order()? {
        if !g.contains(n) {
            continue;
        }
        let Op::Activation(act) = *g.op(n) else { continue };
        let Some(src) = g.operand(n, 0) else { continue };
        if !g.has_single_use(src) {
            continue;
        }
        let (slot, target) = match g.op(src) {
            Op::Conv(c) => (c.act, "conv"),
            Op::Gemm(gm) => (gm.act, "gemm"),
            Op::Activation(prev) => (Some(*prev), "activation"),
            _ => continue,
        };
        let merged = match slot {
            None => act,
            Some(prev) => match compose(prev, act) {
                Some(m) => m,
                None => continue,
            },
        };
        match &mut g.node_mut(src).op {
            Op::Conv(c) => c.act = Some(merged),
            Op::Gemm(gm) => gm.act = Some(merged),
            Op::Activation(a) => *a = merged,
            _ => continue,
        }
        bypass(g, n, src);
        if target == "activation" {
            report.changed("clip+clip", 1);
        } else {
            report.fused(format!("{}->{target}", act.kind()));
        }
    }
    Ok(report)
}

/// `second(first(x))` as one activation, when both are clamps.
fn compose(first: Activation, second: Activation) -> Option<Activation> {
    let bounds = |a: Activation| match a {
        Activation::Relu => Some((0.0, f32::INFINITY)),
        Activation::Clip { min, max } => Some((min, max)),
        _ => None,
    };
    let (lo1, hi1) = bounds(first)?;
    let (lo2, hi2) = bounds(second)?;
    // clamp(clamp(x, lo1, hi1), lo2, hi2) == clamp(x, max(lo1, lo2), min(hi1, hi2)) as long as
    // the intervals overlap; otherwise the result is a constant, which is left alone.
    let (lo, hi) = (lo1.max(lo2), hi1.min(hi2));
    (lo <= hi).then(|| canonical_clip(Activation::Clip { min: lo, max: hi }))
}

fn close(a: f32, b: f32) -> bool {
    (a - b).abs() <= 1e-6 * b.abs().max(1.0)
}

/// If `n` ends a spelled-out HardSwish, returns its input x and the spelling's name.
fn hard_swish_pattern(g: &Graph, n: NodeId) -> Option<(NodeId, &'static str)> {
    if let Op::Binary(BinaryOp::Mul) = g.op(n) {
        let ops = g.operands(n);
        // x * HardSigmoid(x)
        for (x, h) in [(ops[0], ops[1]), (ops[1], ops[0])] {
            if let Op::Activation(Activation::HardSigmoid { alpha, beta }) = *g.op(h)
                && close(alpha, 1.0 / 6.0)
                && close(beta, 0.5)
                && g.operand(h, 0) == Some(x)
                && g.has_single_use(h)
            {
                return Some((x, "x*hardsigmoid(x)->hardswish"));
            }
        }
        // x * (Clip(x + 3, 0, 6) / 6), in either operand order.
        for (x, s) in [(ops[0], ops[1]), (ops[1], ops[0])] {
            if let Some(c) = sixth_of(g, s).filter(|_| g.has_single_use(s))
                && is_relu6_of_x_plus_3(g, c, x)
            {
                return Some((x, "x*clip(x+3,0,6)/6->hardswish"));
            }
        }
    }
    // (x * Clip(x + 3, 0, 6)) / 6
    let m = sixth_of(g, n)?;
    if !g.has_single_use(m) || g.op(m) != &Op::Binary(BinaryOp::Mul) {
        return None;
    }
    let inner = g.operands(m);
    [(inner[0], inner[1]), (inner[1], inner[0])]
        .into_iter()
        .find(|&(x, c)| is_relu6_of_x_plus_3(g, c, x))
        .map(|(x, _)| (x, "x*clip(x+3,0,6)/6->hardswish"))
}

/// `a` when `n` is `a / 6` or `a * (1/6)` (the division stays a division unless 1/6 were
/// exact, see `simplify`).
fn sixth_of(g: &Graph, n: NodeId) -> Option<NodeId> {
    let ops = g.operands(n);
    match g.op(n) {
        Op::Binary(BinaryOp::Div) if scalar_operand(g, ops[1]).is_some_and(|k| close(k, 6.0)) => Some(ops[0]),
        Op::Binary(BinaryOp::Mul) => [(ops[0], ops[1]), (ops[1], ops[0])]
            .into_iter()
            .find(|&(_, k)| scalar_operand(g, k).is_some_and(|k| close(k, 1.0 / 6.0)))
            .map(|(a, _)| a),
        _ => None,
    }
}

/// `c` is `Clip(x + 3, 0, 6)`, read only by the spelling.
fn is_relu6_of_x_plus_3(g: &Graph, c: NodeId, x: NodeId) -> bool {
    let relu6 = Activation::Clip { min: 0.0, max: 6.0 };
    if g.op(c) != &Op::Activation(relu6) || !g.has_single_use(c) {
        return false;
    }
    let Some(a) = g.operand(c, 0) else { return false };
    if g.op(a) != &Op::Binary(BinaryOp::Add) || !g.has_single_use(a) {
        return false;
    }
    let add = g.operands(a);
    let plus3 = |v: NodeId| scalar_operand(g, v).is_some_and(|k| close(k, 3.0));
    (add[0] == x && plus3(add[1])) || (add[1] == x && plus3(add[0]))
}

/// The nodes of a recognised spelling (for the origin of the HardSwish that replaces them).
fn spelled_nodes(g: &Graph, n: NodeId, x: NodeId) -> Vec<NodeId> {
    let mut nodes = vec![];
    let mut stack = vec![n];
    while let Some(m) = stack.pop() {
        if m == x || g.constant(m).is_some() || nodes.contains(&m) {
            continue;
        }
        nodes.push(m);
        stack.extend(g.operands(m));
    }
    nodes.sort();
    nodes
}
