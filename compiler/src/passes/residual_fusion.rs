//! The residual Add of inverted-residual blocks folded into the Conv that produces one of its
//! operands: `Add(x, Conv(..))` becomes `Conv(.., residual = x)`, computed in the Conv's
//! epilogue as `act(conv + bias + residual)`.

use super::{PassReport, bypass};
use crate::error::Result;
use crate::ir::{BinaryOp, Graph, NodeId, Op};
use crate::options::Options;

pub fn run(g: &mut Graph, _options: &Options) -> Result<PassReport> {
    let mut report = PassReport::new("residual_fusion");
    let order = g.topo_order()?;
    let position = |n: NodeId| order.iter().position(|&m| m == n);
    for &n in &order {
        let Op::Binary(BinaryOp::Add) = g.op(n) else { continue };
        let ops = g.operands(n);
        let (shape, a, b) = (g.shape(n)?, g.shape(ops[0])?, g.shape(ops[1])?);
        if a != shape || b != shape || ops[0] == ops[1] {
            continue;
        }
        let fusable = |c: NodeId| {
            matches!(g.op(c), Op::Conv(conv) if !conv.has_residual && conv.act.is_none()) && g.has_single_use(c)
        };
        // Prefer the Conv that runs later: the other operand is then already computed.
        let mut candidates: Vec<(NodeId, NodeId)> =
            [(ops[0], ops[1]), (ops[1], ops[0])].into_iter().filter(|&(c, _)| fusable(c)).collect();
        candidates.sort_by_key(|&(c, _)| std::cmp::Reverse(position(c)));
        let Some(&(conv, residual)) = candidates.first() else { continue };
        let mut operands = g.operands(conv);
        operands.push(residual);
        g.set_operands(conv, &operands);
        if let Op::Conv(c) = &mut g.node_mut(conv).op {
            c.has_residual = true;
        }
        bypass(g, n, conv);
        report.fused("residual_add->conv");
    }
    Ok(report)
}
